#!/usr/bin/env bash
# Issue 7's GPU measurement in one command, for the device tool (H200: Python 3.12, torch 2.11; no diffusers,
# no PyAV there). From the repository root here, once:
#   .venv/bin/python -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       -d .cache/wheels diffusers==0.42.1 importlib_metadata==8.7.0
# (diffusers' other needs - filelock, huggingface-hub>=1.32, numpy, regex, requests, safetensors>=0.8, Pillow,
# zipp - are in the device image; importlib_metadata 8.7 is the newest that needs nothing more.)
# Then call the device tool with:  command "bash bench/gpu_run.sh", carry [".cache/wheels"], timeout_s 420.
# Results come back under $OUT: gpu-<date>.json (the table's rows), bench.log (the printed table), env.txt.
# Knobs: BENCH_ARGS (extra bench_gpu.py arguments), COMPILE (off|regional|full, default regional),
# TIME_LIMIT (seconds after which the bench starts no new run, default 240), HARD_LIMIT (kill, default 360).
set -uo pipefail
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
shopt -s nullglob
wheels=(.cache/wheels/*.whl)
if ((${#wheels[@]} == 0)); then
    echo "no wheels in .cache/wheels: download them first (see the top of bench/gpu_run.sh)" >&2
    exit 2
fi
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "${wheels[@]}" || exit 3
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
{
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    "$PY" -c "import sys, torch, diffusers; print(sys.version.split()[0], torch.__version__, diffusers.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA device')"
} 2>&1 | tee "$OUT/env.txt"
timeout -k 10 "${HARD_LIMIT:-360}" "$PY" bench/bench_gpu.py --time-limit "${TIME_LIMIT:-240}" \
    --compile "${COMPILE:-regional}" --out "$OUT/gpu-$(date -u +%F).json" ${BENCH_ARGS:-} 2>&1 | tee "$OUT/bench.log"
rc=${PIPESTATUS[0]}
echo "bench exit status $rc" | tee -a "$OUT/bench.log"
exit "$rc"
