#!/usr/bin/env bash
# Builds the container image (the Dockerfile's "prebuilt" stage, from the adam-server the tests
# built) and runs it: two containers on one PostgreSQL, a sign-in on one and the token used
# on the other, a refresh on the other, the HEALTHCHECK, a non-root user, and SIGTERM draining
# the requests in flight. Part of the test command.
#
# Uses podman (installed by scripts/test.sh on Debian/Ubuntu). No image registry is needed: the
# base image debian:bookworm-slim is made with debootstrap from the Debian mirror apt uses, once,
# and kept in podman's storage. Skips with a message only where no container engine can run.
#
#   ADAM_TEST_POSTGRES_URL  the PostgreSQL server the containers share (host network)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/adam-target}"
pg_admin="${ADAM_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

if ! command -v podman >/dev/null; then
    echo "SKIPPED: no container engine (podman) on this machine; the image was not tested" >&2
    exit 0
fi
# Settings that work where crun cannot set resource limits and cgroups are in hybrid mode
# (checked on Debian 12 as root): runc, the vfs storage driver, cgroupfs.
pm() { podman --runtime runc --storage-driver vfs --cgroup-manager cgroupfs "$@"; }
if ! pm info >/dev/null 2>&1; then
    echo "SKIPPED: podman cannot run here: $(pm info 2>&1 | tail -n 1)" >&2
    exit 0
fi

say() { printf '  %s\n' "$*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }

bash scripts/container-base.sh

# The server the tests built (debug, dependencies optimised: see Cargo.toml), without its debug
# information. The image is the Dockerfile's, from its "prebuilt" stage; only the binary's
# profile differs from the release build the "runtime" stage makes.
cargo test --workspace --all-targets --locked --no-run --quiet # nothing to do after the tests
image=localhost/adam-server:test
context=$(mktemp -d)
db="adam_container_$RANDOM$RANDOM"
containers=()
cleanup() {
    for c in "${containers[@]}"; do pm rm -f "$c" >/dev/null 2>&1 || true; done
    psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$context"
}
trap cleanup EXIT

objcopy --strip-debug "$CARGO_TARGET_DIR/debug/adam-server" "$context/adam-server"
say "building $image (stage prebuilt)"
pm rmi -f "$image" >/dev/null 2>&1 || true # the previous run's, so that images do not pile up
pm build --isolation chroot --pull=never --format docker --target prebuilt -t "$image" \
    -f Dockerfile "$context" >"$context/build.log" 2>&1 || { cat "$context/build.log"; fail "build"; }
size=$(pm image inspect "$image" --format '{{.Size}}')
say "image size: $((size / 1000000)) MB"
[ "$(pm image inspect "$image" --format '{{.Config.User}}')" = "adam:adam" ] || fail "the image runs as root"
pm image inspect "$image" --format '{{json .Config.Healthcheck}}' | grep -q healthcheck \
    || fail "no HEALTHCHECK in the image"

psql -q "$pg_admin" -c "CREATE DATABASE $db" >/dev/null
url="${pg_admin%/*}/$db"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# The sign-in limits are raised: the drain test below starts 80 sign-ins at once from one
# address, and the throttle reserves a slot per attempt before checking it.
env_args=(-e "DATABASE_URL=$url" -e "SECRET_KEY=container test secret key, at least 32 bytes"
    -e "PUBLIC_URL=http://adam.test" -e "RUST_LOG=warn"
    -e "LOGIN_MAX_FAILURES=1000" -e "LOGIN_MAX_FAILURES_PER_IP=100000")
run=(pm run --network host --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

say "migrate and seed (one-shot containers)"
"${run[@]}" --rm --no-healthcheck "${env_args[@]}" "$image" migrate >/dev/null
"${run[@]}" --rm --no-healthcheck "${env_args[@]}" "$image" seed >/dev/null

ports=()
for n in 1 2; do
    port=$(free_port)
    name="adam-test-$n-$$"
    # No systemd here to time the HEALTHCHECK: it is run by hand below.
    "${run[@]}" -d --name "$name" --health-interval disable "${env_args[@]}" -e "PORT=$port" \
        "$image" serve --no-migrate >/dev/null 2>"$context/run.$n.log" || { cat "$context/run.$n.log"; fail "run"; }
    containers+=("$name")
    ports+=("$port")
done
for port in "${ports[@]}"; do
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
    curl -sf "http://127.0.0.1:$port/ready" >/dev/null || { pm logs "${containers[0]}"; fail "not ready on $port"; }
done
say "two replicas ready on ports ${ports[*]}"

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
api() { # PORT METHOD PATH [BODY] [TOKEN]
    curl -s -o "$context/body" -w '%{http_code}' -X "$2" "http://127.0.0.1:$1/api/v1$3" \
        -H 'content-type: application/json' ${5:+-H "authorization: Bearer $5"} ${4:+-d "$4"}
}
login='{"email":"manager@premiumauto.com","password":"Manager123!"}'
[ "$(api "${ports[0]}" POST /auth/login "$login")" = 200 ] || fail "sign-in on the first replica"
access=$(json '["access_token"]' <"$context/body")
refresh=$(json '["refresh_token"]' <"$context/body")
[ "$(api "${ports[1]}" GET /auth/me "" "$access")" = 200 ] || fail "the token on the second replica"
[ "$(json '["email"]' <"$context/body")" = manager@premiumauto.com ] || fail "the second replica's profile"
[ "$(api "${ports[1]}" POST /auth/refresh "{\"refresh_token\":\"$refresh\"}")" = 200 ] \
    || fail "refresh on the second replica"
say "signed in on one replica, /auth/me and refresh on the other"

[ "$(pm exec "${containers[0]}" id -u)" != 0 ] || fail "the server runs as root"
pm exec "${containers[0]}" adam-server healthcheck || fail "the HEALTHCHECK command"
pm healthcheck run "${containers[0]}" >/dev/null || fail "podman healthcheck run"
say "runs as $(pm exec "${containers[0]}" id -un) (uid $(pm exec "${containers[0]}" id -u)); healthcheck passes"

# Without DATABASE_URL: SQLite and its generated key in the volume, written by the "adam" user.
port=$(free_port)
name="adam-test-sqlite-$$"
"${run[@]}" -d --name "$name" --health-interval disable -e "PORT=$port" -e RUST_LOG=warn "$image" serve --seed \
    >/dev/null 2>"$context/run.sqlite.log" || { cat "$context/run.sqlite.log"; fail "run on SQLite"; }
containers+=("$name")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
[ "$(api "$port" POST /auth/login "$login")" = 200 ] || { pm logs "$name"; fail "sign-in on the SQLite default"; }
kept=$(pm exec "$name" ls /var/lib/adam | xargs)
[[ " $kept " == *" adam.db "* && " $kept " == *" adam.db.secret_key "* ]] || fail "the volume holds: $kept"
say "SQLite default: signed in; the volume holds $kept"

# SIGTERM while sign-ins are in flight (each an argon2 check of tens of milliseconds, queued on
# the hashing threads): every one is answered, some of them after the signal, then the server
# exits 0.
inflight=80
for n in $(seq "$inflight"); do
    (curl -s -o /dev/null -w '%{http_code}\n' -X POST "http://127.0.0.1:${ports[0]}/api/v1/auth/login" \
        -H 'content-type: application/json' -d "$login" >"$context/inflight.$n"
     date +%s%N >"$context/answered.$n") &
done
# In flight: every connection made (a busy machine may take a while to start them all; one not
# yet connected at the signal is not in flight), then a moment for the server to read them.
# Eighty, so that some are still queued on the hashing threads when the signal lands even on
# an idle machine (thirty were once all answered before it).
for _ in $(seq 250); do
    connected=$(ss -Htn state established "( dport = :${ports[0]} )" | wc -l)
    answered=$(find "$context" -name 'answered.*' | wc -l)
    [ $((connected + answered)) -ge "$inflight" ] && break
    sleep 0.02
done
sleep 0.1
signalled=$(date +%s%N)
pm kill --signal TERM "${containers[0]}" >/dev/null
wait_status=$(timeout 30 podman --runtime runc --storage-driver vfs --cgroup-manager cgroupfs wait "${containers[0]}") \
    || fail "the server did not stop within 30 s of SIGTERM"
wait
answers=$(cat "$context"/inflight.* | sort | uniq -c | xargs)
[ "$answers" = "$inflight 200" ] || fail "requests in flight at SIGTERM were not all answered: $answers"
after=$(cat "$context"/answered.* | awk -v t="$signalled" '$1 > t' | wc -l)
[ "$after" -gt 0 ] || fail "every sign-in was answered before SIGTERM: the drain was not tested"
[ "$wait_status" = 0 ] || { pm logs "${containers[0]}" | tail -n 20; fail "exit status $wait_status after SIGTERM"; }
say "SIGTERM: the $inflight sign-ins in flight answered 200 ($after after the signal), exit status 0"
echo "container image: ok"
