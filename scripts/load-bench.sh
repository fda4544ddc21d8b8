#!/usr/bin/env bash
# Load benchmark of adam-server on PostgreSQL, on loopback, bounded in time (a few minutes).
# 10,000 users in 100 dealerships; wrk against login, me, refresh, the users list and the audit
# log (on 1,000,000 events, with the plans of its queries); reports throughput, p50/p99 latency,
# the CPU each request costs the server and PostgreSQL, and the server's idle and peak RSS. Needs
# wrk (Debian: apt-get install wrk), curl, jq-free (python3 parses JSON), and PostgreSQL as for
# the tests.
#
# COMPARE="BIN_A BIN_B" (two or more release binaries, e.g. the previous commit's and this one's)
# runs the whole benchmark once per binary, alternated ROUNDS times (default 2) so that the
# machine's drift falls on each alike, and prints a table: requests/s and p99 of each route (the
# list's database floor in pgbench's transactions/s), idle and peak RSS, one column per binary,
# the rounds separated by " / ".
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${COMPARE:-}" ]; then
    read -r -a bins <<<"$COMPARE"
    logs=$(mktemp -d)
    for round in $(seq "${ROUNDS:-2}"); do
        for n in "${!bins[@]}"; do
            echo "round $round: ${bins[$n]}" >&2
            COMPARE='' ADAM_SERVER_BIN="${bins[$n]}" bash "$0" >"$logs/$n.$round" 2>&1 ||
                { cat "$logs/$n.$round" >&2; exit 1; }
        done
    done
    python3 - "$logs" "${ROUNDS:-2}" "${bins[@]}" <<'PY'
import re, sys
logs, rounds, bins = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def figures(text):
    out, route = {}, None
    for line in text.splitlines():
        if line.startswith("== "):
            route = line[3:]
        elif line.strip() == "sign-ins meanwhile:":
            route = "sign-ins meanwhile"
        elif line.strip().startswith(("CPU per request:", "CPU per transaction:")) and route:
            what = line.strip().split(":", 1)[0]
            out.setdefault(f"{route}, {what}", line.split(":", 1)[1].strip())
        elif line.strip().startswith("99%") and route:
            out.setdefault(route + ", p99", line.split()[-1])
        elif line.strip().startswith("tps =") and route:
            out.setdefault(route, line.split()[2] + " tps")
            route = None
        elif "Requests/sec" in line and route:
            out.setdefault(route, line.split()[-1])
            route = None
        elif line.startswith("idle RSS:"):
            out["idle RSS"] = line.split(":", 1)[1].strip()
        elif line.startswith("peak RSS:"):
            out["peak RSS"] = re.split(r"[:,]", line)[1].strip()
    return out
runs = [[figures(open(f"{logs}/{n}.{r}").read()) for r in range(1, rounds + 1)] for n in range(len(bins))]
rows = list(dict.fromkeys(k for per_bin in runs for run in per_bin for k in run))
print("| figure | " + " | ".join(bins) + " |")
print("|---" * (len(bins) + 1) + "|")
for row in rows:
    cells = [" / ".join(run.get(row, "-") for run in per_bin) for per_bin in runs]
    print(f"| {row} | " + " | ".join(cells) + " |")
PY
    rm -rf "$logs"
    exit 0
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/adam-target}"
ADMIN_URL="${ADAM_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DB=adam_load_$$
PORT="${PORT:-18000}"
DURATION="${DURATION:-10s}"
B="http://127.0.0.1:$PORT/api/v1"
work=$(mktemp -d)

# ADAM_SERVER_BIN measures another build (for example the previous commit's) with the same load.
if [ -n "${ADAM_SERVER_BIN:-}" ]; then
    BIN="$ADAM_SERVER_BIN"
else
    cargo build --release -p adam-server --quiet
    BIN="$CARGO_TARGET_DIR/release/adam-server"
fi
psql "$ADMIN_URL" -qc "CREATE DATABASE $DB"
URL="${ADMIN_URL%/*}/$DB"
cleanup() {
    [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
    rm -rf "$work"
}
trap cleanup EXIT
# DATABASE_PARAMS is appended to the server's database URL (e.g. sslmode=disable: sqlx uses TLS
# whenever the server offers it, loopback included).
export DATABASE_URL="$URL${DATABASE_PARAMS:+?$DATABASE_PARAMS}" SECRET_KEY="load benchmark secret key, at least 32 bytes" RUST_LOG=warn PORT
export PUBLIC_URL="http://127.0.0.1:$PORT"
"$BIN" migrate >/dev/null && "$BIN" seed >/dev/null

# DEALERSHIPS (default 100) dealerships with 100 users each; they share the seeded manager's
# password (Manager123!).
DEALERSHIPS="${DEALERSHIPS:-100}"
psql "$URL" -q -v ON_ERROR_STOP=1 -v dealerships="$DEALERSHIPS" -f scripts/bench-users.sql
# A database in service has been vacuumed since its rows were written (autovacuum would do it
# within a minute here): the visibility map lets counts read the index alone. VACUUM=0 measures
# the tables as just written.
[ "${VACUUM:-1}" = 1 ] && psql "$URL" -qc 'VACUUM (ANALYZE) users, dealerships'
users=$(psql "$URL" -Atc 'SELECT count(*) FROM users')
echo "users: $users, dealerships: $(psql "$URL" -Atc 'SELECT count(*) FROM dealerships')"

# ROUTES limits the run to some of: me list list100 role q login flood update updates refresh audit
# (default: all).
want() { [ -z "${ROUTES:-}" ] || [[ " $ROUTES " == *" $1 "* ]]; }

# For `audit`: AUDIT_EVENTS (default 1,000,000) events over the last 90 days, about a hundred per
# user. Of every 1,000: 600 sign-ins, 200 sessions ended, 100 failed sign-ins (no actor), 80
# updates and 15 creations by the admin, 4 enrollments and 1 deletion (a rare action).
if want audit; then
    AUDIT_EVENTS="${AUDIT_EVENTS:-1000000}"
    start=$(date +%s)
    psql "$URL" -q <<SQL
WITH u AS (SELECT id, email, dealership_id, row_number() OVER (ORDER BY email) - 1 AS i FROM users),
     admin AS (SELECT id, email FROM users WHERE role = 'system_admin' ORDER BY email LIMIT 1),
     g AS (SELECT n, (n * 7919) % 1000 AS k, (n * 104729) % (SELECT count(*) FROM u) AS i
           FROM generate_series(1::bigint, $AUDIT_EVENTS) n)
INSERT INTO audit_events (id, at, action, actor_id, actor_email, dealership_id, subject_type,
                          subject_id, session_id, ip, user_agent, details)
SELECT gen_random_uuid(), now() - interval '90 days' * (1 - g.n::float8 / $AUDIT_EVENTS),
       CASE WHEN k < 600 THEN 'login.succeeded' WHEN k < 800 THEN 'session.ended'
            WHEN k < 900 THEN 'login.failed' WHEN k < 980 THEN 'user.updated'
            WHEN k < 995 THEN 'user.created' WHEN k < 999 THEN 'mfa.enrolled' ELSE 'user.deleted' END,
       CASE WHEN k < 800 OR k BETWEEN 995 AND 998 THEN u.id WHEN k < 900 THEN NULL ELSE admin.id END,
       CASE WHEN k < 800 OR k BETWEEN 995 AND 998 THEN u.email WHEN k < 900 THEN NULL ELSE admin.email END,
       u.dealership_id, 'user', u.id, gen_random_uuid(), '198.51.100.' || (n % 250),
       'Adam Desktop/1.0 (Linux)',
       CASE WHEN k BETWEEN 600 AND 799 THEN '{"how":"logout"}'
            WHEN k BETWEEN 800 AND 899 THEN '{"reason":"bad_credentials"}'
            WHEN k BETWEEN 900 AND 979 THEN '{"fields":["full_name"]}' ELSE '{}' END
FROM g JOIN u ON u.i = g.i CROSS JOIN admin;
ANALYZE audit_events;
SQL
    echo "audit events: $(psql "$URL" -Atc 'SELECT count(*) FROM audit_events') (written in $(($(date +%s) - start)) s)"
fi

# BENCH_SQL: run on the database before the server starts (to try an index or a setting).
[ -n "${BENCH_SQL:-}" ] && psql "$URL" -qc "$BENCH_SQL"
"$BIN" serve --no-migrate & server=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break; sleep 0.1; done
rss() { awk "/^$1:/ {print int(\$2/1024) \" MiB\"}" "/proc/$server/status"; }
echo "idle RSS: $(rss VmRSS)"

login() { curl -sf -X POST "$B/auth/login" -H 'content-type: application/json' -d "{\"email\":\"$1\",\"password\":\"$2\"}"; }
field() { python3 -c "import sys,json; print(json.load(sys.stdin)['$1'])"; }
ADMIN_ACCESS=$(login admin@avataradam.com 'Admin123!@#' | field access_token)
MANAGER_ACCESS=$(login manager@premiumauto.com 'Manager123!' | field access_token)

cat > "$work/login.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"user7-42@load.example.com","password":"Manager123!"}'
LUA
# Sign-ins spread over the dealerships' users (user<d>-<n>, n from 2 to 100: F&I managers), as a
# morning at a dealer group: each request the next account.
cat > "$work/logins.lua" <<LUA
local n = 0
local dealerships = $DEALERSHIPS
function request()
  n = n + 1
  local email = "user" .. (n % dealerships + 1) .. "-" .. (n % 99 + 2) .. "@load.example.com"
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"},
    '{"email":"' .. email .. '","password":"Manager123!"}')
end
LUA
# Each wrk connection refreshes its own session in sequence (a second use of a token is theft).
cat > "$work/refresh.lua" <<'LUA'
local tokens = {}
for t in string.gmatch(os.getenv("REFRESH_TOKENS"), "[^ ]+") do table.insert(tokens, t) end
local next_id = 1
function setup(thread) thread:set("token", tokens[next_id]); next_id = next_id + 1 end
function request()
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, '{"refresh_token":"' .. token .. '"}')
end
function response(status, headers, body)
  local t = string.match(body, '"refresh_token":"([^"]+)"')
  if t then token = t end
end
LUA
# The CPU time the server and PostgreSQL (all its processes, and those that have exited, such as
# pgbench's backends, through the postmaster's children's times) have used so far, in clock ticks.
cpu_ticks() {
    python3 - "$server" <<'PY'
import os, sys
def ticks(pid, children=False):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    own = int(fields[11]) + int(fields[12])  # utime + stime
    return own + (int(fields[13]) + int(fields[14]) if children else 0)  # cutime + cstime
postgres = 0
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        if open(f"/proc/{pid}/comm").read().strip() == "postgres":
            postgres += ticks(pid, children=True)
    except OSError:
        pass
print(ticks(sys.argv[1]), postgres)
PY
}
# Prints the CPU each of N operations cost: `cpu_per WHAT N "BEFORE" "AFTER" [postgres]`, BEFORE
# and AFTER two readings of cpu_ticks; with `postgres`, PostgreSQL's share only.
cpu_per() {
    python3 - "$1" "$2" $3 $4 "${5:-}" "$(getconf CLK_TCK)" <<'PY'
import sys
what, n, s0, p0, s1, p1, only, hz = sys.argv[1:]
n, hz = max(int(n or 0), 1), int(hz)
ms = lambda ticks: f"{1000 * ticks / hz / n:.3f} ms"
postgres = f"postgres {ms(int(p1) - int(p0))}"
print(f"   CPU per {what}: " + (postgres if only else f"server {ms(int(s1) - int(s0))}, {postgres}"))
PY
}
# One route under wrk: throughput, latency, and the CPU each request cost the server and
# PostgreSQL (their CPU time over the run divided by the requests answered; during the flood the
# sign-ins' share is in it).
run() {
    echo; echo "== $1"; shift
    local before after
    before=$(cpu_ticks)
    wrk --latency -d "$DURATION" "$@" >"$work/wrk.txt"
    after=$(cpu_ticks)
    cpu_per request "$(awk '/requests in/ {print $1}' "$work/wrk.txt")" "$before" "$after"
    grep -E 'Requests/sec|^ +(50|99)%|Non-2xx|Socket errors' "$work/wrk.txt"
}
want me && run "me (F&I manager, 2 threads, 32 connections)" -t2 -c32 -H "Authorization: Bearer $MANAGER_ACCESS" "$B/auth/me"
want list && run "users list, 50 of $users, admin (2 threads, 32 connections)" -t2 -c32 -H "Authorization: Bearer $ADMIN_ACCESS" "$B/users/?limit=50"
want list100 && run "users list, 100 of $users, admin" -t2 -c32 -H "Authorization: Bearer $ADMIN_ACCESS" "$B/users/?limit=100"
# The database floor of that page: pgbench sends the statements one such request sends (the
# live-session check of the admin's session, then the scope's BEGIN, the page with its total,
# COMMIT), as the app role under row-level security, at the same concurrency and over the same
# loopback TCP (TLS as the server's connections have it): the server's figure over this one is
# what everything above the database costs.
if want list100 && command -v pgbench >/dev/null; then
    admin_sid=$(printf '%s' "$ADMIN_ACCESS" | python3 -c "import sys,json,base64; p=sys.stdin.read().split('.')[1]; print(json.loads(base64.urlsafe_b64decode(p + '=' * (-len(p) % 4)))['sid'])")
    columns="id, email, full_name, role, dealership_id, is_active, (totp_secret IS NOT NULL OR has_passkey) AS mfa_enabled, created_at, updated_at, last_sign_in_at"
    cat > "$work/floor.sql" <<SQL
SELECT * FROM adam_live_sessions(ARRAY['$admin_sid']::uuid[]);
BEGIN;
SELECT set_config('adam.scope', 'system', true), set_config('adam.dealership', '', true);
SELECT page.*, CASE WHEN COUNT(*) OVER () < 100 THEN 0 + COUNT(*) OVER () ELSE (SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM user_counts) END AS total FROM (SELECT $columns FROM users  ORDER BY email LIMIT 100 OFFSET 0) page ORDER BY email;
COMMIT;
SQL
    app_role="${DATABASE_APP_ROLE:-adam_app}"
    # Under row-level security the page is only full in the system scope: check it is.
    shown=$(PGOPTIONS="-c role=$app_role" psql "$URL" -Atq -F '|' -f "$work/floor.sql" | awk -F'|' 'NF == 11' | wc -l)
    echo; echo "== the database floor of that page (pgbench, 32 clients, as $app_role; the page holds $shown users)"
    before=$(cpu_ticks)
    PGOPTIONS="-c role=$app_role" pgbench -n -M prepared -c32 -j2 -T "${DURATION%s}" -f "$work/floor.sql" \
        "$URL${DATABASE_PARAMS:+?$DATABASE_PARAMS}" >"$work/pgbench.txt" 2>&1
    sleep 0.2  # the backends' exit, so that the postmaster has their CPU time
    after=$(cpu_ticks)
    cpu_per transaction "$(awk '/transactions actually processed/ {split($NF, a, "/"); print a[1]}' "$work/pgbench.txt")" \
        "$before" "$after" postgres
    grep -E '^(tps|latency average)' "$work/pgbench.txt" | sed 's/^/   /'
fi
want role && run "users list by role (the principals of $users), admin" -t2 -c32 -H "Authorization: Bearer $ADMIN_ACCESS" "$B/users/?role=dealer_principal&limit=100"
want q && run "users list by q (100 of $users match 'user7-'), admin" -t2 -c32 -H "Authorization: Bearer $ADMIN_ACCESS" "$B/users/?q=user7-&limit=100"
want login && run "login (2 threads, 32 connections)" -t2 -c32 -s "$work/login.lua" "$B/auth/login"
# The login flood: /auth/me read by 16 connections while 64 others sign in at once, one account
# over and over (FLOOD_ACCOUNTS=one) or each request another (the default). Argon2 must not
# starve the requests that need no hash: /auth/me's p99 here, and what it costs sign-ins.
if want flood; then
    script="$work/logins.lua"
    [ "${FLOOD_ACCOUNTS:-many}" = one ] && script="$work/login.lua"
    wrk -t1 -c64 -d "$DURATION" -s "$script" "$B/auth/login" >"$work/flood.txt" 2>&1 &
    flood=$!
    run "me (16 connections) while 64 connections sign in" -t1 -c16 \
        -H "Authorization: Bearer $MANAGER_ACCESS" "$B/auth/me"
    wait "$flood"
    echo "   sign-ins meanwhile:"
    grep -E 'Requests/sec|Non-2xx|Socket errors' "$work/flood.txt"
fi
# A user update: the admin renames one F&I manager over and over (a full write path, on one
# hot row); `updates` renames the 100 users of one dealership in turn (no two requests wait for
# the same row).
TARGET_ID=$(curl -sf "$B/users/?q=user7-42%40load&limit=1" -H "Authorization: Bearer $ADMIN_ACCESS" \
    | python3 -c "import sys,json; print(json.load(sys.stdin)['items'][0]['id'])")
TARGET_IDS=$(curl -sf "$B/users/?q=user8-&limit=100" -H "Authorization: Bearer $ADMIN_ACCESS" \
    | python3 -c "import sys,json; print(' '.join(u['id'] for u in json.load(sys.stdin)['items']))")
cat > "$work/update.lua" <<'LUA'
wrk.method = "PATCH"
wrk.headers["Content-Type"] = "application/json"
local ids = {}
for t in string.gmatch(os.getenv("TARGET_IDS") or "", "[^ ]+") do table.insert(ids, t) end
local n = 0
function request()
  n = n + 1
  local path = nil
  if #ids > 0 then path = "/api/v1/users/" .. ids[n % #ids + 1] end
  return wrk.format(nil, path, nil, '{"full_name":"Load User ' .. n .. '"}')
end
LUA
want update && run "user update, one user, admin (2 threads, 32 connections)" -t2 -c32 -s "$work/update.lua" \
    -H "Authorization: Bearer $ADMIN_ACCESS" "$B/users/$TARGET_ID"
want updates && TARGET_IDS="$TARGET_IDS" run "user update, 100 users in turn, admin (2 threads, 32 connections)" \
    -t2 -c32 -s "$work/update.lua" -H "Authorization: Bearer $ADMIN_ACCESS" "$B/users/$TARGET_ID"
# REFRESH_CHAINS (default 16) sessions, each of another F&I manager, each refreshed by its own
# wrk thread and connection in sequence.
if want refresh; then
    chains="${REFRESH_CHAINS:-16}" tokens=""
    for n in $(seq "$chains"); do
        tokens="$tokens $(login "user1-$((n + 1))@load.example.com" 'Manager123!' | field refresh_token)"
    done
    REFRESH_TOKENS="$tokens" run "refresh ($chains threads, one chained session each)" -t"$chains" -c"$chains" \
        -s "$work/refresh.lua" "$B/auth/refresh"
fi

# The audit log's first page (50 events) for each filter and each role's arms, one connection
# (latency, not throughput), then the plan of each query as PostgreSQL runs it for that caller:
# the same SQL as adam-core's db/audit.rs `page`, as the app role in the caller's scope.
if want audit; then
    q1() { psql "$URL" -Atc "$1"; }
    PRINCIPAL_ACCESS=$(login user7-1@load.example.com 'Manager123!' | field access_token)
    FI_ACCESS=$(login user7-42@load.example.com 'Manager123!' | field access_token)
    D7=$(q1 "SELECT dealership_id FROM users WHERE email = 'user7-1@load.example.com'")
    U=$(q1 "SELECT id FROM users WHERE email = 'user7-42@load.example.com'")
    SINCE=$(q1 "SELECT to_char((now() - interval '1 day') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
    UNTIL=$(q1 "SELECT to_char((now() - interval '60 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
    # label | caller | query string | WHERE of the filter (SQL)
    cases="admin, no filter|admin||
admin, action (common: login.succeeded)|admin|&action=login.succeeded|action = 'login.succeeded'
admin, action (rare: user.deleted)|admin|&action=user.deleted|action = 'user.deleted'
admin, actor_id|admin|&actor_id=$U|actor_id = '$U'
admin, subject_id|admin|&subject_id=$U|subject_id = '$U'
admin, dealership_id|admin|&dealership_id=$D7|dealership_id = '$D7'
admin, since (last day)|admin|&since=$SINCE|at >= '$SINCE'
admin, until (60 days ago)|admin|&until=$UNTIL|at < '$UNTIL'
admin, dealership_id and rare action|admin|&dealership_id=$D7&action=user.deleted|dealership_id = '$D7' AND action = 'user.deleted'
principal, no filter|principal||
principal, action (user.updated)|principal|&action=user.updated|action = 'user.updated'
principal, actor_id|principal|&actor_id=$U|actor_id = '$U'
principal, until (60 days ago)|principal|&until=$UNTIL|at < '$UNTIL'
F&I manager, no filter|manager||
F&I manager, action (login.failed)|manager|&action=login.failed|action = 'login.failed'"
    echo; echo "== audit events, first page of 50 (1 connection, $DURATION each)"
    while IFS='|' read -r label caller query where; do
        case $caller in
            admin) token=$ADMIN_ACCESS ;; principal) token=$PRINCIPAL_ACCESS ;; manager) token=$FI_ACCESS ;;
        esac
        printf '%-48s' "$label"
        wrk --latency -t1 -c1 -d "$DURATION" -H "Authorization: Bearer $token" "$B/audit-events/?limit=50$query" \
            | awk '/^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Requests\/sec/ {rps=$2} /Non-2xx/ {bad=$0}
                   END {printf "p50 %8s  p99 %8s  %8s req/s %s\n", p50, p99, rps, bad}'
    done <<< "$cases"
    echo; echo "== their plans (EXPLAIN ANALYZE as adam_app in the caller's scope)"
    cols="id, at, action, actor_id, actor_email, dealership_id, subject_type, subject_id, session_id, ip, user_agent, details"
    while IFS='|' read -r label caller query where; do
        and() { [ -n "$where" ] && echo "$where AND $1" || echo "$1"; }
        case $caller in
            admin) scope="'all', ''"
                sql="SELECT $cols FROM audit_events ${where:+WHERE $where} ORDER BY at DESC, id DESC LIMIT 50" ;;
            principal) scope="'dealership', '$D7'"
                sql="SELECT * FROM (SELECT * FROM (SELECT $cols FROM audit_events WHERE $(and "dealership_id = '$D7'") ORDER BY at DESC, id DESC LIMIT 50) arm0
                     UNION ALL SELECT * FROM (SELECT $cols FROM audit_events WHERE $(and "former_dealership_id = '$D7' AND (dealership_id IS NULL OR dealership_id <> '$D7')") ORDER BY at DESC, id DESC LIMIT 50) arm1) arms
                     ORDER BY at DESC, id DESC LIMIT 50" ;;
            manager) scope="'dealership', '$D7'"
                sql="SELECT * FROM (SELECT * FROM (SELECT $cols FROM audit_events WHERE $(and "actor_id = '$U'") ORDER BY at DESC, id DESC LIMIT 50) arm0
                     UNION ALL SELECT * FROM (SELECT $cols FROM audit_events WHERE $(and "subject_id = '$U' AND (actor_id IS NULL OR actor_id <> '$U')") ORDER BY at DESC, id DESC LIMIT 50) arm1) arms
                     ORDER BY at DESC, id DESC LIMIT 50" ;;
        esac
        echo; echo "-- $label"
        psql "$URL" -q <<SQL | grep -v '^$'
BEGIN;
SET LOCAL ROLE adam_app;
SELECT set_config('adam.scope', $(echo "$scope" | cut -d, -f1), true), set_config('adam.dealership', $(echo "$scope" | cut -d, -f2-), true) \g /dev/null
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) $sql;
ROLLBACK;
SQL
    done <<< "$cases"
fi
echo; echo "peak RSS: $(rss VmHWM), RSS now: $(rss VmRSS)"
