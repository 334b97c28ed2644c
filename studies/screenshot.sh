#!/usr/bin/env bash
# The README's screenshot: render a run's report.html in headless Chromium, offline, to a PNG.
# Usage: studies/screenshot.sh RUN_DIR OUT.png [WIDTHxHEIGHT]
set -euo pipefail
run_dir=$(realpath "$1"); out=$(realpath -m "$2"); size=${3:-1400x1500}
[ -f "$run_dir/report.html" ] || { echo "no report.html in $run_dir; run: ranksearch report $1" >&2; exit 2; }
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome) \
  || { echo "no Chromium found; install it (apt-get install chromium)" >&2; exit 2; }
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --proxy-server=127.0.0.1:9 \
  --virtual-time-budget=5000 --window-size="${size/x/,}" --screenshot="$out" "file://$run_dir/report.html" 2>/dev/null
echo "wrote $out"
