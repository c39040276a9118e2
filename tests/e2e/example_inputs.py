"""Inputs for the example workflows, made from the real demo clips (no download).

* ``svfr_example.mp4``: a 16:9 960x540 clip with two real faces side by side (``lq3.mp4`` on the
  left, ``lq1.mp4`` on the right, both resized) over a static textured background, 25 fps, with a
  440 Hz sine audio track (AAC).
* ``svfr_example_noface.mp4``: same canvas and audio, no face (a moving coloured block).
* ``svfr_example_mask.png``: the demo inpainting mask placed where the left face is on the canvas
  (white = fill), for LoadImageMask.
* ``svfr_example_reference.png``: a frame of the left face at 512x512, as a user's reference photo.

``FACE_BOXES`` gives where each face clip sits on the canvas: tests compare pixels outside them.
Usable as a script: ``python tests/e2e/example_inputs.py DEST_DIR [--frames N]``.
"""
from __future__ import annotations

import argparse
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

CANVAS_W, CANVAS_H = 960, 540
FPS = 25
AUDIO_RATE = 48000
VIDEO_NAME = "svfr_example.mp4"
NOFACE_NAME = "svfr_example_noface.mp4"
MASK_NAME = "svfr_example_mask.png"
REFERENCE_NAME = "svfr_example_reference.png"
# frames of the clips the e2e tests make (few: every frame costs VAE work at 512x512 on CPU)
E2E_FRAMES = int(os.environ.get("SVFR_E2E_FRAMES", "4"))
# (x, y, size) of each square source clip on the canvas
# (room around them: a crop box larger than the clip must still leave background to compare)
PLACEMENTS = {"lq3.mp4": (60, 120, 300), "lq1.mp4": (600, 150, 240)}
FACE_BOXES = [(x, y, x + s, y + s) for (x, y, s) in PLACEMENTS.values()]


def background() -> np.ndarray:
    """Static, textured (not flat) background so an unwanted change outside the faces shows."""
    yy, xx = np.mgrid[0:CANVAS_H, 0:CANVAS_W].astype(np.float32)
    r = 60 + 50 * (xx / CANVAS_W) + 20 * np.sin(yy / 9.0)
    g = 90 + 40 * (yy / CANVAS_H) + 20 * np.sin(xx / 13.0)
    b = 120 + 30 * np.sin((xx + yy) / 21.0)
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


def _read_frames(path: Path, n: int, size: int) -> list[np.ndarray]:
    import av
    from PIL import Image

    out = []
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            img = frame.to_image().convert("RGB").resize((size, size), Image.BICUBIC)
            out.append(np.asarray(img))
            if len(out) == n:
                break
    if len(out) < n:
        raise ValueError(f"{path} has only {len(out)} frames, {n} wanted")
    return out


def _sine(n_samples: int, channels: int = 2) -> np.ndarray:
    t = np.arange(n_samples) / AUDIO_RATE
    return np.tile((0.2 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32), (channels, 1))


def write_video(path: Path, frames: list[np.ndarray], fps: int = FPS, audio: bool = True) -> None:
    """H.264 (near lossless, crf 10) + AAC sine covering the clip's duration."""
    import av

    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        vs.options = {"crf": "10"}
        stream_a = None
        if audio:
            stream_a = c.add_stream("aac", rate=AUDIO_RATE)
            stream_a.layout = "stereo"
        for f in frames:
            for pkt in vs.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in vs.encode():
            c.mux(pkt)
        if stream_a is not None:
            samples = _sine(int(len(frames) / fps * AUDIO_RATE))
            chunk = 1024
            for i in range(0, samples.shape[1], chunk):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, i:i + chunk]), format="fltp",
                                                layout="stereo")
                af.sample_rate = AUDIO_RATE
                af.pts = i
                af.time_base = Fraction(1, AUDIO_RATE)
                for pkt in stream_a.encode(af):
                    c.mux(pkt)
            for pkt in stream_a.encode():
                c.mux(pkt)


def multiface_frames(demo_dir: Path, n: int) -> list[np.ndarray]:
    clips = {name: _read_frames(demo_dir / name, n, s) for name, (_, _, s) in PLACEMENTS.items()}
    bg = background()
    frames = []
    for i in range(n):
        f = bg.copy()
        for name, (x, y, s) in PLACEMENTS.items():
            f[y:y + s, x:x + s] = clips[name][i]
        frames.append(f)
    return frames


def noface_frames(n: int) -> list[np.ndarray]:
    bg = background()
    frames = []
    for i in range(n):
        f = bg.copy()
        x = 40 + 12 * i
        f[200:280, x:x + 80] = (200, 60, 40)
        frames.append(f)
    return frames


def write_mask(demo_dir: Path, path: Path) -> None:
    """The demo mask (white = region to fill) placed over the left face on a black canvas, as L."""
    from PIL import Image

    x, y, s = PLACEMENTS["lq3.mp4"]
    m = Image.open(demo_dir / "lq3_mask.png").convert("L").resize((s, s), Image.NEAREST)
    canvas = Image.new("L", (CANVAS_W, CANVAS_H), 0)
    canvas.paste(m, (x, y))
    canvas.save(path)


def write_reference(demo_dir: Path, path: Path) -> None:
    from PIL import Image

    frame = _read_frames(demo_dir / "lq3.mp4", 30, 512)[-1]
    Image.fromarray(frame).save(path)


def make_all(demo_dir: Path, dest: Path, frames: int) -> dict[str, Path]:
    dest.mkdir(parents=True, exist_ok=True)
    out = {"video": dest / VIDEO_NAME, "noface": dest / NOFACE_NAME, "mask": dest / MASK_NAME,
           "reference": dest / REFERENCE_NAME}
    write_video(out["video"], multiface_frames(demo_dir, frames))
    write_video(out["noface"], noface_frames(frames))
    write_mask(demo_dir, out["mask"])
    write_reference(demo_dir, out["reference"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dest", type=Path)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--demo-dir", type=Path, default=Path(os.environ.get(
        "SVFR_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared")) / "fixtures" / "svfr_demo")
    args = ap.parse_args()
    for k, p in make_all(args.demo_dir, args.dest, args.frames).items():
        print(k, p)


if __name__ == "__main__":
    main()
