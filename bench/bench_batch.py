#!/usr/bin/env python
"""Batch throughput (videos per hour) with 1 and 2 workers on this machine, and the journal's cost per video.

Inputs: N short clips with a face (tests/batchdata.py: 112x224, the astronaut's face moving), tiny test
models (scripts/make_test_models.py) at 32 px crops with 1 + 1 steps, lossless output: the model is a small
part of each video here, so the numbers show what the batch machinery adds around it (decode, detection,
paste-back, encode, scheduling), not SVFR's real cost. Each mode runs ``python -m svfr_model batch`` in its
own subprocess with one torch thread per worker:

- ``local``: no cluster, one video after another in the driver;
- ``ray1`` / ``ray2``: ``--ray local`` (a Ray instance started for the run on this machine, on loopback),
  ``--workers 1|2 --cpus-per-worker 1``.

Wall time includes start-up (Ray's start, each actor loading the models); ``steady`` is videos per hour from
the workers' busy time alone (frames per second per worker, summed). The journal's overhead is timed apart:
its writes for one video (queue, start, done: three transactions) and a rerun's check (the quick input hash
and the row lookup), over ``--journal-videos`` rows in a temporary folder.

    .venv/bin/python bench/bench_batch.py [--videos 8] [--frames 16] [--modes local ray1 ray2] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
MODES = {"local": [], "ray1": ["--ray", "local", "--workers", "1", "--cpus-per-worker", "1"],
         "ray2": ["--ray", "local", "--workers", "2", "--cpus-per-worker", "1"]}


def test_models() -> Path:
    spec_path = ROOT / "scripts" / "make_test_models.py"
    import importlib.util

    spec = importlib.util.spec_from_file_location("svfr_make_test_models", spec_path)
    mtm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mtm)
    cache = Path(os.environ.get("SVFR_CACHE_DIR", ROOT / ".cache"))
    out = Path(os.environ.get("SVFR_TEST_MODELS", cache / "test_models"))
    mtm.build(out, quiet=True)
    return out / "svfr"


def run_mode(mode: str, src: Path, out: Path, models: Path) -> dict:
    from batchdata import FAST

    env = dict(os.environ, OMP_NUM_THREADS="1", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0",
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    cmd = [sys.executable, "-m", "svfr_model", "batch", str(src), "--out", str(out), "--models", str(models), *FAST,
           "--json", *MODES[mode]]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.monotonic() - start
    load = os.getloadavg()[0]  # the machine is shared: what else ran meanwhile
    if proc.returncode != 0:
        sys.exit(f"{mode} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout)
    videos = result["counts"]["done"]
    frames = sum(v["frames"] or 0 for v in result["videos"])
    busy_rate = sum(w["frames"] / w["seconds"] for w in result["workers"] if w["seconds"])  # frames/s, all workers
    per_video = frames / max(videos, 1)
    return {"mode": mode, "videos": videos, "frames": frames, "wall_s": round(wall, 2),
            "videos_per_hour": round(videos / wall * 3600, 1),
            "steady_videos_per_hour": round(busy_rate / per_video * 3600, 1) if busy_rate else None,
            "load_average_1min_after": round(load, 2), "workers": result["workers"]}


def journal_overhead(n: int) -> dict:
    from svfr_model.batch.journal import Journal, decide, file_digest

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "input.bin"
        src.write_bytes(os.urandom(8 << 20))  # 8 MiB: the quick hash reads 3 MiB of it, as of any large file
        with Journal(tmp / "out") as j:
            j.begin_run("bench")
            t0 = time.perf_counter()
            for i in range(n):
                vid = j.queue(f"v{i}.mp4", str(src), "i", "o")
                j.start(vid, 1, "w0")
                j.done(vid, frames=100, seconds=1.0, worker="w0")
            writes = (time.perf_counter() - t0) / n
            t0 = time.perf_counter()
            for i in range(n):
                decide(j.row(f"v{i}.mp4"), file_digest(src), "o", True)
            check = (time.perf_counter() - t0) / n
    return {"videos": n, "writes_ms_per_video": round(writes * 1e3, 3), "rerun_check_ms_per_video": round(check * 1e3, 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    ap.add_argument("--journal-videos", type=int, default=500)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    from batchdata import face_clip_frames, write_clip

    models = test_models()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for i in range(args.videos):
            write_clip(tmp / "in" / f"v{i:03d}.mp4", face_clip_frames(args.frames, shift=i))
        for mode in args.modes:
            rows.append(run_mode(mode, tmp / "in", tmp / f"out-{mode}", models))
            print(f"{mode}: {rows[-1]['videos_per_hour']} videos/h (wall {rows[-1]['wall_s']} s)", file=sys.stderr)
    journal = journal_overhead(args.journal_videos)
    by = {r["mode"]: r for r in rows}
    ratio = (round(by["ray2"]["videos_per_hour"] / by["ray1"]["videos_per_hour"], 2)
             if "ray1" in by and "ray2" in by else None)
    steady_ratio = (round(by["ray2"]["steady_videos_per_hour"] / by["ray1"]["steady_videos_per_hour"], 2)
                    if ratio and by["ray1"]["steady_videos_per_hour"] and by["ray2"]["steady_videos_per_hour"] else None)
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores; {args.videos} videos x {args.frames} frames, "
          "tiny models, 1 torch thread per worker\n")
    print("| mode | videos/h (wall, incl. start-up) | videos/h (workers' busy time) | wall s | load avg after |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['mode']} | {r['videos_per_hour']} | {r['steady_videos_per_hour']} | {r['wall_s']} | "
              f"{r['load_average_1min_after']} |")
    print(f"\n2 workers / 1 worker: {ratio} (wall), {steady_ratio} (busy time)")
    print(f"journal: {journal['writes_ms_per_video']} ms of writes per video (3 transactions), "
          f"{journal['rerun_check_ms_per_video']} ms per video to check it on a rerun (quick hash + lookup)")
    if args.json:
        args.json.write_text(json.dumps({"modes": rows, "ratio_2_to_1": ratio, "steady_ratio_2_to_1": steady_ratio,
                                         "journal": journal, "videos": args.videos, "frames": args.frames,
                                         "cores": os.cpu_count()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
