#!/usr/bin/env bash
# The pinned Python tools of the API checks (scripts/api-conformance.sh) and of the browser
# tests (scripts/browser-e2e.sh: an SMTP server, WebDriver), in a virtual
# environment under ~/.cache, installed when missing. scripts/test.sh starts it beside the build.
set -euo pipefail
tools=(schemathesis==4.32.5 openapi-python-client==0.26.2 aiosmtpd==1.4.6 selenium==4.50.0 authlib==1.9.6)
venv="$HOME/.cache/adam-api-tools"

installed=$("$venv/bin/pip" freeze 2>/dev/null || true)
missing=0
for tool in "${tools[@]}"; do grep -qxF -e "$tool" <<<"$installed" || missing=1; done
if [ "$missing" = 1 ]; then
    python3 -m venv "$venv" || { echo "python3 -m venv is required (Debian: python3-venv)" >&2; exit 1; }
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${tools[@]}"
fi
