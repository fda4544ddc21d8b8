#!/usr/bin/env bash
# Checks the running API against its own OpenAPI document:
# - schemathesis (all checks), anonymous and as each seed role, each on a fresh database, on
#   SQLite and on PostgreSQL; settings, and the answers the contract gives to schema-valid
#   requests, are in schemathesis.toml at the repository root;
# - a client generated from the document (openapi-python-client) calls every route and parses
#   every answer with its generated models (scripts/generated_client_test.py);
# - a relying party written with authlib walks the OpenID Connect code flow
#   (scripts/oidc_authlib_test.py).
# Uses the debug adam-server the tests built, and pinned tools in a virtual environment it
# creates under ~/.cache.
#
#   ADAM_TEST_POSTGRES_URL    maintenance database to create the PostgreSQL databases from
#   SCHEMATHESIS_MAX_EXAMPLES examples per operation and phase (default 25)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/adam-target}"
pg_admin="${ADAM_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
venv="$HOME/.cache/adam-api-tools"
bash scripts/api-tools.sh
server="$CARGO_TARGET_DIR/debug/adam-server"
cargo test --workspace --all-targets --locked --no-run --quiet # nothing to do after the tests

work=$(mktemp -d)
pid=""
db=""
cleanup() {
    stop
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts a seeded server on a fresh database of engine $1, logging to $2; sets $base, $pid, $db.
start() {
    local url
    if [ "$1" = sqlite ]; then
        url="sqlite://$work/adam-$RANDOM$RANDOM.db"
    else
        db="adam_schemathesis_$RANDOM$RANDOM"
        psql -q "$pg_admin" -c "CREATE DATABASE $db" >/dev/null
        url="${pg_admin%/*}/$db"
    fi
    local port
    port=$(free_port)
    base="http://127.0.0.1:$port"
    # The sign-in limits are raised: fuzzing signs in thousands of times from one address.
    DATABASE_URL="$url" SECRET_KEY="schemathesis secret key, at least thirty-two bytes" \
        PUBLIC_URL="$base" PORT="$port" RUST_LOG=warn LOGIN_MAX_FAILURES=10000 LOGIN_MAX_FAILURES_PER_IP=1000000 \
        "$server" serve --seed >>"$2" 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -sf "$base/ready" >/dev/null && return 0; sleep 0.1; done
    echo "the server did not start:" >&2; tail -n 20 "$2" >&2; exit 1
}

# Stops the server and drops its PostgreSQL database, if any.
stop() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; fi
    pid=""
    if [ -n "$db" ]; then psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; fi
    db=""
}

token() {
    curl -sf "$base/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"$1\",\"password\":\"$2\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

# Every role against engine $1, one after another, each on a fresh database; the summary goes to
# $work/lane.$1 (and the whole run's output where one fails).
lane() {
    local engine=$1 role failed=0 out="$work/lane.$1"
    trap stop EXIT
    for role in anonymous admin principal manager; do
        start "$engine" "$work/server.$engine.log"
        auth=()
        case "$role" in
            admin) auth=(-H "Authorization: Bearer $(token admin@avataradam.com 'Admin123!@#')") ;;
            principal) auth=(-H "Authorization: Bearer $(token principal@premiumauto.com 'Principal123!')") ;;
            manager) auth=(-H "Authorization: Bearer $(token manager@premiumauto.com 'Manager123!')") ;;
        esac
        echo "==> schemathesis: $engine, $role" >>"$out"
        exclude=()
        # Signing out everywhere would end the session the run authenticates with.
        [ "$role" != anonymous ] && exclude=(--exclude-path /api/v1/auth/logout-all)
        "$venv/bin/schemathesis" --config-file schemathesis.toml run "$base/api/v1/openapi.json" \
            --url "$base" --checks all \
            --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-25}" "${auth[@]}" "${exclude[@]}" \
            --no-color >"$work/run.$engine.log" 2>&1 || { failed=1; cat "$work/run.$engine.log" >>"$out"; }
        grep -E "^(Test cases|  [0-9]+ generated)" "$work/run.$engine.log" >>"$out" || true
        stop
    done
    return "$failed"
}

# The two engines' lanes run at the same time: each is one Python process and one server,
# and the machine's cores would otherwise wait on one of them.
failed=0
lane sqlite &
sqlite_lane=$!
lane postgres &
postgres_lane=$!
wait "$sqlite_lane" || failed=1
wait "$postgres_lane" || failed=1
cat "$work/lane.sqlite" "$work/lane.postgres"

echo "==> a client generated from the document calls every route"
start sqlite "$work/server.client.log"
mkdir -p "$work/client"
"$venv/bin/openapi-python-client" generate --url "$base/api/v1/openapi.json" \
    --output-path "$work/client/adam_client" --meta none >"$work/generate.log" 2>&1 \
    || { failed=1; cat "$work/generate.log"; }
"$venv/bin/python" scripts/generated_client_test.py "$base" "$work/client" || failed=1
stop

echo "==> a relying party written with authlib signs a manager in through OpenID Connect"
start sqlite "$work/server.authlib.log"
"$venv/bin/python" scripts/oidc_authlib_test.py "$base" || { failed=1; tail -n 30 "$work/server.authlib.log"; }
stop
exit "$failed"
