"""The example workflows' inputs for the e2e tests: the files the repository ships in ``example_inputs/``
(made by ``scripts/make_example_inputs.py`` from scikit-image's astronaut), so the tests run what a user
gets, on a fresh clone with nothing beside it.

* ``svfr_example.mp4``: 960x540, 25 fps, two degraded faces in fixed windows (``FACE_BOXES``; the left one
  is the larger), AAC audio. The tests keep its first ``E2E_FRAMES`` frames (every frame costs VAE work).
* ``svfr_example_mask.png``, ``svfr_example_reference.png``: copied as shipped.
* ``svfr_example_noface.mp4`` (tests only, not shipped): same canvas and audio, no face.

Usable as a script: ``python tests/e2e/example_inputs.py DEST_DIR [--frames N]``.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHIPPED_DIR = REPO / "example_inputs"


def _load_maker():
    """scripts/make_example_inputs.py as a module (scripts/ is not a package)."""
    name = "svfr_make_example_inputs"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / "make_example_inputs.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


maker = _load_maker()
CANVAS_W, CANVAS_H, FPS = maker.CANVAS_W, maker.CANVAS_H, maker.FPS
VIDEO_NAME, MASK_NAME, REFERENCE_NAME = maker.VIDEO_NAME, maker.MASK_NAME, maker.REFERENCE_NAME
NOFACE_NAME = "svfr_example_noface.mp4"
FACE_BOXES = maker.FACE_BOXES
# frames of the clips the e2e tests use (few: every frame costs VAE work at 512x512 on CPU)
E2E_FRAMES = int(os.environ.get("SVFR_E2E_FRAMES", "4"))


def read_frames(path: Path, n: int | None = None) -> list:
    import av

    out = []
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            out.append(frame.to_ndarray(format="rgb24"))
            if n is not None and len(out) == n:
                break
    return out


def make_all(dest: Path, frames: int = E2E_FRAMES, shipped: Path = SHIPPED_DIR) -> dict[str, Path]:
    """The shipped inputs in ``dest``, the video cut to its first ``frames`` frames (re-encoded near
    losslessly, audio as long as the cut), plus the no-face clip."""
    dest.mkdir(parents=True, exist_ok=True)
    out = {"video": dest / VIDEO_NAME, "noface": dest / NOFACE_NAME, "mask": dest / MASK_NAME,
           "reference": dest / REFERENCE_NAME}
    missing = [n for n in maker.SHIPPED if not (shipped / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{shipped} lacks {missing}: run `python scripts/make_example_inputs.py`")
    clip = read_frames(shipped / VIDEO_NAME, frames)
    if len(clip) < frames:
        raise ValueError(f"{shipped / VIDEO_NAME} has {len(clip)} frames, {frames} wanted (SVFR_E2E_FRAMES)")
    maker.write_video(out["video"], clip)
    maker.write_video(out["noface"], maker.noface_frames(frames))
    for key in ("mask", "reference"):
        shutil.copyfile(shipped / out[key].name, out[key])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dest", type=Path)
    ap.add_argument("--frames", type=int, default=maker.N_FRAMES)
    args = ap.parse_args()
    for k, p in make_all(args.dest, args.frames).items():
        print(k, p)


if __name__ == "__main__":
    main()
