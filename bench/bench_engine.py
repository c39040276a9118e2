"""Benchmark of the SVFR engine on the tiny-weight parity model: wall time and peak memory vs. video length.

Each configuration runs in a FRESH subprocess (peak RSS via resource.getrusage is per process and never
goes down), restoring N random 64x64 frames with few steps, with and without the pass-1 CFG skip.
Printed: wall time of restore_video, UNet calls (and frames pushed through the UNet: the CFG skip halves
pass 1's batch), peak RSS, peak RSS minus the frame buffers (input and output (N, H, W, 3) float32 tensors,
which necessarily scale with N), and ratios against the first row. Skip/no-skip runs are interleaved and
repeated (--repeats, minimum wall time kept) because the machine may be shared. The children run with
MALLOC_MMAP_THRESHOLD_=131072 so that freed large buffers go back to the OS: peak RSS then measures live
memory rather than glibc heap fragmentation (which otherwise grows with the NUMBER of UNet calls).

    .venv/bin/python bench/bench_engine.py [--frames 40 160 400] [--steps 2] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODELS = Path(os.environ.get("SVFR_PARITY_DIR") or REPO / "tests" / "fixtures" / "svfr_parity") / "models"


def child(args: argparse.Namespace) -> None:
    import resource
    import time

    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(REPO))
    from svfr_model.weights.models import load_svfr_models
    from svfr_model.diffusion.passes import restore_video

    models = load_svfr_models(args.models)
    g = torch.Generator().manual_seed(0)
    frames = torch.rand((args.n, args.size, args.size, 3), generator=g)
    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    calls = {"n": 0}

    def progress(done, total, preview):
        calls["total"] = total
        if preview is None:
            calls["n"] += 1

    # frames through the UNet = window x CFG batch, summed over calls
    unet_frames = {"n": 0}
    orig_forward = models.unet.forward

    def counting_forward(sample, *a, **k):
        unet_frames["n"] += sample.shape[0] * sample.shape[1]
        return orig_forward(sample, *a, **k)

    models.unet.forward = counting_forward

    t0 = time.perf_counter()
    out = restore_video(models, frames, steps=args.steps, pass1_steps=args.steps, id_tokens=torch.zeros(49, 1024),
                        progress=progress, skip_equal_uncond=not args.no_skip)
    wall = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert torch.isfinite(out.frames).all()
    frame_bytes = 2 * frames.numel() * 4  # input + output float32 buffers
    print(json.dumps({"n": args.n, "skip": not args.no_skip, "wall": wall, "unet_calls": calls["n"], "unet_frames": unet_frames["n"],
                      "peak_mb": peak_kb / 1024, "base_mb": base_kb / 1024, "frames_mb": frame_bytes / 2**20}))


def pass1_child(args: argparse.Namespace) -> None:
    """Pass 1 alone (16 frames, window 16), with and without the CFG skip, alternated in one process."""
    import time

    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(REPO))
    from svfr_model.weights.models import load_svfr_models
    from svfr_model.diffusion.sampler import PassConfig, run_pass
    from svfr_model.diffusion.scheduler import make_schedule

    models = load_svfr_models(args.models)
    frames = torch.rand((16, 3, args.size, args.size), generator=torch.Generator().manual_seed(0)) * 2 - 1
    best = {True: float("inf"), False: float("inf")}
    for _ in range(args.repeats + 1):
        for skip in (True, False):
            cfg = PassConfig(schedule=make_schedule(models.scheduler_config, args.pass1_steps), window=16,
                             skip_uncond_when_equal=skip)
            t0 = time.perf_counter()
            run_pass(models, lambda a, b: frames[a:b], 16, task_bits=(1, 0, 0), config=cfg,
                     generator=torch.Generator().manual_seed(1))
            best[skip] = min(best[skip], time.perf_counter() - t0)
    print(json.dumps({"skip": best[True], "noskip": best[False]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, nargs="+", default=[40, 160, 400])
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--models", type=Path, default=DEFAULT_MODELS)
    ap.add_argument("--pass1-steps", type=int, default=8, help="steps of the pass-1-only comparison")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--pass1-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=40, help=argparse.SUPPRESS)
    ap.add_argument("--no-skip", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    if args.pass1_child:
        pass1_child(args)
        return
    if not (args.models / "face_restoration" / "unet.pth").is_file():
        sys.exit(f"tiny models not found in {args.models} (build them: python scripts/make_test_models.py "
                 "--parity-weights-only, or set SVFR_PARITY_DIR)")
    rows = []
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "MALLOC_MMAP_THRESHOLD_": "131072"}
    for n in args.frames:
        best = {}
        for _ in range(args.repeats):
            for skip in (True, False):
                cmd = [sys.executable, __file__, "--child", "--n", str(n), "--steps", str(args.steps),
                       "--size", str(args.size), "--threads", str(args.threads), "--models", str(args.models)]
                if not skip:
                    cmd.append("--no-skip")
                res = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if res.returncode != 0:
                    sys.exit(f"benchmark child failed ({' '.join(cmd)}):\n{res.stderr[-3000:]}")
                r = json.loads(res.stdout.strip().splitlines()[-1])
                if skip not in best or r["wall"] < best[skip]["wall"]:
                    best[skip] = r
        rows += [best[True], best[False]]
    print(f"SVFR engine, tiny parity model, {args.size}x{args.size} frames, {args.steps}+{args.steps} steps, "
          f"torch threads {args.threads}; each row a fresh process")
    print(f"{'frames':>6} {'pass-1 CFG skip':>15} {'UNet calls':>10} {'UNet frames':>11} {'wall s':>8} {'s/frame':>8} "
          f"{'peak RSS MB':>11} {'- frame bufs':>12} {'mem ratio':>9} {'time vs no-skip':>15}")
    by = {(r["n"], r["skip"]): r for r in rows}
    first = {s: by[(args.frames[0], s)] for s in (True, False)}
    for r in rows:
        net = r["peak_mb"] - r["frames_mb"]
        f0 = first[r["skip"]]
        ratio = net / (f0["peak_mb"] - f0["frames_mb"])
        other = by[(r["n"], not r["skip"])]
        tvs = f"{r['wall'] / other['wall']:.2f}" if r["skip"] else "1.00"
        print(f"{r['n']:>6} {'yes' if r['skip'] else 'no':>15} {r['unet_calls']:>10} {r['unet_frames']:>11} {r['wall']:>8.2f} "
              f"{r['wall'] / r['n']:>8.3f} {r['peak_mb']:>11.1f} {net:>12.1f} {ratio:>9.3f} {tvs:>15}")

    cmd = [sys.executable, __file__, "--pass1-child", "--size", str(args.size), "--threads", str(args.threads),
           "--repeats", str(args.repeats), "--pass1-steps", str(args.pass1_steps), "--models", str(args.models)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        sys.exit(f"benchmark child failed:\n{res.stderr[-3000:]}")
    p1 = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"pass 1 alone (16 frames, {args.pass1_steps} steps, best of {args.repeats + 1}, alternated in one process): "
          f"CFG skip {p1['skip']:.2f} s, both halves {p1['noskip']:.2f} s, ratio {p1['skip'] / p1['noskip']:.2f}")


if __name__ == "__main__":
    main()
