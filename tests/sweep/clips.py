"""Short clips that stress the edges of the input space, written as real video files (PyAV).

Each clip is a file a user could load with core Load Video: frame counts 1, 2 and 17; 64 px and odd-sized
frames; portrait; a display rotation; variable frame rate; 10-bit and grayscale pixel formats; a face cut by
the frame border; two faces touching. ``reference_with_alpha`` is an RGBA photo for the ``reference`` inputs.
The face is scikit-image's astronaut (tests/testdata.py), which the embedded detector finds.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

BACKGROUND = 70


@dataclass(frozen=True)
class Clip:
    name: str
    path: Path
    why: str            # what edge it stresses (the docs table says it)
    faces: int = 1      # faces a user would expect to be found


def face(size: int) -> np.ndarray:
    """The test face, ``size`` px square, uint8 RGB: the astronaut's head, the face about 40 % of the width
    (the detector finds it down to 64 px frames)."""
    import cv2
    from testdata import astronaut

    return cv2.resize(astronaut()[10:250, 105:345], (size, size), interpolation=cv2.INTER_AREA)


def tight_face(width: int) -> np.ndarray:
    """The face alone (its detector box and a small margin), ``width`` px wide, 5:4 tall."""
    import cv2
    from testdata import astronaut

    return cv2.resize(astronaut()[50:200, 160:280], (width, width * 5 // 4), interpolation=cv2.INTER_AREA)


def _canvas(n: int, h: int, w: int, size: int, top: int, left: int, step: int = 2) -> np.ndarray:
    """``n`` frames with the face at (top, left) moving ``step`` px right per frame, cut by the border."""
    out = np.full((n, h, w, 3), BACKGROUND, np.uint8)
    f = face(size)
    for i in range(n):
        y, x = top, left + step * i
        ys, xs = slice(max(y, 0), min(y + size, h)), slice(max(x, 0), min(x + size, w))
        out[i, ys, xs] = f[ys.start - y:ys.stop - y, xs.start - x:xs.stop - x]
    return out


def _write(path: Path, frames: np.ndarray, *, codec: str = "libx264", pix_fmt: str = "yuv420p", rate: int = 25,
           pts=None, rotation: int = 0) -> Path:
    """Encode ``frames`` (uint8 RGB) as given: pixel format, timestamps (time base 1/rate) and rotation."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = pix_fmt
        stream.codec_context.time_base = Fraction(1, rate)
        if rotation:
            stream.set_display_rotation(rotation)
        for i, arr in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24").reformat(format=pix_fmt)
            frame.pts = int(pts[i]) if pts is not None else i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def make_clips(folder: Path) -> dict[str, Clip]:
    """Every edge clip, written into ``folder`` (a few KB each, < 1 s in all)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    clips = {}

    def add(name: str, why: str, frames: np.ndarray, suffix: str = ".mp4", faces: int = 1, **encode):
        clips[name] = Clip(name, _write(folder / f"{name.replace(' ', '_')}{suffix}", frames, **encode), why, faces)

    add("2 frames", "the base clip of the widget sweep", _canvas(2, 112, 112, 80, 16, 14))
    add("1 frame", "a single frame: one UNet frame, no temporal neighbours", _canvas(1, 112, 112, 80, 16, 16))
    add("17 frames", "one frame more than the default window: a second window of 1 frame",
        _canvas(17, 112, 112, 80, 16, 0, step=1))
    add("64 px", "frames of the smallest crop size", _canvas(2, 64, 64, 56, 4, 4))
    add("odd size", "97x75 frames (odd: no 4:2:0 chroma; stored as RGB)",
        _canvas(2, 75, 97, 60, 8, 16), codec="libx264rgb", pix_fmt="rgb24")
    add("portrait", "taller than wide (96x160)", _canvas(2, 160, 96, 72, 40, 10))
    upright = _canvas(2, 128, 96, 72, 28, 10)
    # shown = np.rot90(stored, rotation / 90): the display matrix turns counter-clockwise (PyAV, FFmpeg)
    add("rotated", "stored sideways with a 90 degree display rotation (phone video)",
        np.ascontiguousarray(np.rot90(upright, k=-1, axes=(1, 2))), rotation=90)
    add("variable frame rate", "timestamps 0,1,3,4,8,9 (1/25 s): frames not evenly spaced",
        _canvas(6, 112, 112, 80, 16, 8), pts=[0, 1, 3, 4, 8, 9])
    add("10-bit", "yuv420p10le (High 10)", _canvas(2, 112, 112, 80, 16, 14), pix_fmt="yuv420p10le")
    gray = _canvas(2, 112, 112, 80, 16, 14).mean(-1, keepdims=True).round().astype(np.uint8).repeat(3, -1)
    add("grayscale", "a gray pixel format (FFV1 gray in Matroska): the colorization input", gray, suffix=".mkv",
        codec="ffv1", pix_fmt="gray")
    add("face at border", "a face cut by the left frame border (40 % outside)", _canvas(2, 112, 112, 80, 16, -32))
    two = np.full((2, 120, 160, 3), BACKGROUND, np.uint8)
    one = tight_face(60)
    two[:, 10:85, 20:80] = one
    two[:, 10:85, 80:140] = one[:, ::-1]  # a mirrored twin, touching the first (boxes ~10 px apart)
    add("two faces touching", "two faces side by side, nothing between them", two, faces=2)
    return clips


def reference_with_alpha() -> np.ndarray:
    """An RGBA photo (160x128) of the face, alpha 0 outside an ellipse: float 0..1, (1, H, W, 4) IMAGE."""
    import cv2

    rgb = np.full((160, 128, 3), BACKGROUND, np.uint8)
    rgb[20:140, 4:124] = face(120)
    alpha = np.zeros((160, 128), np.uint8)
    cv2.ellipse(alpha, (64, 80), (60, 76), 0, 0, 360, 255, -1)
    return np.concatenate([rgb, alpha[..., None]], -1)[None].astype(np.float32) / 255.0


__all__ = ["Clip", "face", "make_clips", "reference_with_alpha"]
