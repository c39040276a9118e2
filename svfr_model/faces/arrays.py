"""Images and masks arrive as torch tensors or numpy arrays, uint8 or float: one conversion for all."""
from __future__ import annotations

import numpy as np
import torch

from ..value_checks import check_unit_values


def as_unit_float(x, name: str = "image") -> np.ndarray:
    """float32 numpy array with values in the 0..1 scale: uint8 is divided by 255, floats are kept
    (refused when NaN/inf or on the 0..255 scale, naming ``name``)."""
    check_unit_values(x, name)
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        x = x.numpy() if x.dtype in (torch.uint8, torch.float32) else x.float().numpy()
    arr = np.asarray(x)
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    return arr.astype(np.float32, copy=False)
