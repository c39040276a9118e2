"""Short clips with a face for the batch tests and bench/bench_batch.py (tiny models, 32 px crops).

    from batchdata import FAST, write_clip, face_clip_frames, decode_frames
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

# restore's flags for tiny models: one step, small windows, exact (lossless) output
FAST = ["--size", "32", "--steps", "1", "--pass1-steps", "1", "--window", "4", "--overlap", "1",
        "--decode-chunk", "3", "--quiet", "--lossless"]


def face_clip_frames(n: int, *, shift: int = 0, face: bool = True) -> np.ndarray:
    """n frames 112x224: the astronaut's face at the left, moving right by 1 px a frame (none: ``face=False``)."""
    import cv2

    from testdata import astronaut

    out = np.full((n, 112, 224, 3), 60 + 10 * shift, np.uint8)
    if face:
        img = cv2.resize(astronaut()[:400, 40:440], (90, 90), interpolation=cv2.INTER_AREA)
        for i in range(n):
            x = 8 + (i + shift) % 8
            out[i, 10:100, x:x + 90] = img
    return out


def write_clip(path: Path, frames: np.ndarray, fps: int = 25) -> Path:
    """Lossless RGB H.264 (exact pixels)."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264rgb", rate=fps, options={"qp": "0", "preset": "ultrafast"})
        vs.width, vs.height, vs.pix_fmt = frames.shape[2], frames.shape[1], "rgb24"
        for f in frames:
            for p in vs.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    return path


def decode_frames(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])])


def make_batch_inputs(folder: Path, lengths=(5, 6, 7, 8), broken: bool = True) -> list[Path]:
    """len(lengths) clips (the last in a sub-folder) and a broken file; the clips' paths."""
    folder = Path(folder)
    clips = []
    for i, n in enumerate(lengths):
        sub = folder / "sub" if i == len(lengths) - 1 and i else folder
        clips.append(write_clip(sub / f"clip{i}.mp4", face_clip_frames(n, shift=i)))
    if broken:
        (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not a video" * 200)
    return clips
