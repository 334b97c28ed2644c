#!/usr/bin/env bash
# optuna-dashboard on a run's study.db, rendered by headless Chromium to a PNG: what a user sees
# after `optuna-dashboard sqlite:///RUN_DIR/study.db` (the study page: objectives, the front, the
# learning curves as intermediate values). Needs `pip install '.[dashboard]'` and Chromium.
# Usage: studies/dashboard_screenshot.sh RUN_DIR OUT.png [PAGE]   (PAGE default: studies/1)
set -euo pipefail
[ $# -ge 2 ] || { echo "Usage: studies/dashboard_screenshot.sh RUN_DIR OUT.png [PAGE]" >&2; exit 2; }
run_dir=$(realpath "$1"); out=$(realpath -m "$2"); page=${3:-studies/1}
[ -f "$run_dir/study.db" ] || { echo "no study.db in $run_dir" >&2; exit 2; }
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome) \
  || { echo "no Chromium found; install it (apt-get install chromium)" >&2; exit 2; }
command -v optuna-dashboard >/dev/null || { echo "no optuna-dashboard; pip install '.[dashboard]'" >&2; exit 2; }
work=$(mktemp -d)
cp "$run_dir/study.db" "$work/study.db"  # the dashboard may write (notes, migrations): never into the committed file
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
optuna-dashboard "sqlite:///$work/study.db" --host 127.0.0.1 --port "$port" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/api/meta" >/dev/null && break
  sleep 0.2
done
"$browser" --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars --user-data-dir="$work/profile" \
  --window-size=1400,3200 --virtual-time-budget=20000 --screenshot="$out" \
  "http://127.0.0.1:$port/dashboard/$page" >/dev/null 2>&1
echo "wrote $out"
