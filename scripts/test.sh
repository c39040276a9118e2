#!/usr/bin/env bash
# The test command: set up .venv (and the test ComfyUI + registry test data), then run pytest.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup_venv.sh
if [ -f scripts/fetch_test_data.py ]; then .venv/bin/python scripts/fetch_test_data.py; fi
if [ -f scripts/comfy_host.sh ]; then bash scripts/comfy_host.sh install; fi
exec .venv/bin/python -m pytest "$@"
