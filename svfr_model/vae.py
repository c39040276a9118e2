"""The SVD-xt VAE (diffusers ``AutoencoderKLTemporalDecoder``): chunked encode and chunked temporal decode.

Official numerics (spec §4.3, §4.8): LQ frames are encoded in float32 in chunks of 20; the init latents
use ``latent_dist.mean * 0.18215`` and the LQ conditioning channels ``latent_dist.mode()`` (== mean) UNSCALED.
Decoding divides by ``scaling_factor`` and runs the temporal decoder on chunks of ``decode_chunk`` frames
with ``num_frames`` = chunk length: the chunking is part of the result.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from .unet import CONFIG_DIR, read_config

ENCODE_CHUNK = 20
# Hard-coded in the official pipeline for the init latents (the VAE config value is used for decoding).
LATENT_SCALE = 0.18215


def default_vae_config() -> dict[str, Any]:
    """The real SVD-xt VAE config shipped with the package."""
    return read_config(CONFIG_DIR / "vae_svdxt.json")


def build_vae(config: Mapping[str, Any] | str | Path | None = None, *, device: str | torch.device = "cpu"):
    """Build an ``AutoencoderKLTemporalDecoder`` from a config (float32, eval, no grad)."""
    from diffusers import AutoencoderKLTemporalDecoder

    if config is None:
        config = default_vae_config()
    elif isinstance(config, (str, Path)):
        config = read_config(config)
    cfg = {k: v for k, v in dict(config).items() if not k.startswith("_")}
    with torch.device(device):
        vae = AutoencoderKLTemporalDecoder.from_config(cfg)
    vae.requires_grad_(False)
    vae.eval()
    return vae


def vae_scale_factor(vae) -> int:
    return 2 ** (len(vae.config.block_out_channels) - 1)


@torch.no_grad()
def encode_mean(vae, pixels: torch.Tensor) -> torch.Tensor:
    """``vae.encode(pixels).latent_dist.mean`` in float32 for one chunk (pixels (n, 3, H, W) in [-1, 1]).

    ``mode()`` of the diagonal Gaussian is its mean, so this serves both official encodes.
    """
    device = next(vae.parameters()).device
    vae_dtype = next(vae.parameters()).dtype
    if vae_dtype != torch.float32:  # force_upcast: the encoder always runs in float32 officially
        raise RuntimeError("encode_mean expects a float32 VAE")
    return vae.encode(pixels.to(device=device, dtype=torch.float32)).latent_dist.mean


@torch.no_grad()
def decode_chunk(vae, latents: torch.Tensor) -> torch.Tensor:
    """Decode (n, 4, h, w) scaled latents as ONE temporal chunk of n frames -> float32 (n, 3, H, W), unclamped.

    The VAE stays in float32 here (the official run decodes in fp16; fp32 is the more exact of the two).
    """
    device = next(vae.parameters()).device
    z = (latents / vae.config.scaling_factor).to(device=device, dtype=torch.float32)
    return vae.decode(z, num_frames=z.shape[0]).sample.float()
