#!/usr/bin/env bash
# Install the system tools the test suite drives when they are missing: promtool (Debian's
# prometheus package: metric and alert-rule checks) and Chromium (the dashboard's browser tests,
# driven by Playwright with /usr/bin/chromium). Idempotent: does nothing when both are present.
set -euo pipefail

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "ensure-tools: installing ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
