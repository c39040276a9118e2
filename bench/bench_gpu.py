"""GPU benchmark of the SVFR engine (issue 7): presets x video lengths, plus the official-default run.

Builds random weights directly on the device (real-size SVD-xt UNet with 12 input channels and SVD-xt
VAE, or the tiny parity configs with ``--tiny``; nothing is downloaded or read from disk), restores
synthetic face-like frames with ``restore_video`` for each preset and length, and prints one table:
wall s, s/frame, UNet share of wall time (CUDA events around every UNet call, no extra syncs), peak
allocated / reserved GB (CUDA; peak RSS of the process on the CPU), the memory estimate the ComfyUI node
passes to ``load_models_gpu``, and the output difference of each preset against the default preset at
the same length (max / mean |Δ| on 0..1 frames, PSNR). Rows go to ``bench/results/gpu-<date>.json``
(written atomically after every row, so a run stopped by its time limit keeps what it measured).

    python bench/bench_gpu.py                                   # H200: 16/64/160/480 frames, 1+1 steps,
                                                                # and 32 frames at official defaults (50+30)
    python bench/bench_gpu.py --device cpu --size 256 --frames 8,16 --official-frames 8 --tiny
    python bench/bench_gpu.py --compile regional                # adds compile time and steady-state gain
    python bench/bench_gpu.py --workspace conv-workspace.json   # + the calibrated table's prediction
    python bench/bench_gpu.py --check gpu-<date>.json --workspace conv-workspace.json   # CPU only, see below

Identity tokens are random (no ArcFace needed); pass 1 still runs and gives the reference frame.

The memory model's prediction (issue 15, ``svfr_model/diffusion/memory_model.py``) of every row runs on the
CPU in worker processes while the GPU measures (``bench/memory_check.py``; on by default on CUDA at real size):
the conservative workspace term, and the calibrated one with ``--workspace TABLE.json`` (``conv_workspace.py``
writes it). At the end a table puts both beside each measured peak; the check uses the calibrated prediction
when a table is given, else the conservative one, and the bench exits 1 when it differs from the measured peak
by more than ``--tolerance`` (5 %), naming the rows. ``--check RESULTS.json`` does only that, on the CPU, for
the rows of an earlier run (e.g. against the table the same GPU lend recorded after the bench).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from svfr_model.diffusion.memory import estimate_memory  # noqa: E402
sys.path.insert(0, str(REPO / "bench"))  # memory_check, also for the spawned prediction workers
import memory_check  # noqa: E402
from svfr_model.diffusion.presets import PRESETS, preset_options  # noqa: E402

TINY_UNET = dict(block_out_channels=[32, 32, 32, 32], num_attention_heads=[2, 4, 4, 8])
TINY_VAE = dict(block_out_channels=[32, 32, 32, 32])


def build_models(device: torch.device, dtype: str, vae_dtype: str, tiny: bool, seed: int = 0):
    """Random weights on ``device`` (the configs are the real SVD-xt ones unless ``tiny``)."""
    from svfr_model.networks.id_projector import IDProjector
    from svfr_model.weights.models import SVFRModels
    from svfr_model.diffusion.scheduler import default_scheduler_config
    from svfr_model.networks.unet import build_unet, default_unet_config
    from svfr_model.networks.vae import build_vae, default_vae_config

    torch.manual_seed(seed)
    ucfg, vcfg = default_unet_config(), default_vae_config()
    if tiny:
        ucfg.update(TINY_UNET)
        vcfg.update(TINY_VAE)
    unet = build_unet(ucfg, device=device)
    vae = build_vae(vcfg, device=device)
    models = SVFRModels(unet=unet, vae=vae, scheduler_config=default_scheduler_config(),
                        id_projector=IDProjector().eval(), device=device)
    return models.to(device=device, dtype=dtype, vae_dtype=vae_dtype)


def synthetic_frames(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """(n, size, size, 3) in 0..1: a smooth moving blob on a gradient plus mild noise (a face-like clip's
    low-frequency content, deterministic, no video decoder needed)."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    t = torch.arange(n, dtype=torch.float32)[:, None, None]
    cx, cy = 0.2 * torch.sin(t / 7), 0.1 * torch.cos(t / 11)
    blob = torch.exp(-(((xx - cx) / 0.45) ** 2 + ((yy - cy) / 0.6) ** 2))
    base = torch.stack([0.35 + 0.5 * blob, 0.25 + 0.45 * blob, 0.2 + 0.4 * blob + 0.1 * yy], dim=-1)
    return (base + 0.03 * torch.randn((n, size, size, 3), generator=g)).clamp(0, 1)


class UNetTimer:
    """CUDA events around every UNet forward (summed once at the end: no sync per call); wall clock on CPU."""

    def __init__(self, unet, device: torch.device):
        self.unet, self.cuda = unet, device.type == "cuda"
        self.inner = unet.forward
        self.events: list = []
        self.cpu_s = 0.0
        unet.forward = self._forward

    def _forward(self, *a, **k):
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            out = self.inner(*a, **k)
            end.record()
            self.events.append((start, end))
            return out
        t0 = time.perf_counter()
        out = self.inner(*a, **k)
        self.cpu_s += time.perf_counter() - t0
        return out

    def seconds(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
            return sum(s.elapsed_time(e) for s, e in self.events) / 1000.0
        return self.cpu_s

    def reset(self) -> None:
        self.events, self.cpu_s = [], 0.0

    def remove(self) -> None:
        self.unet.forward = self.inner


def compare(out: torch.Tensor, ref: torch.Tensor) -> dict:
    d = (out - ref).abs()
    mse = float((d.double() ** 2).mean())
    psnr = None if mse == 0 else 10 * torch.log10(torch.tensor(1.0 / mse)).item()  # None: identical (JSON has no inf)
    return {"max_abs_diff": float(d.max()), "mean_abs_diff": float(d.mean()), "psnr_db": psnr}


def run_one(models, frames, preset: str, steps: tuple[int, int], device, timer: UNetTimer, seed: int = 77):
    from svfr_model.diffusion.passes import restore_video

    opts = preset_options(preset)
    tokens = torch.randn((49, 1024), generator=torch.Generator().manual_seed(1)) * 0.1
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    timer.reset()
    t0 = time.perf_counter()
    res = restore_video(models, frames, id_tokens=tokens, seed=seed, steps=steps[1], pass1_steps=steps[0], **opts)
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    n, size = frames.shape[0], frames.shape[1]
    est = estimate_memory(height=size, width=size, cfg_batch=1 if opts["cfg_sequential"] else 2,
                          decode_chunk=opts["decode_chunk"], encode_chunk=opts["encode_chunk"],
                          unet_dtype=models.dtype, vae_dtype=models.vae_dtype)
    row = {"preset": preset, "frames": n, "size": size, "steps": f"{steps[0]}+{steps[1]}", "wall_s": wall,
           "unet_dtype": memory_check.dtype_of(models.dtype), "vae_dtype": memory_check.dtype_of(models.vae_dtype),
           "s_per_frame": wall / n, "unet_s": timer.seconds(), "estimate_gb": est.required / 2**30}
    row["unet_share"] = row["unet_s"] / wall
    if device.type == "cuda":
        row["peak_alloc_gb"] = torch.cuda.max_memory_allocated() / 2**30
        row["peak_reserved_gb"] = torch.cuda.max_memory_reserved() / 2**30
    else:
        row["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return row, res.frames


def compile_check(models, device, size: int, mode: str, window: int = 16, calls: int = 10) -> dict:
    """One 16-frame CFG UNet call: eager vs compiled (first call = compile time, then steady state)."""
    from svfr_model.diffusion.speed import compile_unet

    h = size // 8
    x = torch.randn((2, window, 12, h, h), device=device, dtype=models.dtype)
    ctx = torch.randn((2, 49, 1024), device=device, dtype=models.dtype)
    ids = torch.tensor([[1.0, 0.0, 0.0]] * 2, device=device, dtype=models.dtype)
    t = torch.tensor(500.0, device=device)

    def timed(n):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.no_grad():
            for _ in range(n):
                out = models.unet(x, t, encoder_hidden_states=ctx, added_time_ids=ids, return_dict=False)[0]
        if device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - t0) / n, out

    timed(2)
    eager, ref = timed(calls)
    wrapped = compile_unet(models.unet, mode)
    first, _ = timed(1)
    steady, out = timed(calls)
    return {"compile": mode, "modules": wrapped, "eager_call_s": eager, "first_call_s": first,
            "compiled_call_s": steady, "gain": eager / steady, "max_abs_diff": float((out - ref).abs().max()),
            "payback_calls": (first - steady) / max(eager - steady, 1e-9)}


def write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(payload, f, indent=1)
    os.replace(tmp, path)


def table(rows: list[dict]) -> str:
    mem = "peak_alloc_gb" if any("peak_alloc_gb" in r for r in rows) else "peak_rss_gb"
    head = (f"{'preset':>9} {'frames':>6} {'steps':>6} {'wall s':>8} {'s/frame':>8} {'UNet %':>6} "
            f"{'peak GB':>8} {'resv GB':>8} {'est GB':>7} {'max|Δ|':>8} {'mean|Δ|':>8} {'PSNR dB':>8}")
    lines = [head]
    for r in rows:
        resv = r.get("peak_reserved_gb")
        lines.append(
            f"{r['preset']:>9} {r['frames']:>6} {r['steps']:>6} {r['wall_s']:>8.2f} {r['s_per_frame']:>8.3f} "
            f"{100 * r['unet_share']:>6.1f} {r[mem]:>8.2f} {('%.2f' % resv) if resv is not None else '-':>8} "
            f"{r['estimate_gb']:>7.2f} {r.get('max_abs_diff', 0.0):>8.4f} {r.get('mean_abs_diff', 0.0):>8.5f} "
            f"{'same' if r.get('psnr_db') is None else '%.2f' % r['psnr_db']:>8}")
    return "\n".join(lines)


def predict_and_check(rows: list[dict], predictor: "memory_check.Predictor", checked: str, tolerance: float,
                      wait_s: float) -> tuple[int, str]:
    """Attach the predictions to the measured rows (waiting at most ``wait_s`` for the last ones), print the
    comparison table, and return the exit status (1: a row more than ``tolerance`` off) and its lines."""
    deadline = time.monotonic() + wait_s
    measured = [r for r in rows if "error" not in r and "peak_alloc_gb" in r]
    for r in measured:
        case = memory_check.prediction_case(r["preset"], r["frames"], r["size"], r["unet_dtype"], r["vae_dtype"])
        memory_check.attach_prediction(r, predictor.results(case, deadline), checked, tolerance)
    predictor.close()
    rc, lines = memory_check.verdict(measured, tolerance)
    print(f"\nmemory model (CPU, fake tensors, 1+1 steps) beside the measured peak allocated, GiB; checked: "
          f"{checked} within {100 * tolerance:.0f} %")
    print(memory_check.table(measured, tolerance))
    print(lines, flush=True)
    return rc, lines


def check_results(args) -> int:
    """``--check``: the rows of an earlier run against the model's predictions, on the CPU (no GPU)."""
    payload = json.loads(Path(args.check).read_text(encoding="utf-8"))
    meta = payload.get("meta", {})
    specs, checked = memory_check.workspace_labels(args.workspace)
    predictor = memory_check.Predictor(specs, args.predict_workers)
    for r in payload.get("rows", []):
        r.setdefault("size", meta.get("size", args.size))
        r.setdefault("unet_dtype", memory_check.dtype_of(meta.get("unet_dtype", "fp16")))
        r.setdefault("vae_dtype", memory_check.dtype_of(meta.get("vae_dtype", "fp16")))
        if "error" not in r and "peak_alloc_gb" in r:
            predictor.submit(memory_check.prediction_case(r["preset"], r["frames"], r["size"], r["unet_dtype"],
                                                          r["vae_dtype"]))
    print(f"{args.check}: {meta.get('device', '?')}, torch {meta.get('torch', '?')}, "
          f"{len(payload.get('rows', []))} rows")
    rc, lines = predict_and_check(payload.get("rows", []), predictor, checked, args.tolerance, args.predict_wait)
    if args.out:
        payload["prediction"] = {"checked": checked, "workspaces": specs, "tolerance": args.tolerance,
                                 "verdict": lines}
        write_json(args.out, payload)
        print(f"wrote {args.out}")
    return rc


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    finally:  # prediction workers still running (a crash, skipped rows) end now: exit would wait for them
        memory_check.close_all()


def _main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--frames", default="16,64,160,480", help="lengths for the preset runs (1+1 steps)")
    ap.add_argument("--steps", default="1,1", help="pass-1,pass-2 steps of the length runs")
    ap.add_argument("--official-frames", type=int, default=32, help="frames of the 50+30-step run (0: skip)")
    ap.add_argument("--presets", default=",".join(PRESETS))  # the named presets (auto picks one of them)
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--vae-dtype", default="auto")
    ap.add_argument("--tiny", action="store_true", help="tiny parity-size configs instead of the real SVD-xt ones")
    ap.add_argument("--compile", default="off", choices=("off", "regional", "full"))
    ap.add_argument("--no-warmup", dest="warmup", action="store_false", help="skip the untimed warm-up run")
    ap.add_argument("--time-limit", type=float, default=240.0, help="skip the runs left after this many seconds")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--out", type=Path, default=None, help="JSON path (default bench/results/gpu-<date>.json)")
    ap.add_argument("--predict", default="auto", choices=("auto", "on", "off"),
                    help="the memory model's prediction of every row (auto: on CUDA at real size, not --tiny)")
    ap.add_argument("--workspace", default=None, metavar="TABLE.json",
                    help="a calibrated conv workspace table (bench/conv_workspace.py): predicted too, and checked")
    ap.add_argument("--tolerance", type=float, default=memory_check.TOLERANCE,
                    help="largest |predicted - measured| / measured that passes (default 0.05)")
    ap.add_argument("--predict-workers", type=int, default=memory_check.default_workers(),
                    help="CPU processes for the predictions (default: CPUs - 2, at most 8)")
    ap.add_argument("--predict-wait", type=float, default=None,
                    help="seconds to wait after the measurements for predictions still running (default 120; "
                         "--check: no limit)")
    ap.add_argument("--check", default=None, metavar="RESULTS.json",
                    help="no GPU: compare the rows of an earlier run with the predictions and exit")
    args = ap.parse_args(argv)
    if args.predict_wait is None:
        args.predict_wait = 1e9 if args.check else 120.0
    if args.check:
        return check_results(args)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    started = time.perf_counter()
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    out_path = args.out or REPO / "bench" / "results" / f"gpu-{date}.json"
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    meta = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "device": gpu,
            "torch": torch.__version__, "python": platform.python_version(), "size": args.size,
            "tiny": args.tiny, "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])])}
    try:
        import diffusers

        meta["diffusers"] = diffusers.__version__
    except ImportError:
        pass
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    steps = tuple(int(s) for s in args.steps.split(","))
    plan = [(n, steps) for n in (int(f) for f in args.frames.split(",") if f.strip())]
    if args.official_frames:  # first: the run the issue's speed target is about
        plan.insert(0, (args.official_frames, (50, 30)))
    predictor = None
    if args.predict == "on" or (args.predict == "auto" and device.type == "cuda" and not args.tiny):
        from svfr_model.precision import resolve_dtype, resolve_vae_dtype

        specs, checked = memory_check.workspace_labels(args.workspace)
        unet_dt = memory_check.dtype_of(resolve_dtype(args.dtype, device))
        vae_dt = memory_check.dtype_of(resolve_vae_dtype(args.vae_dtype, device))
        predictor = memory_check.Predictor(specs, args.predict_workers)  # CPU processes, running from now on
        for n, _ in plan:
            for preset in presets:
                predictor.submit(memory_check.prediction_case(preset, n, args.size, unet_dt, vae_dt))
        meta["prediction"] = {"workspaces": specs, "checked": checked, "tolerance": args.tolerance,
                              "workers": args.predict_workers}
    t_build = time.perf_counter()
    models = build_models(device, args.dtype, args.vae_dtype, args.tiny)
    meta["build_s"] = time.perf_counter() - t_build
    meta["unet_params"] = sum(p.numel() for p in models.unet.parameters())
    meta["unet_dtype"], meta["vae_dtype"] = str(models.dtype), str(models.vae_dtype)
    print(f"{gpu}: UNet {meta['unet_params'] / 1e9:.3f} B params {models.dtype}, VAE decoder {models.vae_dtype}, "
          f"built in {meta['build_s']:.1f} s", flush=True)
    timer = UNetTimer(models.unet, device)
    if args.warmup:  # kernels selected, allocator warmed, lazy imports done: not timed
        run_one(models, synthetic_frames(4, args.size), presets[0], (1, 1), device, timer)
    rows, skipped = [], []
    payload = {"meta": meta, "rows": rows, "skipped": skipped}
    for n, st in plan:
        frames = synthetic_frames(n, args.size)
        ref = None
        for preset in presets:
            if time.perf_counter() - started > args.time_limit:
                skipped.append({"preset": preset, "frames": n, "steps": f"{st[0]}+{st[1]}"})
                print(f"skipped {preset} {n} frames: time limit {args.time_limit:.0f} s", flush=True)
                continue
            try:
                row, out = run_one(models, frames, preset, st, device, timer)
            except torch.OutOfMemoryError as exc:
                rows.append({"preset": preset, "frames": n, "steps": f"{st[0]}+{st[1]}", "error": str(exc)[:300]})
                print(f"{preset} {n} frames: out of memory: {str(exc)[:200]}", flush=True)
                write_json(out_path, payload)
                continue
            if ref is None:  # the first preset (default) is the reference of its length
                ref = out
            row.update(compare(out, ref))
            rows.append(row)
            write_json(out_path, payload)
            print(table([row]).splitlines()[1], flush=True)
            del out
    timer.remove()
    if args.compile != "off":
        if time.perf_counter() - started > args.time_limit:
            skipped.append({"compile": args.compile})
        else:
            payload["compile"] = compile_check(models, device, args.size, args.compile)
            print(json.dumps(payload["compile"]), flush=True)
    rc = 0
    if predictor is not None:
        rc, meta["prediction"]["verdict"] = predict_and_check(rows, predictor, meta["prediction"]["checked"],
                                                              args.tolerance, args.predict_wait)
    meta["total_s"] = time.perf_counter() - started
    write_json(out_path, payload)
    print(f"\n{meta['device']}, torch {meta['torch']}, {args.size}x{args.size}, UNet {meta['unet_dtype']}, "
          f"VAE decoder {meta['vae_dtype']}\ncommand: {meta['command']}")
    print(table([r for r in rows if "error" not in r]))
    print(f"wrote {out_path} ({meta['total_s']:.0f} s)")
    if predictor is not None:
        print(meta["prediction"]["verdict"])
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
