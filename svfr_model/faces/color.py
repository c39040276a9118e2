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


def lab_stats(restored: np.ndarray, original: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """(4, 3) weighted Lab statistics: restored mean, restored std, original mean, original std."""
    r_lab = cv2.cvtColor(np.clip(restored, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab).reshape(-1, 3)
    o_lab = cv2.cvtColor(np.clip(original, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab).reshape(-1, 3)
    w = np.ones(r_lab.shape[0]) if weight is None else weight.astype(np.float64).reshape(-1)
    wsum = max(w.sum(), 1e-6)
    rm = (r_lab * w[:, None]).sum(0) / wsum
    om = (o_lab * w[:, None]).sum(0) / wsum
    rs = np.sqrt((((r_lab - rm) ** 2) * w[:, None]).sum(0) / wsum)
    os_ = np.sqrt((((o_lab - om) ** 2) * w[:, None]).sum(0) / wsum)
    return np.stack([rm, rs, om, os_])


def apply_lab(restored: np.ndarray, stats: np.ndarray) -> np.ndarray:
    """Map ``restored`` from its (mean, std) to the original's, channel by channel in Lab."""
    rm, rs, om, os_ = stats
    lab = cv2.cvtColor(np.clip(restored, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)
    gain = np.where(rs > 1e-6, os_ / np.maximum(rs, 1e-6), 1.0)
    out = ((lab - rm) * gain + om).astype(np.float32)
    return np.clip(cv2.cvtColor(out, cv2.COLOR_Lab2RGB), 0, 1)


def match_lab(restored: np.ndarray, original: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """Give ``restored`` (S, S, 3 float32 RGB 0..1) the Lab mean and std of ``original``."""
    return apply_lab(restored, lab_stats(restored, original, weight))


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


GRAY_TOLERANCE = 3 / 255  # channel spread of a gray picture after a YUV round trip


def is_grayscale(frame: np.ndarray) -> bool:
    """Whether an RGB frame (float 0..1 or uint8) is gray: every sampled pixel has equal channels."""
    sample = np.asarray(frame)[::7, ::7].astype(np.float32)
    if np.asarray(frame).dtype == np.uint8:
        sample /= 255.0
    return sample.size == 0 or float((sample.max(-1) - sample.min(-1)).max()) <= GRAY_TOLERANCE


def match_color(restored: np.ndarray, original: np.ndarray, mode: str, weight: np.ndarray | None = None) -> np.ndarray:
    if mode == "none":
        return restored
    if mode == "lab":
        return match_lab(restored, original, weight)
    if mode == "wavelet":
        return match_wavelet(restored, original)
    raise InputError(f"color_match must be one of {COLOR_MODES}, got {mode!r}")
