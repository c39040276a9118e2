"""The still images a restore reads besides the video: an inpainting mask and a reference face photo."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError


def _read(path: Path, what: str, mode: str) -> np.ndarray:
    """The image at ``path`` converted to PIL ``mode``; a missing or unreadable file is an InputError
    naming ``what`` it was meant to be."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} not found: {path}")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert(mode))
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc}") from None


def read_mask(path: Path) -> np.ndarray:
    """An inpainting mask image (white = fill) as (H, W) float32 0/1."""
    return (_read(path, "mask image", "L") >= 128).astype(np.float32)


def read_image(path: Path) -> np.ndarray:
    """A reference face photo as (H, W, 3) uint8 RGB."""
    return _read(path, "reference image", "RGB")


__all__ = ["read_mask", "read_image"]
