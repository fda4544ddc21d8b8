#!/usr/bin/env bash
# The staff lifecycle by mail in a real browser (scripts/browser_e2e.py): adam-server on SQLite
# and on PostgreSQL, a real SMTP server (aiosmtpd), Debian's chromium through chromedriver.
# Uses the debug adam-server the tests built and the Python tools of scripts/api-tools.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/adam-target}"
bash scripts/api-tools.sh
cargo test --workspace --all-targets --locked --no-run --quiet # nothing to do after the tests
NO_COLOR=1 "$HOME/.cache/adam-api-tools/bin/python" scripts/browser_e2e.py "$CARGO_TARGET_DIR/debug/adam-server"
