"""One check for float images and masks as they enter the engine: finite, and on the 0..1 scale.

A float image or mask from ComfyUI is 0..1. Data on the 0..255 scale was silently clamped before (almost
every pixel became white), so it is refused with the fix. 0..1 data overshoots 1 only a little (resampling
ringing, unclamped decodes); 0..255 data goes far past 2 unless the picture is nearly black.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .errors import InputError

UNIT_SCALE_LIMIT = 2.0


def value_range(x) -> tuple[float, float]:
    """(min, max) of a float tensor or array (one pass for tensors); NaN anywhere makes both NaN."""
    if isinstance(x, torch.Tensor):
        if x.numel() == 0:
            return 0.0, 0.0
        lo, hi = torch.aminmax(x.detach())
        return float(lo), float(hi)
    if x.size == 0:
        return 0.0, 0.0
    return float(x.min()), float(x.max())


def check_unit_values(x, name: str, kind: str = "images") -> None:
    """Raise InputError naming ``name`` when float ``x`` holds NaN/inf or looks like 0..255 values.

    Integer and bool data (uint8 masks, images) is left alone: its scale is known. ``kind`` is what the
    0..1 rule is stated for in the message.
    """
    if isinstance(x, torch.Tensor):
        if not torch.is_floating_point(x):
            return
    else:
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            return
    lo, hi = value_range(x)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InputError(f"{name} contains NaN or inf values; fix the node or step that produced them "
                         "(e.g. a division by zero upstream) before SVFR")
    if hi > UNIT_SCALE_LIMIT:
        raise InputError(f"{name} looks like 0..255 values (max {hi:g}), but float {kind} must be in 0..1: "
                         "divide by 255 (or pass uint8)")
