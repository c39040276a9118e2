"""Masks between frame space and crop space: the soft paste-back mask, and inpainting masks.

The paste mask is built in crop space and warped with the same transform as the crop, so it
follows the face exactly; it is exactly 0 in an outer band of ``erode`` crop pixels, which keeps
every frame pixel outside the pasted region bit-identical.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

from ..errors import InputError
from .arrays import as_unit_float

DEFAULT_ERODE = 24
DEFAULT_FEATHER = 32


def paste_mask(size: int, erode: float = DEFAULT_ERODE, feather: float = DEFAULT_FEATHER,
               shape: str = "square") -> np.ndarray:
    """Crop-space blend mask (size, size) float32 in [0, 1].

    0 within ``erode`` pixels of the crop border, rising smoothly to 1 over ``feather`` pixels.
    ``shape="ellipse"`` uses the inscribed ellipse instead of the square (less background pasted,
    useful when faces are close together).
    """
    if erode < 0 or feather < 0:
        raise InputError(f"erode ({erode}) and feather ({feather}) must be >= 0 crop pixels")
    if 2 * (erode + feather) >= size:
        # named as given (pixels of a 512 crop, the widgets' and flags' unit) by the callers that scale them
        raise InputError.naming(f"{{erode}} + {{feather}} = {erode + feather:g} crop pixels leave nothing of a "
                                f"{size} px crop", f"keep {{erode}} + {{feather}} below half the crop")
    c = (size - 1) / 2.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    if shape == "square":
        # Distance (pixels) to the crop border, measured from pixel centres.
        d = np.minimum.reduce([xx + 0.5, yy + 0.5, size - 0.5 - xx, size - 0.5 - yy])
    elif shape == "ellipse":
        r = np.hypot(xx - c, yy - c)
        d = size / 2.0 - r
    else:
        raise InputError(f"mask shape must be 'square' or 'ellipse', got {shape!r}")
    if feather == 0:
        m = (d > erode).astype(np.float64)
    else:
        t = np.clip((d - erode) / feather, 0.0, 1.0)
        m = t * t * (3 - 2 * t)  # smoothstep: no visible kink at either end of the ramp
    return m.astype(np.float32)


def _as_mask_array(mask, name: str = "mask") -> np.ndarray:
    arr = as_unit_float(mask, name)
    if arr.ndim == 4 and arr.shape[-1] in (1, 3, 4):
        arr = arr[..., 0]  # an IMAGE used as a mask: take the first channel
    if arr.ndim not in (2, 3):
        raise InputError(f"{name} must be (H, W) or (N, H, W), got shape {tuple(arr.shape)}")
    return arr


def warp_mask_to_crops(mask, record, *, space: str = "frame") -> list[torch.Tensor]:
    """The inpainting mask as each track sees it: list of (n_i, size, size) float tensors in [0, 1].

    ``space="frame"``: ``mask`` is (H, W) (one for all frames) or (N, H, W) (per frame) in the
    original frame's pixels and is warped with each crop transform. ``space="crop"``: ``mask`` is
    already (size, size) or (n_i, size, size) in crop pixels and is used as is for every track.
    """
    arr = _as_mask_array(mask)
    H, W = record.frame_size
    size = record.size
    out: list[torch.Tensor] = []
    if space == "crop":
        if arr.shape[-2:] != (size, size):
            raise InputError.naming(f"a {{mask}} in {{space='crop'}} must be {size}x{size} (the crop size), got "
                                    f"{arr.shape[-1]}x{arr.shape[-2]}",
                                    "a mask drawn on the frames is {space='frame'}")
        for tr in record.tracks:
            n = len(tr.frame_indices)
            if arr.ndim == 3 and arr.shape[0] not in (1, n):
                raise InputError(f"crop-space mask has {arr.shape[0]} frames but the track has {n}; "
                                 "give one mask for all frames or one per crop frame")
            m = arr if arr.ndim == 3 else arr[None]
            out.append(torch.from_numpy(np.ascontiguousarray(np.broadcast_to(m, (n, size, size)))).clone())
        return out
    if space != "frame":
        raise InputError(f"mask space must be 'frame' or 'crop', got {space!r}")
    if arr.shape[-2:] != (H, W):
        raise InputError(f"mask is {arr.shape[-1]}x{arr.shape[-2]} but the frames are {W}x{H}; "
                         "resize the mask to the video size (or pass a crop-space mask with space='crop')")
    if arr.ndim == 3 and arr.shape[0] not in (1, record.n_frames):
        raise InputError(f"mask has {arr.shape[0]} frames but the video has {record.n_frames}; "
                         "give one mask for all frames or one per frame")
    per_frame = arr.ndim == 3 and arr.shape[0] == record.n_frames and record.n_frames > 1
    single = arr if arr.ndim == 2 else arr[0]
    for tr in record.tracks:
        crops = np.empty((len(tr.frame_indices), size, size), dtype=np.float32)
        for k, (f, M) in enumerate(zip(tr.frame_indices, tr.transforms)):
            src = arr[int(f)] if per_frame else single
            crops[k] = cv2.warpAffine(src, np.asarray(M, dtype=np.float64), (size, size),
                                      flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        out.append(torch.from_numpy(np.clip(crops, 0.0, 1.0)))
    return out
