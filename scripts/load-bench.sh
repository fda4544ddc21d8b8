#!/usr/bin/env bash
# Load benchmark of adam-server on PostgreSQL, on loopback, bounded in time (about a minute).
# 10,000 users in 100 dealerships; wrk against login, me, refresh and the users list; reports
# throughput, p50/p99 latency and the server's idle and peak RSS. Needs wrk (Debian: apt-get
# install wrk), curl, jq-free (python3 parses JSON), and PostgreSQL as for the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
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
export DATABASE_URL="$URL" SECRET_KEY="load benchmark secret key, at least 32 bytes" RUST_LOG=warn PORT
export PUBLIC_URL="http://127.0.0.1:$PORT"
"$BIN" migrate >/dev/null && "$BIN" seed >/dev/null

# DEALERSHIPS (default 100) dealerships with 100 users each; they share the seeded manager's
# password (Manager123!).
DEALERSHIPS="${DEALERSHIPS:-100}"
psql "$URL" -q <<SQL
INSERT INTO dealerships (id, name, is_active, created_at, updated_at)
SELECT gen_random_uuid(), 'Dealership ' || n, TRUE, now(), now() FROM generate_series(1, $DEALERSHIPS) n;
INSERT INTO users (id, email, full_name, password_hash, role, dealership_id, is_active, created_at, updated_at)
SELECT gen_random_uuid(), 'user' || d.rn || '-' || n || '@load.example.com', 'Load User ' || n,
       (SELECT password_hash FROM users WHERE email = 'manager@premiumauto.com'),
       CASE WHEN n = 1 THEN 'dealer_principal' ELSE 'fi_manager' END, d.id, TRUE, now(), now()
FROM (SELECT id, row_number() OVER (ORDER BY name) rn FROM dealerships WHERE name LIKE 'Dealership %') d,
     generate_series(1, 100) n;
SQL
users=$(psql "$URL" -Atc 'SELECT count(*) FROM users')
echo "users: $users, dealerships: $(psql "$URL" -Atc 'SELECT count(*) FROM dealerships')"

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
# ROUTES limits the run to some of: me list list100 role q login update refresh (default: all).
want() { [ -z "${ROUTES:-}" ] || [[ " $ROUTES " == *" $1 "* ]]; }
run() { echo; echo "== $1"; shift; wrk --latency -d "$DURATION" "$@" | grep -E 'Requests/sec|^ +(50|99)%|Non-2xx|Socket errors'; }
want me && run "me (F&I manager, 2 threads, 32 connections)" -t2 -c32 -H "Authorization: Bearer $MANAGER_ACCESS" "$B/auth/me"
want list && run "users list, 50 of $users, admin (2 threads, 32 connections)" -t2 -c32 -H "Authorization: Bearer $ADMIN_ACCESS" "$B/users/?limit=50"
want list100 && run "users list, 100 of $users, admin" -t2 -c32 -H "Authorization: Bearer $ADMIN_ACCESS" "$B/users/?limit=100"
want role && run "users list by role (the principals of $users), admin" -t2 -c32 -H "Authorization: Bearer $ADMIN_ACCESS" "$B/users/?role=dealer_principal&limit=100"
want q && run "users list by q (100 of $users match 'user7-'), admin" -t2 -c32 -H "Authorization: Bearer $ADMIN_ACCESS" "$B/users/?q=user7-&limit=100"
want login && run "login (2 threads, 32 connections)" -t2 -c32 -s "$work/login.lua" "$B/auth/login"
# A user update: the admin renames one F&I manager over and over (a full write path).
TARGET_ID=$(curl -sf "$B/users/?q=user7-42%40load&limit=1" -H "Authorization: Bearer $ADMIN_ACCESS" \
    | python3 -c "import sys,json; print(json.load(sys.stdin)['items'][0]['id'])")
cat > "$work/update.lua" <<'LUA'
wrk.method = "PATCH"
wrk.headers["Content-Type"] = "application/json"
local n = 0
function request()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"full_name":"Load User ' .. n .. '"}')
end
LUA
want update && run "user update, admin (2 threads, 32 connections)" -t2 -c32 -s "$work/update.lua" \
    -H "Authorization: Bearer $ADMIN_ACCESS" "$B/users/$TARGET_ID"
tokens=""
for _ in 1 2 3 4; do tokens="$tokens $(login manager@premiumauto.com 'Manager123!' | field refresh_token)"; done
want refresh && REFRESH_TOKENS="$tokens" run "refresh (4 threads, one chained session each)" -t4 -c4 -s "$work/refresh.lua" "$B/auth/refresh"
echo; echo "peak RSS: $(rss VmHWM), RSS now: $(rss VmRSS)"
