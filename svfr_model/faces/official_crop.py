"""The official SVFR crop, reproduced exactly (spec section 5.2).

One static square box for the whole clip: detections on every 5th frame, the union of their
boxes, each side expanded by 0.4 of the box size and clamped to the frame, made square with the
shorter side, its centre moved toward the union centre along the longer axis, and every coordinate
rounded with Python's ``round`` (banker's rounding, as the official code does).
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError, NoFaceError

OFFICIAL_SAMPLE_EVERY = 5
OFFICIAL_EXPAND = 0.4


def union_box(boxes) -> np.ndarray:
    """[min x1, min y1, max x2, max y2] over boxes of shape (K, 4) xyxy."""
    arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if arr.shape[0] == 0:
        raise NoFaceError("no face boxes to unite: the detector found no face on the sampled frames")
    return np.array([arr[:, 0].min(), arr[:, 1].min(), arr[:, 2].max(), arr[:, 3].max()])


def expand_box(box, ratio: float, height: int, width: int) -> list[float]:
    """Grow each side by ratio * box size (x by width, y by height), clamped to [0, W] x [0, H]."""
    x1, y1, x2, y2 = (float(v) for v in box)
    bw, bh = x2 - x1, y2 - y1
    return [max(x1 - ratio * bw, 0.0), max(y1 - ratio * bh, 0.0),
            min(x2 + ratio * bw, float(width)), min(y2 + ratio * bh, float(height))]


def square_box(src_box, expanded_box) -> list[int]:
    """Square with the expanded box's shorter side; centre pulled toward ``src_box``'s centre.

    Along the longer axis the centre moves by min(|h - w| / 2, |centre difference|), so the square
    stays inside the expanded box. Coordinates are rounded with ``round`` (half to even).
    """
    ex1, ey1, ex2, ey2 = (float(v) for v in expanded_box)
    h, w = ey2 - ey1, ex2 - ex1
    cy, cx = (ey1 + ey2) / 2, (ex1 + ex2) / 2
    half = min(h, w) / 2
    src_cy = (float(src_box[1]) + float(src_box[3])) / 2
    src_cx = (float(src_box[0]) + float(src_box[2])) / 2
    d = abs((h - w) / 2)
    if w < h:
        shift = min(d, abs(src_cy - cy))
        cy += shift if src_cy > cy else -shift
    else:  # also w == h, where d == 0
        shift = min(d, abs(src_cx - cx))
        cx += shift if src_cx > cx else -shift
    return [round(cx - half), round(cy - half), round(cx + half), round(cy + half)]


def official_box(boxes, height: int, width: int, expand: float = OFFICIAL_EXPAND) -> list[int]:
    """The official crop box [x1, y1, x2, y2] (ints) from the per-frame boxes of the sampled frames."""
    if height <= 0 or width <= 0:
        raise InputError(f"frame size must be positive, got {height}x{width}")
    union = union_box(boxes)
    return square_box(union, expand_box(union, expand, height, width))


def sampled_frame_indices(n_frames: int, every: int = OFFICIAL_SAMPLE_EVERY) -> list[int]:
    """Frames the official code runs the detector on: ``frame_count % 5 == 0``."""
    return list(range(0, n_frames, every))


def box_to_crop_affine(box, size: int) -> np.ndarray:
    """Frame->crop affine of cropping integer ``box`` and resizing it to size x size.

    Uses the pixel-centre convention shared by PIL.resize / cv2.resize / cv2.warpAffine:
    crop pixel u covers frame x with (u + 0.5) = (x - x1 + 0.5) * size / side.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    kx, ky = size / (x2 - x1), size / (y2 - y1)
    return np.array([[kx, 0.0, (0.5 - x1) * kx - 0.5],
                     [0.0, ky, (0.5 - y1) * ky - 0.5]], dtype=np.float64)
