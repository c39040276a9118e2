"""The still images a restore reads besides the video: an inpainting mask and a reference face photo."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError


def read_mask(path: Path) -> np.ndarray:
    """An inpainting mask image (white = fill) as (H, W) float32 0/1."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise InputError(f"mask file not found: {path}")
    try:
        with Image.open(path) as im:
            return (np.asarray(im.convert("L")) >= 128).astype(np.float32)
    except OSError as exc:
        raise InputError(f"cannot read mask image {path}: {exc}") from None


def read_image(path: Path) -> np.ndarray:
    """A reference face photo as (H, W, 3) uint8 RGB."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise InputError(f"reference image not found: {path}")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except OSError as exc:
        raise InputError(f"cannot read reference image {path}: {exc}") from None


__all__ = ["read_mask", "read_image"]
