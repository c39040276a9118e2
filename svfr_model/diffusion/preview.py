"""Cheap live previews: SD/SVD latents -> RGB by a linear 4 -> 3 map, no VAE.

The map is the one ComfyUI uses for SD1.5 latents (``comfy/latent_formats.py``, ``SD15.latent_rgb_factors``,
no bias); SVD shares the SD1.5 VAE latent space (ComfyUI's ``SVD_img2vid`` model uses
``latent_format = SD15``, scale 0.18215). It applies to latents in that scaled space, as the sampler's
predictions are, and gives about -1..1, mapped to 0..1 here as ComfyUI's ``preview_to_image`` does.
"""
from __future__ import annotations

import torch

from ..errors import InputError

# rows: latent channels 0..3; columns: R, G, B
SD_LATENT_RGB = torch.tensor([
    [0.3512, 0.2297, 0.3227],
    [0.3250, 0.4974, 0.2350],
    [-0.2829, 0.1762, 0.2721],
    [-0.2120, -0.2616, -0.7177],
])


def latents_to_rgb(latents: torch.Tensor) -> torch.Tensor:
    """(..., 4, h, w) scaled latents -> (..., h, w, 3) float32 in 0..1 (at latent resolution)."""
    if not isinstance(latents, torch.Tensor) or latents.ndim < 3 or latents.shape[-3] != 4:
        shape = tuple(latents.shape) if isinstance(latents, torch.Tensor) else type(latents).__name__
        raise InputError(f"preview latents must be (..., 4, h, w), got {shape}")
    rgb = torch.einsum("...chw,cd->...hwd", latents.float().cpu(), SD_LATENT_RGB)
    return ((rgb + 1.0) / 2.0).clamp(0.0, 1.0)


def window_preview(latents: torch.Tensor) -> torch.Tensor:
    """One preview image for a window's latents (window, 4, h, w): its middle frame, (h, w, 3) in 0..1."""
    if latents.ndim != 4:
        raise InputError(f"window latents must be (frames, 4, h, w), got {tuple(latents.shape)}")
    return latents_to_rgb(latents[latents.shape[0] // 2])
