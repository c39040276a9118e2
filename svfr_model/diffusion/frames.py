"""Frames, masks and references as they enter the engine: checked, then preprocessed as infer.py does.

ComfyUI's IMAGE layout: float (N, H, W, 3) in 0..1 (uint8 accepted). Preprocessing: uint8 quantisation,
PIL-style luma for the colorization bit, mask pixels painted white for the inpainting bit, then
``(u8 / 255 - 0.5) / 0.5``, chunk by chunk (``LQFrames``), so only the caller's buffers scale with the length.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from ..errors import InputError
from ..value_checks import check_unit_values
from .tasks import COLORIZATION, INPAINTING


def _as_tensor(x, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach()
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    raise InputError(f"{name} must be a torch tensor or numpy array, got {type(x).__name__}")


def check_frames(frames, name: str = "frames") -> torch.Tensor:
    """Validate (N, H, W, 3) float in 0..1 (uint8 also accepted) and return it on the CPU."""
    x = _as_tensor(frames, name)
    if x.ndim == 3 and x.shape[-1] in (3,) and name == "reference":
        x = x.unsqueeze(0)
    if x.ndim != 4:
        raise InputError(f"{name} must have shape (N, H, W, 3) (ComfyUI IMAGE layout), got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise InputError(f"{name} is empty (0 frames): give at least one frame")
    if x.shape[-1] != 3:
        raise InputError(f"{name} must have 3 colour channels (RGB) in the last axis, got {x.shape[-1]} "
                         f"(shape {tuple(x.shape)}); convert grayscale/RGBA images to RGB first")
    h, w = int(x.shape[1]), int(x.shape[2])
    if h % 8 or w % 8:
        raise InputError(
            f"{name} are {w}x{h}; width and height must be multiples of 8 (the VAE downsamples by 8). "
            f"Resize or crop the frames, e.g. to 512x512 (SVFR's training size), or use the face crop step.")
    if x.dtype == torch.uint8:
        return x.cpu()
    if not torch.is_floating_point(x):
        raise InputError(f"{name} must be float in 0..1 or uint8, got dtype {x.dtype}")
    check_unit_values(x, name, "frames")  # NaN/inf, or 0..255 values that would be clamped to white
    return x.cpu()


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float 0..1 -> uint8 by rounding (exact for images that came from uint8); uint8 passes through."""
    if x.dtype == torch.uint8:
        return x
    return (x.float() * 255.0).round_().clamp_(0, 255).to(torch.uint8)


def pil_gray_rgb(u8: torch.Tensor) -> torch.Tensor:
    """PIL ``convert("L").convert("RGB")``: L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16."""
    c = u8.to(torch.int64)
    lum = (c[..., 0] * 19595 + c[..., 1] * 38470 + c[..., 2] * 7471 + 0x8000) >> 16
    return lum.to(torch.uint8).unsqueeze(-1).expand(*lum.shape, 3).contiguous()


def check_mask(mask, num_frames: int, height: int, width: int) -> torch.Tensor:
    """(H, W) or (N, H, W) (also (N, H, W, 1)) float 0..1 -> bool paint mask; >= 0.5 means paint white."""
    m = _as_tensor(mask, "mask")
    if m.ndim == 4 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.ndim == 2:
        m = m.unsqueeze(0)
    if m.ndim != 3:
        raise InputError(f"mask must be (H, W) or (N, H, W), got shape {tuple(m.shape)}")
    if tuple(m.shape[1:]) != (height, width):
        raise InputError(f"mask is {m.shape[2]}x{m.shape[1]} but the frames are {width}x{height}: the mask must "
                         f"be in the same (crop) coordinates and size as the frames")
    if m.shape[0] not in (1, num_frames):
        raise InputError(f"mask has {m.shape[0]} frames but the video has {num_frames}: give one mask for all "
                         f"frames or exactly one per frame")
    if m.dtype == torch.uint8:
        return (m >= 128).cpu()
    check_unit_values(m, "mask", "masks")
    return (m.float() >= 0.5).cpu()


class LQFrames:
    """Preprocessed LQ frames on demand: ``lq(start, stop)`` -> (n, 3, H, W) float32 in [-1, 1].

    ``frames``: an (N, H, W, 3) tensor, or a ``source(start, stop)`` callable returning that chunk (each chunk
    is checked like ``frames``). ``mask``: a bool (1 or N, H, W) tensor, or a callable giving the chunk's masks
    (checked by ``check_mask``).
    """

    def __init__(self, frames, bits, mask, size: Optional[tuple[int, int]] = None):
        self.frames, self.bits, self.mask = frames, bits, mask
        self.size = size if size is not None or callable(frames) else tuple(frames.shape[1:3])

    def _chunk(self, start: int, stop: int) -> torch.Tensor:
        if not callable(self.frames):
            return self.frames[start:stop]
        chunk = check_frames(self.frames(start, stop), f"frames {start}..{stop - 1}")
        if chunk.shape[0] != stop - start or (self.size is not None and tuple(chunk.shape[1:3]) != self.size):
            raise InputError(f"the frame source returned {tuple(chunk.shape)} for frames {start}..{stop - 1}; "
                             f"expected {stop - start} frames of {self.size}: every chunk must match the video")
        return chunk

    def _mask(self, start: int, stop: int) -> torch.Tensor:
        if not callable(self.mask):
            return self.mask if self.mask.shape[0] == 1 else self.mask[start:stop]
        h, w = self.size
        return check_mask(self.mask(start, stop), stop - start, h, w)

    def u8(self, start: int, stop: int) -> torch.Tensor:
        u8 = to_uint8(self._chunk(start, stop))
        if self.bits[COLORIZATION]:
            u8 = pil_gray_rgb(u8)
        if self.bits[INPAINTING] and self.mask is not None:
            m = self._mask(start, stop)
            u8 = u8.clone()
            u8[m.expand(u8.shape[0], -1, -1)] = 255
        return u8

    def __call__(self, start: int, stop: int) -> torch.Tensor:
        return u8_to_model(self.u8(start, stop))


def u8_to_model(u8: torch.Tensor) -> torch.Tensor:
    """(n, H, W, 3) uint8 -> (n, 3, H, W) float32 in [-1, 1], as infer.py (division in float64)."""
    x = (u8.to(torch.float64) / 255.0).to(torch.float32)
    return ((x - 0.5) / 0.5).permute(0, 3, 1, 2).contiguous()
