"""The SVD-xt VAE (diffusers ``AutoencoderKLTemporalDecoder``): chunked encode and chunked temporal decode.

Official numerics (spec §4.3, §4.8): LQ frames are encoded in float32 in chunks of 20; the init latents
use ``latent_dist.mean * 0.18215`` and the LQ conditioning channels ``latent_dist.mode()`` (== mean) UNSCALED.
Decoding divides by ``scaling_factor`` and runs the temporal decoder on chunks of ``decode_chunk`` frames
with ``num_frames`` = chunk length: the chunking is part of the result.

Precision: the encoder always runs in float32 (the official pipeline upcasts the fp16 VAE for encoding,
``force_upcast``); ``vae_dtype`` is the decoder's precision (the official run decodes in fp16 on CUDA).
The encoder works frame by frame, so the encode chunk only bounds memory (any chunk, the same latents).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from .configs import default_vae_config, read_config

ENCODE_CHUNK = 20
# Hard-coded in the official pipeline for the init latents (the VAE config value is used for decoding).
LATENT_SCALE = 0.18215


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


def set_vae_dtype(vae, dtype: torch.dtype, device: str | torch.device | None = None):
    """Encoder (and quant_conv) in float32, decoder in ``dtype``, all on ``device`` (in place; returns vae)."""
    for name, module in vae.named_children():
        torch.nn.Module.to(module, device=device, dtype=dtype if name == "decoder" else torch.float32)
    return vae


def decoder_dtype(vae) -> torch.dtype:
    return next(vae.decoder.parameters()).dtype


def vae_scale_factor(vae) -> int:
    return 2 ** (len(vae.config.block_out_channels) - 1)


@torch.no_grad()
def encode_mean(vae, pixels: torch.Tensor) -> torch.Tensor:
    """``vae.encode(pixels).latent_dist.mean`` in float32 for one chunk (pixels (n, 3, H, W) in [-1, 1]).

    ``mode()`` of the diagonal Gaussian is its mean, so this serves both official encodes.
    """
    param = next(getattr(vae, "encoder", vae).parameters())  # the encoder's (the decoder may be fp16)
    if param.dtype != torch.float32:  # force_upcast: float32 officially
        raise RuntimeError("encode_mean expects a float32 VAE encoder (use set_vae_dtype)")
    return vae.encode(pixels.to(device=param.device, dtype=torch.float32)).latent_dist.mean


@torch.no_grad()
def decode_chunk(vae, latents: torch.Tensor) -> torch.Tensor:
    """Decode (n, 4, h, w) scaled latents as ONE temporal chunk of n frames -> float32 (n, 3, H, W), unclamped.

    Runs in the decoder's precision (``set_vae_dtype``; the official run decodes in fp16 on CUDA). The
    result is on the VAE's device.
    """
    param = next(vae.decoder.parameters())
    z = (latents.to(param.device, torch.float32) / vae.config.scaling_factor).to(param.dtype)
    return vae.decode(z, num_frames=z.shape[0]).sample.float()
