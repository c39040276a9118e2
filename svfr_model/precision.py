"""Precision and device names, resolved once for every stage (CLI flags, node widgets, Python API).

``auto`` means what the official inference does on that device: fp16 on CUDA, float32 elsewhere.
"""
from __future__ import annotations

import torch

from .errors import WeightsError

PRECISIONS = ("auto", "fp16", "bf16", "fp32")      # the UNet's (and the model loader's) choices
VAE_PRECISIONS = PRECISIONS                       # the VAE decoder's (its encoder always runs in fp32)

_DTYPES = {
    "fp32": torch.float32, "float32": torch.float32,
    "fp16": torch.float16, "float16": torch.float16, "half": torch.float16,
    "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
}
DTYPE_NAMES = {torch.float16: "fp16", torch.bfloat16: "bf16", torch.float32: "fp32"}


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``auto`` (or None): CUDA when present, else the CPU."""
    if device is None or (isinstance(device, str) and device.lower() == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise WeightsError(f"device {device!r} is not a torch device: use 'auto', 'cpu', 'cuda' or 'cuda:N'") from None


def resolve_dtype(dtype: str | torch.dtype | None, device: str | torch.device | None = None) -> torch.dtype:
    """UNet precision. ``auto``: fp16 on CUDA (the official inference), float32 elsewhere (needs ``device``)."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, str) and dtype.lower() == "auto":
        return torch.float16 if resolve_device(device).type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        if dtype in (torch.float32, torch.float16, torch.bfloat16):
            return dtype
    elif str(dtype).lower() in _DTYPES:
        return _DTYPES[str(dtype).lower()]
    raise WeightsError(f"dtype {dtype!r} is not supported: use 'auto', 'fp32', 'fp16' or 'bf16'")


def resolve_vae_dtype(vae_dtype: str | torch.dtype | None, device: str | torch.device) -> torch.dtype:
    """The decoder precision: ``auto`` = fp16 on CUDA (as the official inference), float32 elsewhere."""
    if vae_dtype is None or (isinstance(vae_dtype, str) and vae_dtype.lower() == "auto"):
        return torch.float16 if torch.device(device).type == "cuda" else torch.float32
    return resolve_dtype(vae_dtype)
