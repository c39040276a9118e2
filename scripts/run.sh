#!/usr/bin/env bash
# The main job: set up the project, install ComfyUI 0.3.75 (or use $COMFYUI_DIR), and run it in the
# foreground with this pack and its example workflows on http://127.0.0.1:8188. Ctrl-C stops it.
#
#   bash scripts/run.sh                      # fresh machine: venv + ComfyUI in .cache/comfyui
#   COMFYUI_DIR=~/ComfyUI bash scripts/run.sh   # an existing ComfyUI: the pack is linked into its custom_nodes
#
# Environment: COMFY_PORT (8188), COMFY_HOST (127.0.0.1), COMFY_EXTRA_MODEL_PATHS (an
# extra_model_paths.yaml), COMFY_ARGS (more main.py flags). --cpu is added when torch sees no GPU.
# With an existing ComfyUI, its own python runs it when COMFY_PYTHON is set; otherwise the project venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PORT="${COMFY_PORT:-8188}"
HOST="${COMFY_HOST:-127.0.0.1}"
log() { printf '[run] %s\n' "$*" >&2; }

bash scripts/setup_venv.sh
bash scripts/comfy_host.sh install
DEST="$(bash scripts/comfy_host.sh dir)"
PY="${COMFY_PYTHON:-$ROOT/.venv/bin/python}"

# The example workflows' inputs (example_inputs/) are copied into ComfyUI's input folder by the pack
# itself when it loads (never over a file of the same name).

# Where the weights go; the server starts either way (the loader node then names what is missing).
"$ROOT/.venv/bin/python" - "$DEST/models/svfr" <<'PY' || true
import os, sys
sys.path.insert(0, os.getcwd())
from svfr_model.errors import WeightsError
from svfr_model.weights.model_files import find_model_files
base = sys.argv[1]
os.makedirs(base, exist_ok=True)
candidates = [base] + [os.path.join(base, d) for d in sorted(os.listdir(base)) if os.path.isdir(os.path.join(base, d))]
first_error = None
for c in candidates:
    try:
        files = find_model_files(c)
        print(f"[run] SVFR weights found: {files.root}", file=sys.stderr)
        break
    except WeightsError as e:
        first_error = first_error or e
else:
    print("[run] No complete SVFR model set yet. ComfyUI starts anyway; to restore faces put the weights here:\n"
          f"{first_error}\n", file=sys.stderr)
PY

if "$PY" -c 'import socket,sys; s=socket.socket(); sys.exit(0 if s.connect_ex((sys.argv[1], int(sys.argv[2]))) == 0 else 1)' "$HOST" "$PORT"; then
  log "port $PORT is already in use on $HOST (another ComfyUI?). Stop it or set COMFY_PORT."
  exit 1
fi

ARGS=(main.py --listen "$HOST" --port "$PORT")
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() or torch.backends.mps.is_available() else 1)' 2>/dev/null; then
  ARGS+=(--cpu)  # a CUDA build of torch without a GPU would otherwise stop ComfyUI at start-up
fi
if [[ -n "${COMFY_EXTRA_MODEL_PATHS:-}" ]]; then ARGS+=(--extra-model-paths-config "$(realpath "$COMFY_EXTRA_MODEL_PATHS")"); fi
# shellcheck disable=SC2206
if [[ -n "${COMFY_ARGS:-}" ]]; then ARGS+=(${COMFY_ARGS}); fi

log "ComfyUI with the SVFR pack: http://$HOST:$PORT  (example workflows: Workflow > Browse Templates > comfyui-svfr; Ctrl-C stops)"
cd "$DEST"
exec "$PY" "${ARGS[@]}"
