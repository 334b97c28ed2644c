#!/usr/bin/env bash
# A run's report.html rendered in headless Chromium, offline, to a full-page PNG (the README's screenshot).
# Usage: studies/screenshot.sh RUN_DIR OUT.png [WIDTH]     (WIDTH in CSS pixels, default 1400)
# First pass: a copy of the page that writes its own rendered height into the DOM, read with --dump-dom.
# Second pass: the page itself at WIDTH x that height. No network: a dead proxy and no DNS.
set -euo pipefail
[ $# -ge 2 ] || { echo "Usage: studies/screenshot.sh RUN_DIR OUT.png [WIDTH]" >&2; exit 2; }
run_dir=$(realpath "$1"); out=$(realpath -m "$2"); width=${3:-1400}
page="$run_dir/report.html"
[ -f "$page" ] || { echo "no report.html in $run_dir; run: ranksearch report $1" >&2; exit 2; }
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome) \
  || { echo "no Chromium found; install it (apt-get install chromium)" >&2; exit 2; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
chrome() {
  "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --hide-scrollbars --user-data-dir="$work/profile" \
    --proxy-server=127.0.0.1:9 --host-resolver-rules="MAP * ~NOTFOUND" --virtual-time-budget=15000 "$@" 2>/dev/null
}
probe="$run_dir/.screenshot-probe.html"  # beside the page, so its relative links resolve as the page's do
trap 'rm -rf "$work" "$probe"' EXIT
sed 's#</body></html>#<script>window.addEventListener("load",()=>setTimeout(()=>{document.body.setAttribute("data-page-height",document.documentElement.scrollHeight)},3000));</script></body></html>#' \
  "$page" > "$probe"
height=$(chrome --window-size="$width,1000" --dump-dom "file://$probe" | grep -o 'data-page-height="[0-9]*"' | grep -o '[0-9]*' || true)
[ -n "$height" ] || { echo "could not measure the page's height; is $page a ranksearch report?" >&2; exit 1; }
chrome --window-size="$width,$((height + 20))" --screenshot="$out" "file://$page" >/dev/null
echo "wrote $out (${width}x$((height + 20)))"
