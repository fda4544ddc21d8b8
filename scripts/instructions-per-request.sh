#!/usr/bin/env bash
# Instructions the server's own code runs per request, counted by callgrind (valgrind): the same
# binary and requests give the same count whatever else the machine is doing, where throughput on
# two shared cores moves by a third between runs (BENCHMARKS.md). The kernel's share (sockets,
# wake-ups) is not counted.
#
#   bash scripts/instructions-per-request.sh BIN...
#
# For each release binary: a fresh PostgreSQL database with 1,003 users (as load-bench's
# DEALERSHIPS=10), the server under callgrind, 20 requests to warm it, then N (default 200)
# counted requests of REQUEST (default the page of 100 users, as the seeded admin) on one
# connection, one after another. Prints instructions per request and the functions that take the
# most (inclusive); CALLGRIND_OUT keeps the profile for callgrind_annotate. Needs valgrind
# (Debian: apt-get install valgrind), curl and PostgreSQL as for the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
ADMIN_URL="${ADAM_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
N="${N:-200}"
REQUEST="${REQUEST:-users/?limit=100}"
PORT="${PORT:-18100}"
B="http://127.0.0.1:$PORT/api/v1"

server="" db="" work=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    if [ -n "$db" ]; then psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true; fi
    if [ -n "$work" ]; then rm -rf "$work"; fi
    server="" db="" work=""
}
trap cleanup EXIT

measure() {
    local bin=$1
    db="adam_instructions_$$"
    work=$(mktemp -d)
    psql "$ADMIN_URL" -qc "CREATE DATABASE $db"
    local url="${ADMIN_URL%/*}/$db"
    export DATABASE_URL="$url" SECRET_KEY="instruction count secret key, at least 32 bytes" RUST_LOG=warn PORT
    export PUBLIC_URL="http://127.0.0.1:$PORT"
    "$bin" migrate >/dev/null
    "$bin" seed >/dev/null
    psql "$url" -q -v ON_ERROR_STOP=1 -v dealerships=10 -f scripts/bench-users.sql
    psql "$url" -qc 'VACUUM (ANALYZE) users, dealerships'
    valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" "$bin" serve --no-migrate \
        2>"$work/valgrind.log" &
    server=$!
    for _ in $(seq 600); do curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break; sleep 0.5; done
    curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null ||
        { echo "$bin did not start under callgrind:" >&2; cat "$work/valgrind.log" >&2; exit 1; }
    local token
    token=$(curl -sf -X POST "$B/auth/login" -H 'content-type: application/json' \
        -d '{"email":"admin@avataradam.com","password":"Admin123!@#"}' |
        python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])')
    urls() { for _ in $(seq "$1"); do printf 'url = "%s"\noutput = /dev/null\n' "$B/$REQUEST"; done; }
    urls 20 | curl -sf -H "Authorization: Bearer $token" -K -
    callgrind_control -z "$server" >/dev/null 2>&1
    urls "$N" | curl -sf -H "Authorization: Bearer $token" -K -
    callgrind_control -d "$server" >/dev/null 2>&1
    local dump
    for _ in $(seq 50); do
        dump=$(ls "$work"/callgrind.out.* 2>/dev/null | head -1) && [ -n "$dump" ] && break
        sleep 0.2
    done
    callgrind_annotate --inclusive=yes --threshold=99 "$dump" >"$work/annotated.txt"
    local total
    total=$(awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}' "$work/annotated.txt")
    echo "== $bin: $REQUEST, $N requests"
    echo "instructions per request: $((total / N))"
    echo "the most, inclusive (per request):"
    sed -E 's/ \[[^]]*\]$//; s/^ *([0-9,]+) +\([ 0-9.%]+\) +\?*:?(.*)$/\1 \2/' "$work/annotated.txt" |
        grep -E ' (adam_api::rfc3339(::serialize)?|chrono::format::formatting::write_rfc3339|serde_json::ser::format_escaped_str_contents|sqlx_core::row::Row::try_get|adam_core::email::Email::from_stored|<adam_server::api::serialized::Serialized<T> as poem::web::IntoResponse>::into_response|sqlx_postgres::connection::stream::PgStream::recv::\{\{closure\}\}|__rustc::__rust_realloc)$' |
        awk -v n="$N" '{c=$1; gsub(",", "", c); $1=""; printf "  %9d %s\n", c / n, $0}'
    if [ -n "${CALLGRIND_OUT:-}" ]; then cp "$dump" "$CALLGRIND_OUT.$(basename "$bin")"; fi
    cleanup
}

for bin in "$@"; do measure "$bin"; done
