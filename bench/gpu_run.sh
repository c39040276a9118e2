#!/usr/bin/env bash
# Issue 7's GPU measurement and issue 15's calibration in one command, for the device tool (H200: Python 3.12,
# torch 2.11; no diffusers, no PyAV there). From the repository root here, once:
#   .venv/bin/python -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       -d .cache/wheels diffusers==0.42.1 importlib_metadata==8.7.0
# (diffusers' other needs - filelock, huggingface-hub>=1.32, numpy, regex, requests, safetensors>=0.8, Pillow,
# zipp - are in the device image; importlib_metadata 8.7 is the newest that needs nothing more.)
# Then call the device tool with:  command "bash bench/gpu_run.sh", carry [".cache/wheels"], timeout_s 540.
# Steps: (1) in the background, on the CPU, the conv shapes the presets use (bench/conv_workspace.py
# --collect-only, fake tensors); (2) bench_gpu.py, whose worker processes predict every row on the CPU while it
# measures, and which exits 1 when a measured peak and its prediction differ by more than 5 %; (3) after it,
# cuDNN's workspace of every collected shape on the GPU -> a calibrated table (bench/conv_workspace.py).
# Expected: ~15 s install and versions, the bench <= HARD_LIMIT (360 s), the conv job ~30 s (<= CONV_LIMIT):
# about 7 minutes of command time, 9-10 with the machine's start, within the 15-minute allowance.
# Results come back under $OUT: gpu-<date>.json (rows, predictions, verdict), bench.log, env.txt,
# conv-shapes.json (+ .log), conv-workspace.json (the table CalibratedWorkspace reads), its .details.json,
# conv-workspace.log. Compare the rows with the fresh table afterwards, on the CPU:
#   .venv/bin/python bench/bench_gpu.py --check OUT/gpu-<date>.json --workspace OUT/conv-workspace.json
# Knobs: BENCH_ARGS (extra bench_gpu.py arguments), COMPILE (off|regional|full, default regional),
# TIME_LIMIT (seconds after which the bench starts no new run, default 240), HARD_LIMIT (kill, default 360),
# PREDICT_WAIT (seconds the bench waits after measuring for predictions still running, default 60),
# WORKSPACE (a calibrated table from an earlier lend: the bench predicts and checks with it too),
# CONV_LIMIT (the conv job's kill, default 120; it starts no shape after CONV_LIMIT - 30), CONV=0 (skip it).
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
    "$PY" -c "import sys, torch, diffusers; print(sys.version.split()[0], torch.__version__, diffusers.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA device', 'cuDNN', torch.backends.cudnn.version())"
} 2>&1 | tee "$OUT/env.txt"
CONV=${CONV:-1}
CONV_LIMIT=${CONV_LIMIT:-120}
if [[ $CONV != 0 ]]; then  # CPU only, while the GPU measures
    timeout -k 5 300 "$PY" bench/conv_workspace.py --collect-only "$OUT/conv-shapes.json" --workers 3 \
        >"$OUT/conv-shapes.log" 2>&1 &
    shapes_pid=$!
fi
ws_args=()
[[ -n ${WORKSPACE:-} ]] && ws_args=(--workspace "$WORKSPACE")
timeout -k 10 "${HARD_LIMIT:-360}" "$PY" bench/bench_gpu.py --time-limit "${TIME_LIMIT:-240}" \
    --compile "${COMPILE:-regional}" --predict-wait "${PREDICT_WAIT:-60}" "${ws_args[@]}" \
    --out "$OUT/gpu-$(date -u +%F).json" ${BENCH_ARGS:-} 2>&1 | tee "$OUT/bench.log"
rc=${PIPESTATUS[0]}
echo "bench exit status $rc$( ((rc == 1)) && echo ': a prediction off by more than 5 %, see above')" | tee -a "$OUT/bench.log"
conv_rc=0
if [[ $CONV != 0 ]]; then
    wait "$shapes_pid"
    echo "conv shapes exit status $? ($(tail -n 1 "$OUT/conv-shapes.log"))" | tee "$OUT/conv-workspace.log"
    shapes=()
    [[ -s $OUT/conv-shapes.json ]] && shapes=(--shapes "$OUT/conv-shapes.json")
    timeout -k 10 "$CONV_LIMIT" "$PY" bench/conv_workspace.py "${shapes[@]}" --out "$OUT/conv-workspace.json" \
        --time-limit $((CONV_LIMIT - 30)) 2>&1 | tee -a "$OUT/conv-workspace.log"
    conv_rc=${PIPESTATUS[0]}
    echo "conv workspace exit status $conv_rc" | tee -a "$OUT/conv-workspace.log"
fi
((rc != 0)) && exit "$rc"
exit "$conv_rc"
