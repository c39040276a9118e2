"""Device memory a restore needs, for ComfyUI's ``load_models_gpu`` hints and the ``auto`` preset.

The figures come from the memory model (issue 15: ``svfr_model/diffusion/memory_model.py`` runs the engine on
fake CUDA tensors at real size) through the table it generates (``svfr_model/diffusion/memory_table.json``,
conservative cuDNN workspace = input + output per convolution). The table reproduces issue 7's H200
measurements (UNet fp16 per 16-frame call 1.06 / 2.96 GiB at batch 1 / 2; decode fp16 chunk 16 -> 8.0 GiB
without workspace, 9.5 with; encode 20 frames fp32 15.0 GiB) and replaces their linear scaling: other crop
sizes, windows and chunks are interpolated between measured grid points. "GiB" is 2**30 bytes.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

GIB = 2**30
FRAGMENTATION = 1.05  # allocator fragmentation (reserved / allocated) on top of a predicted peak
MARGIN = FRAGMENTATION
# Whole-video latent state on the device per frame at 512² (latents, LQ latents, the step's accumulator).
STATE_FLOATS_PER_LATENT = 3


def _table():
    from .memory_table import memory_table

    return memory_table()


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
    t = _table()
    size = dict(height=height, width=width)
    u = t.act("unet", frames=window, dtype=unet_dtype, batch=cfg_batch, **size)
    d = t.act("decode", frames=decode_chunk, dtype=vae_dtype, **size)
    e = t.act("encode", frames=encode_chunk, **size)
    required = FRAGMENTATION * max(u, d, e)
    low = max(t.act("unet", frames=window, dtype=unet_dtype, batch=1, **size),
              t.act("decode", frames=1, dtype=vae_dtype, **size), t.act("encode", frames=1, **size))
    minimum = FRAGMENTATION * low
    return MemoryEstimate(unet=int(u), decode=int(d), encode=int(e), required=int(required),
                          minimum=int(min(minimum, required)))


@dataclass(frozen=True)
class PeakEstimate:
    """Device bytes allocated at the peak of each phase of a restore: weights resident then + activations."""

    encode: int
    unet: int
    decode: int

    @property
    def peak(self) -> int:
        return max(self.encode, self.unet, self.decode)

    @property
    def stage(self) -> str:
        return max(("encode", "unet", "decode"), key=lambda k: getattr(self, k))


def predict_peak(*, height: int = 512, width: int = 512, window: int = 16, cfg_sequential: bool = False,
                 decode_chunk: int = 16, encode_chunk: int = 20, offload: bool = False, unet_dtype="fp16",
                 vae_dtype="fp16", arcface: bool = True, frames: int | None = None) -> PeakEstimate:
    """The peak allocated during a restore, composed from the memory table (no fake run): per phase the
    weights on the device (``offload`` moves the UNet off during VAE work and the VAE off during denoising;
    ArcFace and the projector stay) plus that phase's largest call; during denoising also the whole-video
    latent state (on the device up to ``latents.STATE_ON_DEVICE_MAX_BYTES``). ``frames`` None: any length
    (full chunks, the largest state). Checked against the full fake-tensor run of the memory model in
    tests/svfr_model/diffusion/test_presets_sized.py."""
    from .latents import STATE_ON_DEVICE_MAX_BYTES

    t = _table()
    size = dict(height=height, width=width)
    unet_w, vae_w = t.unet_weights(unet_dtype), t.vae_weights(vae_dtype)
    ident = t.identity_weights() if arcface else 0
    latent = 4 * (height // 8) * (width // 8) * 4
    if frames is None:
        state = STATE_ON_DEVICE_MAX_BYTES
    else:
        state = STATE_FLOATS_PER_LATENT * latent * frames
        state = state if state <= STATE_ON_DEVICE_MAX_BYTES else 0
        decode_chunk, encode_chunk = min(decode_chunk, frames), min(encode_chunk, frames)
    vae_phase = vae_w + ident + (0 if offload else unet_w)
    unet_phase = unet_w + ident + (0 if offload else vae_w) + state
    return PeakEstimate(
        encode=vae_phase + t.act("encode", frames=encode_chunk, **size),
        unet=unet_phase + t.act("unet", frames=window, dtype=unet_dtype, batch=1 if cfg_sequential else 2, **size),
        decode=vae_phase + t.act("decode", frames=decode_chunk, dtype=vae_dtype, **size))
