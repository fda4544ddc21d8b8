#!/usr/bin/env bash
# Runs every test of Adam: formatting, lints, unit, integration (SQLite and PostgreSQL), doc
# tests, the desktop app's end-to-end tests in a real window, and the container image. On
# Debian/Ubuntu it installs what the machine lacks (a C toolchain, PostgreSQL, WebKitGTK, Xvfb,
# WebKitWebDriver, gnome-keyring, podman, chromium and chromedriver) when it can (root or sudo),
# and starts PostgreSQL if it is installed but down.
#
#   ADAM_TEST_POSTGRES_URL  maintenance database the tests create their own databases from
#                           (default postgres://postgres@127.0.0.1:5432/postgres)
#   CARGO_TARGET_DIR        build directory, reused across runs (default ~/.cache/adam-target)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
apt_install() {
    command -v apt-get >/dev/null || { echo "cannot install $*: no apt-get" >&2; return 1; }
    as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/adam-target}"
export ADAM_TEST_POSTGRES_URL="${ADAM_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

command -v cargo >/dev/null || { echo "cargo is required: https://rustup.rs" >&2; exit 1; }
{ command -v cc && command -v make; } >/dev/null || { say "installing a C toolchain"; apt_install build-essential pkg-config; }

# Passkeys (webauthn-rs) link OpenSSL, whatever else is installed.
pkg-config --exists openssl 2>/dev/null || { say "installing OpenSSL's headers"; apt_install pkg-config libssl-dev; }

# The desktop app builds against WebKitGTK and is tested in Xvfb with a Secret Service keyring.
desktop_packages=()
pkg-config --exists webkit2gtk-4.1 2>/dev/null || desktop_packages+=(pkg-config libwebkit2gtk-4.1-dev libssl-dev)
command -v Xvfb >/dev/null || desktop_packages+=(xvfb xauth)
command -v WebKitWebDriver >/dev/null || desktop_packages+=(webkit2gtk-driver)
command -v gnome-keyring-daemon >/dev/null || desktop_packages+=(gnome-keyring)
command -v secret-tool >/dev/null || desktop_packages+=(libsecret-tools)
command -v dbus-run-session >/dev/null || desktop_packages+=(dbus)
command -v curl >/dev/null || desktop_packages+=(curl)
command -v ss >/dev/null || desktop_packages+=(iproute2) # the container test counts connections
command -v psql >/dev/null || desktop_packages+=(postgresql-client)
# The container image is built and run with podman (runc: crun cannot set limits on some hosts;
# debootstrap makes the base image where no registry is reachable).
command -v podman >/dev/null || desktop_packages+=(podman)
command -v runc >/dev/null || desktop_packages+=(runc)
command -v debootstrap >/dev/null || desktop_packages+=(debootstrap)
# The browser pages are tested in Debian's chromium through chromedriver.
command -v chromium >/dev/null || desktop_packages+=(chromium)
command -v chromedriver >/dev/null || desktop_packages+=(chromium-driver)
# schemathesis and a client generator run in a virtual environment the test script creates.
python3 -c 'import ensurepip, venv' 2>/dev/null || desktop_packages+=(python3-venv)
if [ "${#desktop_packages[@]}" -gt 0 ]; then
    say "installing ${desktop_packages[*]}"
    apt_install "${desktop_packages[@]}"
fi

pg_up() { command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; }
if ! pg_up; then
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
        say "installing PostgreSQL"
        apt_install postgresql postgresql-client
        fresh_postgres=1
    fi
    say "starting PostgreSQL"
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || as_root pg_ctlcluster "$version" main start
    for _ in $(seq 30); do pg_up && break; sleep 1; done
    if [ "${fresh_postgres:-0}" = 1 ]; then
        # A fresh Debian cluster asks for a password over TCP: give the tests one.
        as_root su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
        export ADAM_TEST_POSTGRES_URL="postgres://postgres:postgres@127.0.0.1:5432/postgres"
    fi
fi
pg_up || { echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }

# Steps that need no CPU of their own start now, beside the build: the container's base image
# (debootstrap) and the Python tools of the API checks (pip). Their logs are shown if they fail.
prep=$(mktemp -d)
bash scripts/container-base.sh >"$prep/base.log" 2>&1 &
base_pid=$!
bash scripts/api-tools.sh >"$prep/tools.log" 2>&1 &
tools_pid=$!
await() { # PID LOG: waits for a background step, showing its log if it failed
    wait "$1" || { cat "$2"; echo "a background step failed: $2" >&2; return 1; }
}

# Each step's wall time, printed as a table at the end, whether the run passes or fails.
timings=()
started=$(date +%s)
step() { # NAME COMMAND...
    local name=$1 t0 rc=0
    shift
    say "$name"
    t0=$(date +%s)
    "$@" || rc=$?
    timings+=("$(printf '%-58s %5ss' "$name" "$(($(date +%s) - t0))")")
    return "$rc"
}
table() {
    local rc=$?
    printf '\n==> step times (s)\n'
    printf '%s\n' "${timings[@]}"
    printf '%-58s %5ss\n' "total" "$(($(date +%s) - started))"
    kill "$base_pid" "$tools_pid" 2>/dev/null || true
    rm -rf "$prep"
    exit "$rc"
}
trap table EXIT

# Lints and the test build in one compilation: clippy-driver wraps rustc for the workspace's
# crates (what `cargo clippy` does, but producing the test binaries too), so dependencies are
# compiled once, not once for `cargo clippy` (metadata) and again for `cargo test`. Every cargo
# command below runs with the same wrapper, so none rebuilds the workspace. (A plain
# `cargo test` afterwards rebuilds only the workspace's own crates.)
clippy_driver=$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver || true)
[ -n "$clippy_driver" ] || { echo "clippy is required: rustup component add clippy" >&2; exit 1; }
export RUSTC_WORKSPACE_WRAPPER="$clippy_driver"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

step "cargo fmt --check" cargo fmt --all -- --check
step "no import circle among adam-core's files" python3 scripts/module-cycles.py adam-core/src
step "build every target, linted by clippy (warnings are errors)" \
    cargo test --workspace --all-targets --locked --no-run
step "cargo test (SQLite and PostgreSQL)" cargo test --workspace --all-targets --locked
# A service that only checks tokens links adam-core without its engine: no sqlx, no argon2.
verifier_alone() {
    local features=(--no-default-features --features jwks,introspection,poem,axum)
    if cargo tree -p adam-core "${features[@]}" -e normal --prefix none --locked | grep -qE '^(sqlx|argon2|aws-lc-rs|webauthn-rs|openssl) '; then
        echo "adam-core without its engine still depends on sqlx, argon2, aws-lc-rs or OpenSSL" >&2
        return 1
    fi
    cargo check -p adam-core "${features[@]}" --lib --locked
}
step "the token verifier builds without the engine (no sqlx, no argon2, no aws-lc, no OpenSSL)" verifier_alone
step "doc tests" cargo test --workspace --doc --locked
step "documentation builds without warnings" env RUSTDOCFLAGS="-D warnings" \
    cargo doc -p adam-core --features jwks,introspection,poem,axum --no-deps --locked --quiet
await "$tools_pid" "$prep/tools.log"
step "the API against its OpenAPI document: schemathesis (every role, both engines), a generated client" \
    bash scripts/api-conformance.sh
step "browser pages and mail end to end (chromium, aiosmtpd, both engines)" \
    bash scripts/browser-e2e.sh
step "adam-desktop end to end (Xvfb, WebKitWebDriver, gnome-keyring, adam-server)" \
    bash adam-desktop/e2e/run.sh
await "$base_pid" "$prep/base.log"
step "the container image: two replicas on one PostgreSQL (podman)" bash scripts/container-test.sh
