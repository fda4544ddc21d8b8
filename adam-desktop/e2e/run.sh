#!/usr/bin/env bash
# End-to-end tests of adam-desktop in a real window: Xvfb, WebKitWebDriver, gnome-keyring in a
# private D-Bus session, and a real adam-server on SQLite. Screenshots go to
# adam-desktop/e2e/screenshots/. Needs the packages scripts/test.sh installs.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/adam-target}"

if [ -z "${ADAM_E2E_IN_DBUS:-}" ]; then
    # The binaries the tests built, with their features: nothing to do after the tests.
    cargo test --workspace --all-targets --locked --no-run --quiet
    # The test's SMTP server (aiosmtpd) lives in the Python tools' environment.
    bash scripts/api-tools.sh
    # The session bus and the services it starts (portals, at-spi) chatter on stderr: keep that
    # in a file and show it only if the run fails.
    bus_log=$(mktemp)
    status=0
    dbus-run-session -- env ADAM_E2E_IN_DBUS=1 bash "$0" "$@" 2>"$bus_log" || status=$?
    if [ "$status" != 0 ]; then echo "--- stderr of the D-Bus session"; tail -n 40 "$bus_log"; fi
    rm -f "$bus_log"
    exit "$status"
fi

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Throw-away home for the keyring and the app's settings.
export XDG_DATA_HOME="$work/data" XDG_CACHE_HOME="$work/cache" XDG_CONFIG_HOME="$work/config"
export XDG_DOWNLOAD_DIR="$work/downloads"
mkdir -p "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_CONFIG_HOME"
printf 'e2e keyring password' | gnome-keyring-daemon --unlock --components=secrets >/dev/null

Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$work/display" 2>"$work/xvfb.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/display" ] && break; sleep 0.1; done
export DISPLAY=":$(cat "$work/display")"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
server_port=$(free_port)
smtp_port=$(free_port) # the test listens there for the mail the server sends
# The server is named `localhost` (not an IP address) so that passkeys are on (WEBAUTHN_RP_ID).
server="http://localhost:$server_port"
DATABASE_URL="sqlite://$work/adam.db" SECRET_KEY="e2e secret key, at least thirty-two bytes" PORT="$server_port" RUST_LOG=warn \
    PUBLIC_URL="$server" SMTP_URL="smtp+plain://127.0.0.1:$smtp_port" \
    "$CARGO_TARGET_DIR/debug/adam-server" serve --seed >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$server_port/ready" >/dev/null && break; sleep 0.1; done

driver_port=$(free_port)
# The app's "system browser" ($BROWSER, RFC 8252) is chromium driven by WebDriver, signing in as
# the manager (adam-desktop/e2e/system_browser.py), with a password or, when the test writes
# `passkey` into $work/browser-mode, with a passkey it adds first.
printf '#!/bin/sh\nexec "%s" "%s" "$1" >>"%s" 2>&1\n' "$HOME/.cache/adam-api-tools/bin/python" \
    "$PWD/adam-desktop/e2e/system_browser.py" "$work/browser.log" >"$work/browser"
chmod +x "$work/browser"
ADAM_SERVER_URL="$server" TAURI_WEBVIEW_AUTOMATION=true \
    BROWSER="$work/browser" ADAM_E2E_BROWSER_LOGIN="manager@premiumauto.com:Manager123!" \
    ADAM_E2E_BROWSER_MODE="$work/browser-mode" \
    WebKitWebDriver --port="$driver_port" >"$work/driver.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$driver_port/status" >/dev/null && break; sleep 0.1; done

shots=adam-desktop/e2e/screenshots
mkdir -p "$shots"
status=0
"$HOME/.cache/adam-api-tools/bin/python" adam-desktop/e2e/test_desktop.py --driver "http://127.0.0.1:$driver_port" \
    --app "$CARGO_TARGET_DIR/debug/adam-desktop" --server "$server" --shots "$shots" \
    --smtp-port "$smtp_port" --browser-mode "$work/browser-mode" || status=$?
if [ "$status" != 0 ]; then
    echo "--- server log"; tail -n 30 "$work/server.log"
    echo "--- driver log"; tail -n 30 "$work/driver.log"
    if [ -f "$work/browser.log" ]; then echo "--- system browser log"; tail -n 30 "$work/browser.log"; fi
fi
exit "$status"
