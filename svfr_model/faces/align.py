"""Five-point face alignment: similarity fit, templates, and the reference crop fed to ArcFace.

Points are (x, y) pixel coordinates in ArcFace order: image-left eye, image-right eye, nose,
image-left mouth corner, image-right mouth corner.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError

# Standard insightface ArcFace template for 112x112 crops (``arcface_dst``).
ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)

# SVFR's ``mean_face_lm5p_256``: the 96x112 ArcFace template mapped by ((x + 8) * 2 + 16, y * 2).
# In a 256 image the crop rows 0:224, cols 16:240 is then exactly the 224x224 ArcFace crop.
SVFR_TEMPLATE_256 = np.array(
    [
        [92.5892, 103.3926],
        [163.0636, 103.0028],
        [128.0504, 143.4732],
        [99.0986, 184.7310],
        [157.4598, 184.4082],
    ],
    dtype=np.float64,
)

# The crop window of the official code, in 256-space pixel indices: rows 0:224, cols 16:240.
ARCFACE_CROP_ROWS = (0, 224)
ARCFACE_CROP_COLS = (16, 240)
CROP_MODES = ("official", "corrected")


def _as_points(pts, name: str) -> np.ndarray:
    arr = np.asarray(pts, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 2:
        raise InputError(f"{name} must be an array of shape (K, 2) with K >= 2 (x, y) points, "
                         f"got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} contains NaN or inf; pass finite pixel coordinates")
    return arr


def estimate_similarity(src_pts, dst_pts) -> np.ndarray:
    """Least-squares similarity (uniform scale, rotation, translation; no reflection) src -> dst.

    Returns the (2, 3) float64 matrix ``[[a, -b, tx], [b, a, ty]]`` minimising
    ``sum |M @ [x, y, 1] - dst|^2``, the same fit as SVFR's ``get_affine_transform``.
    """
    src = _as_points(src_pts, "src_pts")
    dst = _as_points(dst_pts, "dst_pts")
    if src.shape != dst.shape:
        raise InputError(f"src_pts {src.shape} and dst_pts {dst.shape} must have the same shape")
    if np.ptp(src, axis=0).max() <= 1e-9:
        raise InputError("src_pts are all the same point; a similarity needs distinct landmarks")
    k = src.shape[0]
    # Unknowns (a, b, tx, ty): u = a x - b y + tx ; v = b x + a y + ty
    A = np.zeros((2 * k, 4), dtype=np.float64)
    A[0::2, 0] = src[:, 0]
    A[0::2, 1] = -src[:, 1]
    A[0::2, 2] = 1.0
    A[1::2, 0] = src[:, 1]
    A[1::2, 1] = src[:, 0]
    A[1::2, 3] = 1.0
    rhs = dst.reshape(-1)
    (a, b, tx, ty), *_ = np.linalg.lstsq(A, rhs, rcond=None)
    return np.array([[a, -b, tx], [b, a, ty]], dtype=np.float64)


def invert_affine(M) -> np.ndarray:
    """Inverse of a (2, 3) affine matrix, as (2, 3) float64."""
    M = np.asarray(M, dtype=np.float64)
    if M.shape != (2, 3):
        raise InputError(f"affine matrix must have shape (2, 3), got {M.shape}")
    lin = M[:, :2]
    det = np.linalg.det(lin)
    if abs(det) < 1e-12:
        raise InputError("affine matrix is singular (zero scale) and cannot be inverted")
    inv = np.linalg.inv(lin)
    return np.concatenate([inv, -inv @ M[:, 2:]], axis=1)


def apply_affine(M, pts) -> np.ndarray:
    """Map (K, 2) points through a (2, 3) affine matrix."""
    pts = np.asarray(pts, dtype=np.float64)
    return pts @ np.asarray(M, dtype=np.float64)[:, :2].T + np.asarray(M, dtype=np.float64)[:, 2]


def _check_image(image_rgb_uint8) -> np.ndarray:
    img = np.asarray(image_rgb_uint8)
    if img.ndim != 3 or img.shape[2] != 3:
        raise InputError(f"reference image must be H x W x 3 RGB, got shape {img.shape}")
    if img.dtype != np.uint8:
        raise InputError(f"reference image must be uint8 (0..255), got {img.dtype}; "
                         "quantise float frames first (identity.quantize_reference)")
    if img.shape[0] < 8 or img.shape[1] < 8:
        raise InputError(f"reference image {img.shape[1]}x{img.shape[0]} is too small to align a face")
    return np.ascontiguousarray(img)


def warp_to_template(image_rgb_uint8, landmarks, template, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``image`` so ``landmarks`` land on ``template`` in a ``size`` x ``size`` image.

    Bicubic, constant black border (as cv2 defaults and the official code). Returns (warped, M).
    """
    img = _check_image(image_rgb_uint8)
    lm = _as_points(landmarks, "landmarks")
    if lm.shape != (5, 2):
        raise InputError(f"landmarks must be 5 (x, y) points in ArcFace order, got shape {lm.shape}")
    h, w = img.shape[:2]
    # a detector may put a point slightly off the frame for a face at the border; far off means wrong coordinates
    mx, my = 0.25 * w, 0.25 * h
    if (lm[:, 0] < -mx).any() or (lm[:, 0] > w + mx).any() or (lm[:, 1] < -my).any() or (lm[:, 1] > h + my).any():
        raise InputError(f"landmarks {np.round(lm, 1).tolist()} lie outside the {w}x{h} image; they must be pixel "
                         "(x, y) coordinates of this image (not normalised, not of another frame size)")
    M = estimate_similarity(lm, template)
    warped = cv2.warpAffine(img, M, (size, size), flags=cv2.INTER_CUBIC)
    return warped, M


def align_for_arcface(image_rgb_uint8, landmarks, crop: str = "official") -> torch.Tensor:
    """The ArcFace input for a reference image: float32 tensor (1, 3, 112, 112) in [-1, 1].

    ``crop="official"`` reproduces infer.py exactly: align to the 256 template scaled x2 in a 512
    image, then crop with the 256-space indices [0:224, 16:240] - so ArcFace sees only the
    upper-left part of the face (the image-left eye sits near the crop's lower-right corner).
    ``crop="corrected"`` aligns to the 256 template in a 256 image, where the same crop is the full
    224x224 ArcFace face crop (the layout ArcFace was trained on).
    """
    if crop not in CROP_MODES:
        raise InputError(f"crop must be one of {CROP_MODES}, got {crop!r}")
    size = 512 if crop == "official" else 256
    warped, _ = warp_to_template(image_rgb_uint8, landmarks, SVFR_TEMPLATE_256 * (size / 256.0), size)
    x = torch.from_numpy(warped).permute(2, 0, 1).unsqueeze(0).to(torch.float32) / 255.0
    x = (x - 0.5) / 0.5
    r0, r1 = ARCFACE_CROP_ROWS
    c0, c1 = ARCFACE_CROP_COLS
    x = x[:, :, r0:r1, c0:c1]
    return F.interpolate(x, size=[112, 112], mode="bilinear", align_corners=False)
