"""Device memory a restore needs beyond the model weights, for ComfyUI's ``load_models_gpu`` hints.

Constants are issue 7's measurements on an H200 (torch 2.11, real-size random weights, 512x512 frames,
peak allocated minus what was allocated before the call):

* UNet activations per 16-frame call, fp16: 1.06 GB at batch 1, 2.96 GB at batch 2 (CFG in one batch);
* VAE temporal decode: fp16 chunk 16 -> 8.0 GB, chunk 8 -> 4.0 GB (0.5 GB per frame); fp32 twice that;
* VAE encode of 20 frames: fp32 15.0 GB, fp16 7.5 GB (0.75 / 0.375 GB per frame).

Activations scale with the frames per call and the pixels per frame (linear: the attention at 512² is a
small part); float32 doubles them. "GB" is taken as 2**30 bytes. The GPU bench (bench/bench_gpu.py)
reports the measured peaks next to these estimates.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

GIB = 2**30
BASE_PIXELS = 512 * 512
UNET_ACT_FP16 = {1: 1.06 * GIB, 2: 2.96 * GIB}  # per 16-frame call at 512², by CFG batch
UNET_ACT_FRAMES = 16
DECODE_PER_FRAME_FP16 = 8.0 * GIB / 16
ENCODE_PER_FRAME_FP32 = 15.0 * GIB / 20  # the encoder always runs in float32 (official upcast)
MARGIN = 1.1  # allocator fragmentation and small buffers


def _dtype_factor(dtype: torch.dtype) -> float:
    return 2.0 if dtype == torch.float32 else 1.0


@dataclass(frozen=True)
class MemoryEstimate:
    unet: int      # bytes of UNet activations (one window call)
    decode: int    # bytes of one temporal-decoder chunk
    encode: int    # bytes of one encoder chunk
    required: int  # what to ask ComfyUI to free: the largest of the three, with a margin
    minimum: int   # the least the run can work with: batch-1 CFG, decode chunk 1, encode chunk 1


def estimate_memory(*, height: int = 512, width: int = 512, window: int = 16, cfg_batch: int = 2,
                    decode_chunk: int = 16, encode_chunk: int = 20, unet_dtype: torch.dtype = torch.float16,
                    vae_dtype: torch.dtype = torch.float16) -> MemoryEstimate:
    """Activation memory (bytes) of the largest step of a restore with these settings (weights excluded:
    ComfyUI counts those itself). ``cfg_batch`` 2 = both CFG halves in one UNet call, 1 = sequential."""
    if cfg_batch not in (1, 2):
        raise ValueError(f"cfg_batch must be 1 or 2, got {cfg_batch}")
    px = height * width / BASE_PIXELS

    def unet(batch: int) -> float:
        return UNET_ACT_FP16[batch] * window / UNET_ACT_FRAMES * px * _dtype_factor(unet_dtype)

    def decode(chunk: int) -> float:
        return DECODE_PER_FRAME_FP16 * chunk * px * _dtype_factor(vae_dtype)

    def encode(chunk: int) -> float:
        return ENCODE_PER_FRAME_FP32 * chunk * px

    u, d, e = unet(cfg_batch), decode(decode_chunk), encode(encode_chunk)
    required = MARGIN * max(u, d, e)
    minimum = MARGIN * max(unet(1), decode(1), encode(1))
    return MemoryEstimate(unet=int(u), decode=int(d), encode=int(e), required=int(required),
                          minimum=int(min(minimum, required)))
