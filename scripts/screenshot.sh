#!/usr/bin/env bash
# Take a PNG screenshot of an HTML report with headless Chromium (Debian's
# chromium package): scripts/screenshot.sh report.html report.png [WIDTHxHEIGHT]
set -euo pipefail
html=$(realpath "$1")
png=$(realpath -m "$2")
size=${3:-1400x1000}
command -v chromium >/dev/null || { echo "install chromium: apt-get install chromium" >&2; exit 1; }
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size="${size/x/,}" --screenshot="$png" "file://$html" 2>/dev/null
echo "$png"
