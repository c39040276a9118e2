"""Colour matching of a restored crop to the original crop before paste-back.

``lab``: per-channel mean/std transfer in CIE Lab (weighted by the paste mask, so background
outside the blend region does not count). ``wavelet``: keep the restored crop's fine detail and
take the coarse (low-frequency) colour layers from the original, with a Gaussian pyramid split.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..errors import InputError

COLOR_MODES = ("none", "lab", "wavelet")


def match_lab(restored: np.ndarray, original: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """Give ``restored`` (S, S, 3 float32 RGB 0..1) the Lab mean and std of ``original``."""
    r_lab = cv2.cvtColor(np.clip(restored, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)
    o_lab = cv2.cvtColor(np.clip(original, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)
    w = np.ones(restored.shape[:2], np.float64) if weight is None else weight.astype(np.float64)
    wsum = w.sum()
    if wsum <= 1e-6:
        return restored
    out = np.empty_like(r_lab)
    for c in range(3):
        rm = (r_lab[..., c] * w).sum() / wsum
        om = (o_lab[..., c] * w).sum() / wsum
        rs = np.sqrt(((r_lab[..., c] - rm) ** 2 * w).sum() / wsum)
        os_ = np.sqrt(((o_lab[..., c] - om) ** 2 * w).sum() / wsum)
        gain = os_ / rs if rs > 1e-6 else 1.0
        out[..., c] = (r_lab[..., c] - rm) * gain + om
    return np.clip(cv2.cvtColor(out, cv2.COLOR_Lab2RGB), 0, 1)


def low_frequency(img: np.ndarray, levels: int = 5) -> np.ndarray:
    """Sum of the coarse bands: the image blurred with sigma doubling each level (a trous style)."""
    low = img.astype(np.float32)
    for i in range(levels):
        sigma = 2.0 ** i
        low = cv2.GaussianBlur(low, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)
    return low


def match_wavelet(restored: np.ndarray, original: np.ndarray, levels: int = 5) -> np.ndarray:
    """High frequencies of ``restored`` on top of the low frequencies of ``original``."""
    out = restored.astype(np.float32) - low_frequency(restored, levels) + low_frequency(original, levels)
    return np.clip(out, 0, 1)


def match_color(restored: np.ndarray, original: np.ndarray, mode: str, weight: np.ndarray | None = None) -> np.ndarray:
    if mode == "none":
        return restored
    if mode == "lab":
        return match_lab(restored, original, weight)
    if mode == "wavelet":
        return match_wavelet(restored, original)
    raise InputError(f"color_match must be one of {COLOR_MODES}, got {mode!r}")
