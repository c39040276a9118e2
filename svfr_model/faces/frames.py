"""Frames of a video (or one chunk of it) as float / uint8 RGB, converted one frame at a time."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import Cancelled, InputError


class FrameSource:
    """Random access to frames as float32 (H, W, 3) RGB in 0..1 without copying the whole video."""

    def __init__(self, frames, name: str = "frames"):
        if isinstance(frames, torch.Tensor):
            frames = frames.detach().cpu()
            frames = frames.numpy() if frames.dtype != torch.bfloat16 else frames.float().numpy()
        elif isinstance(frames, (list, tuple)):
            frames = np.stack([np.asarray(f) for f in frames]) if len(frames) else np.zeros((0, 1, 1, 3))
        arr = np.asarray(frames)
        if arr.ndim == 3 and arr.shape[-1] in (1, 3, 4):
            arr = arr[None]  # one (H, W, C) image
        elif arr.ndim == 3:
            arr = arr[..., None]  # (N, H, W) grayscale
        if arr.ndim != 4 or arr.shape[-1] not in (1, 3, 4):
            raise InputError(f"{name} must be (N, H, W, C) with C = 1 (gray), 3 (RGB) or 4 (RGBA), "
                             f"got shape {tuple(arr.shape)}")
        if arr.shape[0] == 0:
            raise InputError(f"{name} is empty (0 frames); pass at least one frame")
        if arr.shape[1] < 8 or arr.shape[2] < 8:
            raise InputError(f"{name} are {arr.shape[2]}x{arr.shape[1]} pixels; faces need frames of at least 8x8")
        if not (arr.dtype == np.uint8 or np.issubdtype(arr.dtype, np.floating)):
            raise InputError(f"{name} have dtype {arr.dtype}; pass float 0..1 or uint8 0..255")
        self.arr = arr
        self.n, self.h, self.w = arr.shape[0], arr.shape[1], arr.shape[2]

    def __len__(self) -> int:
        return self.n

    def float_rgb(self, i: int) -> np.ndarray:
        f = self.arr[i]
        f = f.astype(np.float32) / 255.0 if f.dtype == np.uint8 else np.clip(f.astype(np.float32, copy=False), 0, 1)
        if f.shape[-1] == 1:
            f = np.repeat(f, 3, axis=-1)
        elif f.shape[-1] == 4:
            f = f[..., :3]
        return np.ascontiguousarray(f)

    def float_rgb_into(self, i: int, dst: np.ndarray) -> None:
        """Like :meth:`float_rgb`, written into ``dst`` (H, W, 3) float32 without temporaries."""
        f = self.native_rgb(i)
        if f.dtype == np.uint8:
            np.divide(f, np.float32(255.0), out=dst)
        else:
            np.clip(f, 0.0, 1.0, out=dst)

    def native_rgb(self, i: int) -> np.ndarray:
        """uint8 or float32 (H, W, 3), without copying when the frame already is that."""
        f = self.arr[i]
        if f.dtype != np.uint8 and f.dtype != np.float32:
            f = f.astype(np.float32)
        if f.shape[-1] == 1:
            f = np.repeat(f, 3, axis=-1)
        elif f.shape[-1] == 4:
            f = f[..., :3]
        return f

    def uint8_rgb(self, i: int) -> np.ndarray:
        f = self.arr[i]
        if f.dtype != np.uint8:
            f = (np.clip(f.astype(np.float32, copy=False), 0, 1) * 255.0 + 0.5).astype(np.uint8)
        if f.shape[-1] == 1:
            f = np.repeat(f, 3, axis=-1)
        elif f.shape[-1] == 4:
            f = f[..., :3]
        return np.ascontiguousarray(f)


def check_cancel(cancel) -> None:
    if cancel is not None and cancel():
        raise Cancelled("face cropping was cancelled")
