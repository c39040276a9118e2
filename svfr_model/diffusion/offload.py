"""Offload (low_vram preset): the UNet leaves the device while the VAE runs, and the VAE while the UNet runs."""
from __future__ import annotations

import torch

OFFLOAD_DEVICE = torch.device("cpu")


def move_module(module: torch.nn.Module, device: torch.device) -> None:
    """Move weights only (dtypes kept); one place so tests can watch the offload moves."""
    torch.nn.Module.to(module, device=device)


def place_for(models, phase: str, device: torch.device) -> None:
    """Offload placement: ``vae`` (UNet off the device), ``unet`` (VAE off), ``all`` (both on ``device``)."""
    move_module(models.unet, device if phase in ("unet", "all") else OFFLOAD_DEVICE)
    vae_home = getattr(models, "vae_device", None) or device  # a VAE kept on the CPU (--cpu-vae) stays there
    move_module(models.vae, vae_home if phase in ("vae", "all") else OFFLOAD_DEVICE)
    if phase != "all" and torch.device(device).type == "cuda":
        torch.cuda.empty_cache()  # hand the freed weights' memory to the next phase
