"""Images and masks arrive as torch tensors or numpy arrays, uint8 or float: one conversion for all."""
from __future__ import annotations

import numpy as np
import torch


def as_unit_float(x) -> np.ndarray:
    """float32 numpy array with values in the 0..1 scale: uint8 is divided by 255, floats are kept."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        x = x.numpy() if x.dtype in (torch.uint8, torch.float32) else x.float().numpy()
    arr = np.asarray(x)
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    return arr.astype(np.float32, copy=False)
