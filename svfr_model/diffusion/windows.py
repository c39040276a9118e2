"""Where the windows of each denoising step fall (official ``LQ2VideoLongSVDPipeline``, spec §4.6).

A video of F frames is denoised in windows of ``window`` frames that wrap around circularly. For the first
``OVERLAP_STEPS`` steps neighbouring windows share ``overlap`` frames (stride window - overlap), later
ones tile (stride window); every step the windows start ``overlap`` frames earlier than the last. Frames
covered twice are blended with triangular weights.
"""
from __future__ import annotations

import torch

from ..errors import InputError

# Steps (counted after the i2i cut) that use overlapping windows, as in the official loop (`i < 3`).
OVERLAP_STEPS = 3


def window_weights(window: int) -> torch.Tensor:
    """Triangular blend weights min(k + 1, window - k), k = 0..window-1 (float32)."""
    return torch.tensor([min(k + 1, window - k) for k in range(window)], dtype=torch.float32)


def window_starts(num_frames: int, window: int, overlap: int, num_steps: int) -> list[list[int]]:
    """Unwrapped start index (``s0 - shift``) of every window of every step; frame = (start + k) mod F."""
    if window < 1:
        raise InputError(f"window must be >= 1 frame, got {window}")
    if overlap < 0 or overlap >= window:
        raise InputError(f"overlap must be in [0, window - 1] = [0, {window - 1}], got {overlap}")
    plan: list[list[int]] = []
    shift = 0
    for i in range(num_steps):
        stride = window - overlap * (i < OVERLAP_STEPS)
        plan.append([s0 - shift for s0 in range(0, num_frames, stride)])
        shift = (shift + overlap) % window
    return plan


def window_frames(start: int, window: int, num_frames: int) -> list[int]:
    """The frames a window starting at ``start`` covers (wrapping around the end of the clip)."""
    return [(start + k) % num_frames for k in range(window)]


def count_unet_calls(num_frames: int, window: int, overlap: int, num_steps: int) -> int:
    return sum(len(s) for s in window_starts(num_frames, window, overlap, num_steps))


def guidance_scales(guidance_min: float, guidance_max: float, num_steps: int) -> torch.Tensor:
    """One scale per denoising step (official: ``torch.linspace(min, max, effective steps)``)."""
    return torch.linspace(guidance_min, guidance_max, num_steps)
