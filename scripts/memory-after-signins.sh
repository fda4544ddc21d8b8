#!/usr/bin/env bash
# What a release binary of adam-server holds in memory at start, after a burst of sign-ins, and
# while it is idle afterwards: the hashing threads' argon2 blocks must leave the process (they are
# given back after 5 s without a job, and the allocator must return them to the system).
#
#   bash scripts/memory-after-signins.sh BIN [BIN...]
#
# For each binary: a fresh seeded SQLite database in a temporary directory, the server on
# 127.0.0.1:$PORT (default 8111), its RSS each second for 4 s, then six simultaneous sign-ins of
# the seeded admin, then its RSS each second for ${IDLE:-20} s with no request at all. Prints one
# line per binary; stops each server by its PID.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BIN [BIN...]" >&2; exit 2; }
port="${PORT:-8111}"
B="http://127.0.0.1:$port/api/v1"
server="" dir=""
# Whatever fails, the server started here stops (by its PID) and its directory goes.
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    if [ -n "$dir" ]; then rm -rf "$dir"; fi
    server="" dir=""
}
trap cleanup EXIT

for bin in "$@"; do
    dir=$(mktemp -d)
    export DATABASE_URL="sqlite://$dir/adam.db?mode=rwc" SECRET_KEY="$(head -c 32 /dev/urandom | base64)"
    "$bin" migrate >/dev/null
    "$bin" seed >/dev/null
    PORT="$port" "$bin" serve >"$dir/log" 2>&1 &
    server=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break; sleep 0.2; done
    curl -sf "http://127.0.0.1:$port/ready" >/dev/null || { echo "$bin did not start:" >&2; cat "$dir/log" >&2; exit 1; }
    rss() { awk '/^VmRSS:/ {printf "%.1f", $2/1024}' "/proc/$server/status"; }
    line="$bin: at start"
    for _ in 1 2 3 4; do line="$line $(rss)"; sleep 1; done
    signins=()
    for i in 1 2 3 4 5 6; do
        curl -s -o /dev/null -w '%{http_code}\n' -X POST "$B/auth/login" \
            -H 'content-type: application/json' \
            -d '{"email":"admin@avataradam.com","password":"Admin123!@#"}' >"$dir/status$i" &
        signins+=($!)
    done
    wait "${signins[@]}"
    statuses=$(cat "$dir"/status* | sort | uniq -c | xargs)
    line="$line MiB | after 6 sign-ins (HTTP: $statuses), then each second idle:"
    for _ in $(seq "${IDLE:-20}"); do line="$line $(rss)"; sleep 1; done
    echo "$line MiB"
    cleanup
done
