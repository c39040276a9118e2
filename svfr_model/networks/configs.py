"""The real SVD-xt configs shipped with the package (``configs/``), and reading a diffusers config file.

A model folder's own ``config.json`` files win; these are the fallback (``weights.model_files``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import WeightsError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
PACKAGED_CONFIGS = {
    "vae": CONFIG_DIR / "vae_svdxt.json",
    "scheduler": CONFIG_DIR / "scheduler_svdxt.json",
    "unet": CONFIG_DIR / "unet_svdxt.json",
}


def read_config(path: str | Path) -> dict[str, Any]:
    """Read a diffusers ``config.json`` into a plain dict (clear error when missing/invalid)."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WeightsError(f"config file not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise WeightsError(f"cannot read config file {path}: {exc}") from None


def default_unet_config() -> dict[str, Any]:
    """The real SVD-xt UNet config (heads [5, 10, 20, 20])."""
    return read_config(PACKAGED_CONFIGS["unet"])


def default_vae_config() -> dict[str, Any]:
    """The real SVD-xt VAE config."""
    return read_config(PACKAGED_CONFIGS["vae"])


def default_scheduler_config() -> dict[str, Any]:
    """The real SVD-xt scheduler config."""
    return read_config(PACKAGED_CONFIGS["scheduler"])
