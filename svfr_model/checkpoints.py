"""Reading weight files safely and loading them strictly, with errors a user can act on.

`.pth`/`.pt`/`.bin` go through ``torch.load(weights_only=True)`` only (a pickle that carries code
is refused); `.safetensors` through safetensors. ``load_strict`` never leaves a parameter random.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

import torch

from .errors import WeightsError

PICKLE_SUFFIXES = {".pth", ".pt", ".bin", ".ckpt"}


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a flat ``{key: tensor}`` mapping from ``path`` onto the CPU, safely."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weight file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".safetensors", ".sft"):
            from safetensors.torch import load_file

            sd = load_file(str(path), device="cpu")
        elif suffix in PICKLE_SUFFIXES:
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
        else:
            raise WeightsError(
                f"{path}: unsupported weight file type '{suffix}' (use .safetensors or .pth)"
            )
    except WeightsError:
        raise
    except Exception as exc:  # torch/safetensors raise many types; give one clear message
        raise WeightsError(
            f"cannot read weight file {path}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}. "
            "It may be truncated (re-download it), not a weight file, or a pickle that carries code "
            "(refused for safety: only plain tensor state dicts are loaded)."
        ) from None
    if isinstance(sd, Mapping) and "state_dict" in sd and isinstance(sd["state_dict"], Mapping):
        sd = sd["state_dict"]
    if not isinstance(sd, Mapping) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise WeightsError(f"{path} does not hold a state dict of tensors (got {type(sd).__name__})")
    return dict(sd)


def load_strict(
    module: torch.nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    source: str | Path,
    hint: Callable[[list[str], list[str], list[str]], str | None] | None = None,
) -> None:
    """``module.load_state_dict(state_dict, strict=True)`` with a readable error.

    ``hint(missing, unexpected, shape_mismatches)`` may return the likely cause for the message.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = [
        f"{k}: file {list(state_dict[k].shape)} vs model {list(own[k].shape)}"
        for k in own
        if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or mismatched:
        parts = [f"{source} does not match {type(module).__name__}:"]
        for name, items in (("missing keys", missing), ("unexpected keys", unexpected),
                            ("shape mismatches", mismatched)):
            if items:
                more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
                parts.append(f"  {len(items)} {name}: {', '.join(items[:5])}{more}")
        cause = hint(missing, unexpected, mismatched) if hint else None
        if cause:
            parts.append(f"  likely cause: {cause}")
        raise WeightsError("\n".join(parts))
    module.load_state_dict(state_dict, strict=True)
