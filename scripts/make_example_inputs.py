"""Make the example workflows' input files from material we may ship: scikit-image's astronaut photo
(Eileen Collins, NASA, public domain). Writes into ``example_inputs/`` (shipped; the pack copies them into
ComfyUI's input folder when missing):

* ``svfr_example.mp4``: 960x540, 25 fps, 2.4 s. Two faces side by side on a textured background: the
  astronaut on the left (the larger one) and her mirror image on the right, each moving a little (pan,
  zoom, rotation), then degraded like an old video (downscale, blur, noise, JPEG). AAC audio track (a
  soft two-tone chord) so the templates that keep the audio have one.
* ``svfr_example_mask.png``: a frame-space inpainting mask (white = fill) over the left face's mouth,
  for Load Image (as Mask).
* ``svfr_example_reference.png``: a clean portrait of the same person (not the crop size, so the sampler
  detects and aligns it like the video's crops), for the reference-photo template.

Deterministic (fixed seeds). ``python scripts/make_example_inputs.py [DEST]``; needs scikit-image (a dev
dependency), numpy, opencv, PyAV and Pillow. Every file is written to a temporary name and renamed.
"""
from __future__ import annotations

import argparse
import os
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DEST = REPO / "example_inputs"

CANVAS_W, CANVAS_H = 960, 540
FPS = 25
N_FRAMES = 60  # 2.4 s
AUDIO_RATE = 48000
VIDEO_NAME = "svfr_example.mp4"
MASK_NAME = "svfr_example_mask.png"
REFERENCE_NAME = "svfr_example_reference.png"
SHIPPED = (VIDEO_NAME, MASK_NAME, REFERENCE_NAME)

# the astronaut's head in skimage's 512x512 photo: centre and side of the square shown in each window
# (RetinaFace finds her face box at about (178, 57)-(273, 177))
HEAD_CENTER = (225.0, 118.0)
HEAD_SIDE = 230.0
MOUTH = (226.0, 160.0)  # her mouth, in the photo
# (x, y, size) of each face window on the canvas, and whether its content is mirrored; the left one is the
# larger face. Room around them: a crop box reaches past the window and must leave background to compare.
WINDOWS = [(60, 120, 300, False), (600, 150, 240, True)]
FACE_BOXES = [(x, y, x + s, y + s) for (x, y, s, _) in WINDOWS]


def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()  # (512, 512, 3) uint8 RGB


def background() -> np.ndarray:
    """Static, textured (not flat) background so an unwanted change outside the faces shows."""
    yy, xx = np.mgrid[0:CANVAS_H, 0:CANVAS_W].astype(np.float32)
    r = 60 + 50 * (xx / CANVAS_W) + 20 * np.sin(yy / 9.0)
    g = 90 + 40 * (yy / CANVAS_H) + 20 * np.sin(xx / 13.0)
    b = 120 + 30 * np.sin((xx + yy) / 21.0)
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


def window_affine(i: int, size: int, mirror: bool) -> np.ndarray:
    """2x3 map photo -> window for frame i: the head square, slowly panned, zoomed and rotated."""
    import cv2

    t = i / N_FRAMES
    phase = 1.7 if mirror else 0.0
    zoom = 1.0 + 0.06 * np.sin(2 * np.pi * t + phase)
    angle = 4.0 * np.sin(2 * np.pi * 0.8 * t + phase)  # degrees
    shift = np.array([0.03 * np.sin(2 * np.pi * t + phase), 0.02 * np.cos(2 * np.pi * t + phase)]) * size
    scale = size / HEAD_SIDE * zoom
    M = cv2.getRotationMatrix2D(HEAD_CENTER, angle, scale)
    M[:, 2] += np.array([size / 2.0, size / 2.0]) + shift - np.array(HEAD_CENTER)
    if mirror:  # x -> size - x
        M = np.array([[-1.0, 0.0, size], [0.0, 1.0, 0.0]]) @ np.vstack([M, [0, 0, 1]])
    return M


def clean_frame(photo: np.ndarray, bg: np.ndarray, i: int) -> np.ndarray:
    import cv2

    frame = bg.copy()
    for x, y, s, mirror in WINDOWS:
        frame[y:y + s, x:x + s] = cv2.warpAffine(photo, window_affine(i, s, mirror), (s, s),
                                                 flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return frame


def degrade(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An old, low-quality video frame: 1/3 resolution, blur, sensor noise, JPEG at quality 35."""
    import cv2

    h, w = frame.shape[:2]
    small = cv2.resize(frame, (w // 3, h // 3), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 0.8)
    up = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    noisy = np.clip(up + rng.normal(0.0, 5.0, up.shape), 0, 255).astype(np.uint8)
    ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(noisy, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 35])
    assert ok
    return cv2.cvtColor(cv2.imdecode(jpg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def example_frames(n: int = N_FRAMES) -> list[np.ndarray]:
    photo, bg = astronaut(), background()
    rng = np.random.default_rng(2025)
    return [degrade(clean_frame(photo, bg, i), rng) for i in range(n)]


def noface_frames(n: int) -> list[np.ndarray]:
    """Same canvas, no face: a moving coloured block (for the pass-through case)."""
    bg = background()
    frames = []
    for i in range(n):
        f = bg.copy()
        x = 40 + 12 * i
        f[200:280, x:x + 80] = (200, 60, 40)
        frames.append(f)
    return frames


def chord(n_samples: int) -> np.ndarray:
    """(2, n) float32 stereo: 220 + 330 Hz, faded in and out (no click)."""
    t = np.arange(n_samples) / AUDIO_RATE
    wave = 0.12 * np.sin(2 * np.pi * 220.0 * t) + 0.08 * np.sin(2 * np.pi * 330.0 * t)
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.05) if n_samples else t
    return np.tile((wave * fade).astype(np.float32), (2, 1))


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")


def write_video(path: Path, frames: list[np.ndarray], fps: int = FPS, audio: bool = True, crf: int = 10) -> None:
    """H.264 (yuv420p) + AAC stereo covering the clip's duration; written to a temporary name, renamed."""
    import av

    tmp = _tmp(path)
    try:
        with av.open(str(tmp), "w", format="mp4") as c:
            vs = c.add_stream("libx264", rate=fps)
            vs.width, vs.height, vs.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
            vs.options = {"crf": str(crf), "preset": "slow"}
            stream_a = None
            if audio:
                stream_a = c.add_stream("aac", rate=AUDIO_RATE)
                stream_a.layout = "stereo"
                stream_a.bit_rate = 64000
            for f in frames:
                for pkt in vs.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                    c.mux(pkt)
            for pkt in vs.encode():
                c.mux(pkt)
            if stream_a is not None:
                samples = chord(int(round(len(frames) / fps * AUDIO_RATE)))
                for i in range(0, samples.shape[1], 1024):
                    af = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, i:i + 1024]), format="fltp",
                                                    layout="stereo")
                    af.sample_rate, af.pts, af.time_base = AUDIO_RATE, i, Fraction(1, AUDIO_RATE)
                    for pkt in stream_a.encode(af):
                        c.mux(pkt)
                for pkt in stream_a.encode():
                    c.mux(pkt)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _save_png(path: Path, image) -> None:
    tmp = _tmp(path)
    try:
        image.save(tmp, format="PNG", optimize=True)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_mask(path: Path) -> None:
    """White ellipse over the left face's mouth and chin, generous enough for the face's motion; black elsewhere."""
    import cv2
    from PIL import Image

    x, y, s, mirror = WINDOWS[0]
    pts = [window_affine(i, s, mirror) @ np.array([*MOUTH, 1.0]) for i in range(N_FRAMES)]
    cx, cy = np.mean(pts, axis=0) + (x, y)
    mask = np.zeros((CANVAS_H, CANVAS_W), np.uint8)
    cv2.ellipse(mask, (int(round(cx)), int(round(cy))), (int(0.22 * s), int(0.14 * s)), 0, 0, 360, 255, -1)
    _save_png(path, Image.fromarray(mask, "L"))


def write_reference(path: Path) -> None:
    """A clean 384x448 portrait of the astronaut (head and shoulders): a user's good photo of the person."""
    from PIL import Image

    cx, cy = HEAD_CENTER
    box = (int(cx - 120), 0, int(cx + 120), 280)  # 240x280, the photo's top edge above her hair
    _save_png(path, Image.fromarray(astronaut()).crop(box).resize((384, 448), Image.LANCZOS))


def make_all(dest: Path = DEFAULT_DEST) -> dict[str, Path]:
    dest.mkdir(parents=True, exist_ok=True)
    out = {"video": dest / VIDEO_NAME, "mask": dest / MASK_NAME, "reference": dest / REFERENCE_NAME}
    write_video(out["video"], example_frames(), crf=23)
    write_mask(out["mask"])
    write_reference(out["reference"])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dest", type=Path, nargs="?", default=DEFAULT_DEST)
    args = ap.parse_args(argv)
    for key, path in make_all(args.dest).items():
        print(f"{key}: {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
