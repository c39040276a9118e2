"""Reading weight files safely and loading them strictly, with errors a user can act on.

The format is recognised from the file's first bytes (a renamed file still loads):
safetensors go through safetensors; torch zip / legacy pickles through ``torch.load(weights_only=True)``
only, so a pickle that carries code is refused without running it. ``load_strict`` never leaves a
parameter random.
"""
from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Callable, Mapping

import torch

from ..errors import WeightsError

PICKLE_SUFFIXES = {".pth", ".pt", ".bin", ".ckpt"}
SAFETENSORS_SUFFIXES = {".safetensors", ".sft"}

_REDOWNLOAD = "re-download it (compare its size with the source)"


def _is_torchscript_zip(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("/constants.pkl") or "/code/" in n for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False  # truncated: torch.load reports it


def sniff_format(path: str | Path) -> str:
    """'safetensors' | 'torch_zip' | 'torchscript' | 'pickle' | 'lfs_pointer' | 'html' | 'text' | 'empty' | 'unknown'."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(4096)
    if not head:
        return "empty"
    if head.startswith(b"PK\x03\x04"):
        return "torchscript" if _is_torchscript_zip(path) else "torch_zip"
    if head[:1] == b"\x80" and len(head) > 1 and head[1] in range(2, 6):
        return "pickle"
    if len(head) >= 9:
        (n,) = struct.unpack("<Q", head[:8])
        if 2 <= n <= 100_000_000 and head[8:9] == b"{":
            return "safetensors"
    if head.startswith(b"version https://git-lfs"):
        return "lfs_pointer"
    low = head.lstrip()[:512].lower()
    if low.startswith((b"<!doctype html", b"<html")) or b"<html" in low:
        return "html"
    try:
        head.decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return "unknown"


def _format_problem(path: Path, fmt: str) -> str | None:
    size = path.stat().st_size
    if fmt == "torchscript":
        return (f"{path} is a TorchScript archive (a whole scripted model such as yoloface_v5m.pt), "
                "not a state dict of weights; check that you picked the right file")
    if fmt == "empty":
        return f"{path} is empty (0 bytes): the download or copy did not finish; {_REDOWNLOAD}"
    if fmt == "lfs_pointer":
        return (f"{path} is a Git LFS pointer ({size} bytes), not the weights: run `git lfs pull` in that "
                "repository or download the file itself")
    if fmt == "html":
        return (f"{path} is a web page ({size} bytes), not weights - typically Google Drive's download "
                "confirmation page saved under the file name; download the file again from the browser")
    if fmt == "text":
        return f"{path} is a text file ({size} bytes), not a weight file; check that you picked the right file"
    if fmt == "unknown":
        return (f"{path} ({size} bytes) is neither safetensors nor a PyTorch checkpoint; it may be corrupted "
                f"- {_REDOWNLOAD}")
    return None


def _explain_load_error(path: Path, fmt: str, exc: Exception) -> str:
    text = str(exc)
    size = path.stat().st_size
    glob = re.search(r"GLOBAL ([\w.]+)", text)
    if "weights only load failed" in text.lower() or glob:
        what = f" (it references {glob.group(1)})" if glob else ""
        return (f"{path} was REFUSED: it is a pickle that carries Python objects or code{what}, not a plain "
                "state dict of tensors. Unpickling it could run arbitrary code, so it is never loaded. "
                "Use the official file or a .safetensors version of it.")
    if "torchscript" in text.lower():
        return (f"{path} is a TorchScript archive (a whole scripted model such as yoloface_v5m.pt), "
                "not a state dict of weights; check that you picked the right file")
    return (f"cannot read weight file {path} ({size} bytes, looks like {fmt}): {type(exc).__name__}: "
            f"{text.splitlines()[0][:200] if text else ''}. It is probably truncated or corrupted; {_REDOWNLOAD}.")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a flat ``{key: tensor}`` mapping from ``path`` onto the CPU, safely."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weight file not found: {path}" + (" (this is a folder)" if path.is_dir() else ""))
    fmt = sniff_format(path)
    problem = _format_problem(path, fmt)
    if problem:
        raise WeightsError(problem)
    try:
        if fmt == "safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path), device="cpu")
        else:
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except WeightsError:
        raise
    except Exception as exc:  # torch/safetensors raise many types; give one clear message
        raise WeightsError(_explain_load_error(path, fmt, exc)) from None
    if isinstance(sd, Mapping) and "state_dict" in sd and isinstance(sd["state_dict"], Mapping):
        sd = sd["state_dict"]
    if not isinstance(sd, Mapping):
        raise WeightsError(f"{path} does not hold a state dict (a mapping of names to tensors) but a "
                           f"{type(sd).__name__}; check that you picked the right file")
    bad = [k for k, v in sd.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        more = f" (+{len(bad) - 5} more)" if len(bad) > 5 else ""
        raise WeightsError(f"{path} is not a plain state dict of tensors: entries {bad[:5]}{more} are "
                           f"{sorted({type(sd[k]).__name__ for k in bad})}; a training checkpoint must be "
                           "reduced to its model state dict first")
    return dict(sd)


def read_safetensors_metadata(path: str | Path) -> dict[str, dict]:
    """Key -> {dtype, shape} of a safetensors file without reading the tensors (cheap for big files)."""
    path = Path(path)
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise WeightsError(f"{path} is truncated (shorter than a safetensors header); {_REDOWNLOAD}")
        (n,) = struct.unpack("<Q", raw)
        header = f.read(n)
    try:
        meta = json.loads(header)
    except (ValueError, UnicodeDecodeError):
        raise WeightsError(f"{path} has an unreadable safetensors header; {_REDOWNLOAD}") from None
    meta.pop("__metadata__", None)
    return meta


def common_hint(missing: list[str], unexpected: list[str], mismatched: list[str]) -> str | None:
    """Causes that apply to every SVFR weight file (used when the caller's hint finds nothing)."""
    if unexpected and all(k.startswith("module.") for k in unexpected):
        return ("keys carry a 'module.' prefix (saved from DataParallel); strip it "
                "(python -m svfr_model convert does)")
    if any(k.startswith(("model.diffusion_model.", "first_stage_model.", "conditioner.")) for k in unexpected[:50]):
        return "this is an original-format single-file Stable Diffusion/SVD checkpoint, not an SVFR weight file"
    for m in mismatched:
        if m.startswith("conv_in.weight:") and re.search(r"file \[\d+, 8, 3, 3\]", m):
            return ("a plain SVD UNet was given instead of SVFR's unet.pth (conv_in has 8 input channels, "
                    "SVFR's has 12); use face_restoration/unet.pth from the SVFR release")
    return None


def load_strict(
    module: torch.nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    source: str | Path,
    hint: Callable[[list[str], list[str], list[str]], str | None] | None = None,
) -> None:
    """``module.load_state_dict(state_dict, strict=True)`` with a readable error.

    ``hint(missing, unexpected, shape_mismatches)`` may return the likely cause for the message;
    ``common_hint`` is consulted when it returns nothing.
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
        cause = (hint(missing, unexpected, mismatched) if hint else None) or common_hint(
            missing, unexpected, mismatched)
        if cause:
            parts.append(f"  likely cause: {cause}")
        else:
            parts.append("  fix: use the file this model expects (see docs/weights.md)")
        raise WeightsError("\n".join(parts))
    module.load_state_dict(state_dict, strict=True)
