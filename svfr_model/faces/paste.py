"""Paste a (restored) crop back into its frame: inverse warp of the exact crop transform + soft mask.

Only the frame rectangle the crop covers is touched; inside it ``out = m * face + (1 - m) * frame``,
and where the warped mask is exactly 0 the frame pixel is copied unchanged (bit-identical).
"""
from __future__ import annotations

import cv2
import numpy as np


def crop_footprint(M, size: int, frame_hw: tuple[int, int], pad: int = 2) -> tuple[int, int, int, int] | None:
    """Integer frame rectangle (x0, y0, x1, y1) covered by the crop of transform M, clipped to the frame."""
    inv = cv2.invertAffineTransform(np.asarray(M, dtype=np.float64))
    corners = np.array([[-0.5, -0.5], [size - 0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5]])
    pts = corners @ inv[:, :2].T + inv[:, 2]
    H, W = frame_hw
    x0 = max(int(np.floor(pts[:, 0].min())) - pad, 0)
    y0 = max(int(np.floor(pts[:, 1].min())) - pad, 0)
    x1 = min(int(np.ceil(pts[:, 0].max())) + pad + 1, W)
    y1 = min(int(np.ceil(pts[:, 1].max())) + pad + 1, H)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def warp_back(crop: np.ndarray, M, rect: tuple[int, int, int, int], interpolation=cv2.INTER_CUBIC) -> np.ndarray:
    """Sample ``crop`` at the frame pixels of ``rect`` (frame->crop transform M, so WARP_INVERSE_MAP)."""
    x0, y0, x1, y1 = rect
    M = np.asarray(M, dtype=np.float64)
    # Frame pixel (x, y) = rect pixel (u + x0, v + y0).
    M_rect = M.copy()
    M_rect[:, 2] = M[:, 2] + M[:, 0] * x0 + M[:, 1] * y0
    return cv2.warpAffine(crop, M_rect, (x1 - x0, y1 - y0), flags=interpolation | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def paste_one(frame: np.ndarray, crop: np.ndarray, M, mask_crop: np.ndarray,
              out_mask: np.ndarray | None = None) -> None:
    """Blend ``crop`` (S, S, 3) into ``frame`` (H, W, 3) float32 in place, using crop-space ``mask_crop``."""
    size = crop.shape[0]
    rect = crop_footprint(M, size, frame.shape[:2])
    if rect is None:
        return
    x0, y0, x1, y1 = rect
    face = np.clip(warp_back(crop, M, rect), 0.0, 1.0)  # bicubic overshoot
    m = warp_back(mask_crop, M, rect, interpolation=cv2.INTER_LINEAR)
    m = np.clip(m, 0.0, 1.0)
    region = frame[y0:y1, x0:x1]
    blended = region + m[..., None] * (face - region)
    frame[y0:y1, x0:x1] = np.where(m[..., None] > 0, blended, region)
    if out_mask is not None:
        sub = out_mask[y0:y1, x0:x1]
        out_mask[y0:y1, x0:x1] = sub + m * (1 - sub)
