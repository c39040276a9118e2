"""Per-frame crop transforms from 5 landmarks, their temporal smoothing, and the warp itself.

A transform maps frame pixels to crop pixels: ``crop = M @ [x, y, 1]``. It is parameterised by
(log scale, angle, the frame point that lands on the crop centre); those parameters, not the
matrix entries, are smoothed, so a change of scale does not drag the position around.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..errors import InputError

# Where the 5 landmarks sit in a 512 crop made by the official box (official_crop.py) around a
# still face. Measured with the embedded RetinaFace on every frame of lq1, lq3 (SVFR demo) and
# carphone: the official box of each frame's face, then the upright fit of SVFR's 256 template to
# the landmarks in the crop. Scale 1.64 / 1.63 / 1.59 per clip -> 1.62 (frontal eye distance
# 114.2 px); vertical offset 48.5 px; horizontally centred (the official box is centred on the face
# box; the per-clip offsets only reflect head turns). = SVFR_TEMPLATE_256 * 1.62 + (48.06, 48.46).
# tests/svfr_model/faces/test_framing.py re-measures this on the clips.
OFFICIAL_FRAMING_SCALE = 1.62
OFFICIAL_FRAMING_OFFSET = (48.06, 48.46)
OFFICIAL_FRAMING_512 = np.array(
    [
        [198.05, 215.96],
        [312.22, 215.32],
        [255.50, 280.89],
        [208.59, 347.72],
        [303.14, 347.20],
    ],
    dtype=np.float64,
)


def target_landmarks(size: int = 512) -> np.ndarray:
    """The 5-point framing target for a size x size crop (the 512 calibration, scaled)."""
    return OFFICIAL_FRAMING_512 * (size / 512.0)


def fit_upright(src_pts, dst_pts) -> np.ndarray:
    """Least-squares uniform scale + translation (no rotation) src -> dst, as a (2, 3) matrix."""
    src = np.asarray(src_pts, dtype=np.float64)
    dst = np.asarray(dst_pts, dtype=np.float64)
    sm, dm = src.mean(0), dst.mean(0)
    var = ((src - sm) ** 2).sum()
    if var <= 1e-12:
        raise InputError("landmarks are all the same point; cannot frame a face from them")
    s = ((src - sm) * (dst - dm)).sum() / var
    t = dm - s * sm
    return np.array([[s, 0.0, t[0]], [0.0, s, t[1]]], dtype=np.float64)


def fit_transform(landmarks, size: int = 512, rotate: bool = False, target=None) -> np.ndarray:
    """Frame->crop transform putting ``landmarks`` (5, 2) where the official crop would put them."""
    dst = target_landmarks(size) if target is None else np.asarray(target, dtype=np.float64)
    if not rotate:
        return fit_upright(landmarks, dst)
    from .align import estimate_similarity

    return estimate_similarity(landmarks, dst)


def to_params(M, size: int) -> np.ndarray:
    """(2, 3) similarity -> [log scale, angle, cx, cy] where (cx, cy) is the frame point at the crop centre."""
    M = np.asarray(M, dtype=np.float64)
    a, b = M[0, 0], M[1, 0]
    scale = float(np.hypot(a, b))
    angle = float(np.arctan2(b, a))
    centre = (size - 1) / 2.0
    lin = M[:, :2]
    c = np.linalg.solve(lin, np.array([centre, centre]) - M[:, 2])
    return np.array([np.log(scale), angle, c[0], c[1]])


def from_params(p, size: int) -> np.ndarray:
    """Inverse of :func:`to_params`."""
    log_s, angle, cx, cy = (float(v) for v in p)
    s = np.exp(log_s)
    a, b = s * np.cos(angle), s * np.sin(angle)
    lin = np.array([[a, -b], [b, a]])
    centre = (size - 1) / 2.0
    t = np.array([centre, centre]) - lin @ np.array([cx, cy])
    return np.concatenate([lin, t[:, None]], axis=1)


def _local_linear(y: np.ndarray, sigma: float, sample_w: np.ndarray) -> np.ndarray:
    """Gaussian-weighted local linear fit at every sample; ``sample_w`` (n, d) down-weights samples."""
    n = y.shape[0]
    r = int(np.ceil(3 * sigma))
    s0 = np.zeros_like(y)
    s1 = np.zeros_like(y)
    s2 = np.zeros_like(y)
    t0 = np.zeros_like(y)
    t1 = np.zeros_like(y)
    idx = np.arange(n)
    for d in range(-r, r + 1):
        j = idx + d
        ok = (j >= 0) & (j < n)
        jc = np.clip(j, 0, n - 1)
        w = (np.exp(-0.5 * (d / sigma) ** 2) * ok)[:, None] * sample_w[jc]
        yj = y[jc]
        s0 += w
        s1 += w * d
        s2 += w * d * d
        t0 += w * yj
        t1 += w * d * yj
    den = s0 * s2 - s1 * s1
    den_ok = np.abs(den) > 1e-9 * np.maximum(s0, 1e-12) ** 2
    line = (s2 * t0 - s1 * t1) / np.where(den_ok, den, 1.0)
    mean = t0 / np.maximum(s0, 1e-12)
    return np.where(den_ok, line, mean)


def smooth_series(values, sigma: float, robust: bool = True) -> np.ndarray:
    """Zero-lag smoothing of (n, d) values: Gaussian-weighted local linear regression per sample.

    A local line (not a local mean) follows steady motion without lag, also at the clip ends where a
    plain Gaussian would pull the values toward the interior. ``robust``: two reweighting passes
    with Tukey's biweight on the residuals, so a single mis-detected frame does not pull its
    neighbours (nor itself) off the face.
    """
    y = np.asarray(values, dtype=np.float64)
    if y.ndim == 1:
        return smooth_series(y[:, None], sigma, robust)[:, 0]
    n = y.shape[0]
    if sigma <= 0 or n < 3:
        return y.copy()
    w = np.ones_like(y)
    fit = _local_linear(y, sigma, w)
    if robust and n >= 5:
        for _ in range(2):
            res = y - fit
            scale = 1.4826 * np.median(np.abs(res), axis=0)
            scale = np.maximum(scale, 1e-6 * (np.abs(y).max(axis=0) + 1.0))
            u = res / (4.685 * scale)
            w = np.where(np.abs(u) < 1, (1 - u * u) ** 2, 0.0)
            fit = _local_linear(y, sigma, np.maximum(w, 1e-3))  # never exactly 0: no empty windows
    return fit


def smooth_transforms(transforms, size: int, sigma: float) -> np.ndarray:
    """Smooth a contiguous run of (n, 2, 3) transforms over time (sigma in frames)."""
    mats = np.asarray(transforms, dtype=np.float64)
    if sigma <= 0 or len(mats) < 3:
        return mats.copy()
    params = np.stack([to_params(M, size) for M in mats])
    params[:, 1] = np.unwrap(params[:, 1])
    sm = smooth_series(params, sigma)
    return np.stack([from_params(p, size) for p in sm])


def transform_scale(M) -> float:
    M = np.asarray(M, dtype=np.float64)
    return float(np.sqrt(abs(np.linalg.det(M[:, :2]))))


def warp_to_crop(frame: np.ndarray, M, size: int) -> np.ndarray:
    """Sample the size x size crop of ``frame`` (H, W, C float32) under frame->crop transform M.

    Bicubic; when the crop shrinks the face (scale < 1) the region is first reduced with area
    averaging so the crop is not aliased. Outside the frame the edge pixels are repeated.
    """
    M = np.asarray(M, dtype=np.float64)
    s = transform_scale(M)
    if s < 0.9:
        # Frame region the crop covers, reduced by area averaging to about the crop's resolution.
        inv = cv2.invertAffineTransform(M)
        corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], dtype=np.float64)
        pts = corners @ inv[:, :2].T + inv[:, 2]
        h, w = frame.shape[:2]
        x0 = int(max(np.floor(pts[:, 0].min()) - 2, 0))
        y0 = int(max(np.floor(pts[:, 1].min()) - 2, 0))
        x1 = int(min(np.ceil(pts[:, 0].max()) + 3, w))
        y1 = int(min(np.ceil(pts[:, 1].max()) + 3, h))
        if x1 - x0 >= 4 and y1 - y0 >= 4:
            roi = frame[y0:y1, x0:x1]
            rw = max(int(round((x1 - x0) * s)), 2)
            rh = max(int(round((y1 - y0) * s)), 2)
            small = cv2.resize(roi, (rw, rh), interpolation=cv2.INTER_AREA)
            fx, fy = rw / (x1 - x0), rh / (y1 - y0)
            # small pixel u <-> frame x: (u + 0.5) = (x - x0 + 0.5) * fx
            to_small = np.array([[fx, 0, (0.5 - x0) * fx - 0.5], [0, fy, (0.5 - y0) * fy - 0.5]])
            M_small = M @ np.vstack([cv2.invertAffineTransform(to_small), [0, 0, 1]])
            return _warp(small, M_small, size)
    return _warp(frame, M, size)


def _warp(img: np.ndarray, M, size: int) -> np.ndarray:
    out = cv2.warpAffine(img, np.asarray(M, dtype=np.float64), (size, size), flags=cv2.INTER_CUBIC,
                         borderMode=cv2.BORDER_REPLICATE)
    if out.ndim == 2:
        out = out[:, :, None]
    return out
