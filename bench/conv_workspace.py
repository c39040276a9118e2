"""cuDNN's convolution workspace for every conv shape the presets use, measured on this GPU (issue 15, item 5).

The memory model (``svfr_model/diffusion/memory_model.py``) cannot see cuDNN's workspace: by default it adds
input + output bytes per convolution (conservative). This job measures the real one and writes the table that
``CalibratedWorkspace`` reads (``--workspace TABLE.json`` of ``python -m svfr_model memory`` and of
``bench/bench_gpu.py``):

1. the shapes (CPU, fake tensors, worker processes): ``memory_model.conv_shapes`` of each preset's restore at
   each ``--frames`` length (16 and 32: full chunks plus the shorter last chunks that the bench's lengths
   16/32/64/160/480 produce with today's chunk sizes), for ``--size`` crops and the engine's CUDA precisions
   (fp16 UNet, fp16 VAE decoder, fp32 encoder; ``--vae-dtypes fp16,fp32`` adds the fp32 decoder);
   ``--collect-only SHAPES.json`` stops there (no GPU needed), ``--shapes SHAPES.json`` reuses such a file;
2. each shape on the GPU, as the engine runs it (``torch.backends.cudnn.benchmark`` left as torch's default,
   False, unless ``--cudnn-benchmark``; TF32 allowed as the bench allows it): input, weight and bias allocated,
   one untimed call (algorithm choice, lazy handles), then ``reset_peak_memory_stats`` and one measured call;
   the workspace = ``max_memory_allocated`` during that call - what was allocated before it (input, weight,
   bias) - the output's block;
3. the table ``{"card", "torch", "cudnn", "workspace": {ConvShape.key: bytes}}`` written whole (temporary name,
   then rename) every ``--write-every`` shapes and at the end, so a run stopped by its time limit leaves a valid
   table of what it measured (shapes it lacks fall back to the conservative term); ``TABLE.details.json``
   beside it keeps per shape the bytes in / out / weight, the first call's extra, milliseconds and errors.

    python bench/conv_workspace.py --out conv-workspace.json                # 197 shapes at 512²; ~30 s on a GPU
    python bench/conv_workspace.py --collect-only shapes.json               # CPU only: the shapes
    python bench/conv_workspace.py --shapes shapes.json --out conv-workspace.json --time-limit 90
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))  # memory_check, also for the spawned shape workers

import memory_check  # noqa: E402

DEFAULT_FRAMES = "16,32"


# ---------------------------------------------------------------- 1. the shapes (CPU)

def shape_cases(presets: list[str], frames: list[int], size: int, unet_dtype: str = "fp16",
                vae_dtypes: tuple[str, ...] = ("fp16",)) -> list:
    """The ``RestoreCase`` of each preset, length and VAE decoder precision (as the bench runs them)."""
    return [memory_check.prediction_case(p, n, size, unet_dtype, v) for p in presets for n in frames
            for v in vae_dtypes]


def collect_shapes(cases: list, workers: int = 1) -> dict[str, dict]:
    """``{ConvShape.key: asdict(ConvShape)}`` over ``cases``, in ``workers`` spawned processes that never see
    the GPU (0: in this process, for a machine without one: on a GPU machine the fake mode would touch it)."""
    from dataclasses import asdict

    shapes: dict[str, dict] = {}
    if workers <= 0:
        for case in cases:
            shapes.update(memory_check.shapes_worker(asdict(case)))
        return dict(sorted(shapes.items()))
    pool = memory_check.Workers(min(workers, len(cases)))
    try:
        for fut in [pool.submit(memory_check.shapes_worker, asdict(case)) for case in cases]:
            shapes.update(fut.result())
    finally:
        pool.close()
    return dict(sorted(shapes.items()))


def read_shapes(path: str | Path) -> dict[str, dict]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return dict(data["shapes"])


def write_shapes(path: str | Path, shapes: dict[str, dict], cases: list) -> Path:
    from dataclasses import asdict

    from svfr_model.diffusion.memory_model import write_text_atomic

    payload = {"cases": [asdict(c) for c in cases], "count": len(shapes), "shapes": shapes}
    return write_text_atomic(Path(path), json.dumps(payload, indent=1) + "\n")


# ---------------------------------------------------------------- 2. one shape on the GPU

def _dtype(name: str):
    from svfr_model.diffusion.memory_model import as_dtype

    return as_dtype(name)


def measure_shape(shape: dict, device) -> dict:
    """The extra bytes one convolution of ``shape`` allocates beyond its input, weight, bias and output."""
    import torch

    from svfr_model.diffusion.memory_model import block_bytes

    dtype = _dtype(shape["dtype"])
    x = torch.empty(tuple(shape["input"]), dtype=dtype, device=device).normal_()
    w = torch.empty(tuple(shape["weight"]), dtype=dtype, device=device).normal_(std=0.02)
    out_channels = w.shape[1] * shape["groups"] if shape["transposed"] else w.shape[0]
    b = torch.zeros((out_channels,), dtype=dtype, device=device)
    stride, padding, dilation = (list(shape[k]) for k in ("stride", "padding", "dilation"))
    output_padding = [0] * len(stride)  # not in the key: the engine has no transposed convolution

    def conv():
        return torch.ops.aten.convolution(x, w, b, stride, padding, dilation, bool(shape["transposed"]),
                                          output_padding, int(shape["groups"]))

    with torch.no_grad():
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        out = conv()  # first call: algorithm choice (benchmarking if on), lazy handles
        torch.cuda.synchronize(device)
        first = torch.cuda.max_memory_allocated(device) - before - block_bytes(out.untyped_storage().nbytes())
        del out
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        t0 = time.perf_counter()
        out = conv()
        torch.cuda.synchronize(device)
        ms = 1000 * (time.perf_counter() - t0)
        out_bytes = block_bytes(out.untyped_storage().nbytes())
        extra = torch.cuda.max_memory_allocated(device) - before - out_bytes
    in_bytes = block_bytes(x.untyped_storage().nbytes())
    w_bytes = block_bytes(w.untyped_storage().nbytes()) + block_bytes(b.untyped_storage().nbytes())
    return {"workspace": max(0, int(extra)), "first_call_extra": max(0, int(first)), "input_bytes": in_bytes,
            "output_bytes": out_bytes, "weight_bytes": w_bytes, "ms": round(ms, 3)}


# ---------------------------------------------------------------- 3. the table

def write_table(path: str | Path, workspace: dict[str, int], *, card: str, torch_version: str,
                cudnn_version: str) -> Path:
    """The calibrated table in ``CalibratedWorkspace``'s format, written whole (temporary name, then rename)."""
    from svfr_model.diffusion.memory_model import CalibratedWorkspace

    return CalibratedWorkspace(workspace, card=card, torch_version=torch_version,
                               cudnn_version=cudnn_version).to_json(path)


def details_path(table: Path) -> Path:
    return table.with_name(table.stem + ".details.json")


def measure_all(shapes: dict[str, dict], out: Path, *, time_limit: float, write_every: int = 20,
                started: float | None = None, meta: dict | None = None) -> dict:
    """Measure every shape (each frees its tensors and the cache before the next), writing the table as it
    goes; starts no shape after ``time_limit`` seconds from ``started``."""
    import torch

    from svfr_model.diffusion.memory_model import write_text_atomic

    started = time.perf_counter() if started is None else started
    device = torch.device("cuda")
    card = torch.cuda.get_device_name(device)
    stamp = dict(card=card, torch_version=torch.__version__, cudnn_version=str(torch.backends.cudnn.version()))
    table: dict[str, int] = {}
    details: dict[str, dict] = {}
    report = {"meta": {**(meta or {}), "card": card, "torch": torch.__version__,
                       "cudnn": stamp["cudnn_version"], "cudnn_benchmark": torch.backends.cudnn.benchmark,
                       "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32, "shapes": len(shapes)},
              "shapes": details}

    def flush():
        write_table(out, table, **stamp)
        report["meta"].update(measured=len(table), seconds=round(time.perf_counter() - started, 1))
        write_text_atomic(details_path(out), json.dumps(report, indent=1) + "\n")

    skipped = 0
    for i, (key, shape) in enumerate(shapes.items()):
        if time.perf_counter() - started > time_limit:
            skipped = len(shapes) - i
            report["meta"]["skipped_time_limit"] = skipped
            print(f"time limit {time_limit:.0f} s: {skipped} shapes not measured (conservative for them)",
                  flush=True)
            break
        try:
            got = measure_shape(shape, device)
        except (torch.OutOfMemoryError, RuntimeError) as exc:  # not in the table: conservative for it
            details[key] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
            print(f"{i + 1:>4}/{len(shapes)} {details[key]['error']}  {key}", flush=True)
            torch.cuda.empty_cache()
            continue
        table[key] = got["workspace"]
        details[key] = got
        cons = got["input_bytes"] + got["output_bytes"]
        print(f"{i + 1:>4}/{len(shapes)} {got['workspace'] / 2**20:>9.1f} MiB workspace "
              f"({got['workspace'] / cons:>5.1%} of in + out) {got['ms']:>8.2f} ms  {key}", flush=True)
        torch.cuda.empty_cache()
        if (i + 1) % write_every == 0:
            flush()
    flush()
    return report


# ---------------------------------------------------------------- the command

def main(argv: list[str] | None = None) -> int:
    from svfr_model.diffusion.presets import PRESETS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=None,
                    help="the table (default bench/results/conv-workspace-<date>.json)")
    ap.add_argument("--presets", default=",".join(PRESETS))
    ap.add_argument("--frames", default=DEFAULT_FRAMES, help="clip lengths whose conv shapes are collected")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--unet-dtype", default="fp16")
    ap.add_argument("--vae-dtypes", default="fp16", help="VAE decoder precisions (the engine's CUDA default: fp16)")
    ap.add_argument("--workers", type=int, default=memory_check.default_workers(),
                    help="CPU processes collecting the shapes (0: in this process, only without a GPU)")
    ap.add_argument("--collect-only", type=Path, default=None, metavar="SHAPES.json",
                    help="write the shapes and stop (CPU only)")
    ap.add_argument("--shapes", type=Path, default=None, metavar="SHAPES.json",
                    help="measure these shapes (from --collect-only) instead of collecting them")
    ap.add_argument("--cudnn-benchmark", action="store_true",
                    help="torch.backends.cudnn.benchmark = True (the engine leaves torch's default, False)")
    ap.add_argument("--time-limit", type=float, default=120.0, help="start no shape after this many seconds")
    ap.add_argument("--write-every", type=int, default=20)
    args = ap.parse_args(argv)
    started = time.perf_counter()

    if args.shapes is not None:
        shapes = read_shapes(args.shapes)
        print(f"{len(shapes)} conv shapes from {args.shapes}", flush=True)
    else:
        cases = shape_cases([p.strip() for p in args.presets.split(",") if p.strip()],
                            [int(f) for f in args.frames.split(",") if f.strip()], args.size, args.unet_dtype,
                            tuple(v.strip() for v in args.vae_dtypes.split(",") if v.strip()))
        shapes = collect_shapes(cases, args.workers)
        print(f"{len(shapes)} conv shapes from {len(cases)} fake restores in {time.perf_counter() - started:.0f} s",
              flush=True)
        if args.collect_only is not None:
            write_shapes(args.collect_only, shapes, cases)
            print(f"wrote {args.collect_only}")
            return 0
    if not shapes:
        print("no conv shapes", file=sys.stderr)
        return 2

    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: the workspace is measured on a GPU (--collect-only works without one)",
              file=sys.stderr)
        return 2
    torch.backends.cudnn.allow_tf32 = True
    if args.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    out = args.out or REPO / "bench" / "results" / f"conv-workspace-{date}.json"
    meta = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])])}
    report = measure_all(shapes, out, time_limit=args.time_limit, write_every=args.write_every, started=started,
                         meta=meta)
    m = report["meta"]
    ws = [d["workspace"] for d in report["shapes"].values() if "workspace" in d]
    cons = [d["input_bytes"] + d["output_bytes"] for d in report["shapes"].values() if "workspace" in d]
    errors = sum(1 for d in report["shapes"].values() if "error" in d)
    print(f"\n{m['card']}, torch {m['torch']}, cuDNN {m['cudnn']}, benchmark {m['cudnn_benchmark']}: "
          f"{m['measured']}/{m['shapes']} shapes in {m['seconds']:.0f} s, {errors} errors; largest workspace "
          f"{max(ws, default=0) / 2**20:.1f} MiB, in total {sum(ws) / max(sum(cons), 1):.1%} of the conservative "
          f"term (in + out)")
    print(f"wrote {out} and {details_path(out).name}")
    return 0 if m["measured"] == m["shapes"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
