"""Pixels to latents and back for a whole pass, chunk by chunk (official numerics, spec §4.3 and §4.8).

Encode: init latents = mean x 0.18215, LQ conditioning = mode() (== mean) unscaled, with the noise
augmentation drawn chunk by chunk from the pass's generator. Decode: temporal chunks of ``decode_chunk``
frames (the chunk is part of the result); a chunk that runs out of device memory is retried with half as
many frames. Whole-video latents (64 KB per frame at 512²) stay on the compute device when they fit.
"""
from __future__ import annotations

import warnings
from typing import Callable, Optional

import torch

from ..errors import InputError, SVFRWarning
from ..networks.vae import ENCODE_CHUNK, LATENT_SCALE, decode_chunk, encode_mean

# Whole-video latent state kept on a CUDA device up to this many bytes (latents, LQ latents, the step's
# accumulator: 3 x 64 KB per frame at 512², so ~5000 frames); longer videos keep it on the CPU.
STATE_ON_DEVICE_MAX_BYTES = 1 << 30

FrameSource = Callable[[int, int], torch.Tensor]   # (start, stop) -> (n, 3, H, W) float32 in [-1, 1]
FrameSink = Callable[[int, torch.Tensor], None]    # (start, frames (n, 3, H, W) float32, unclamped)


def state_device(device: torch.device, num_frames: int, latent_shape) -> torch.device:
    """Where the whole-video latents live: the compute device when it is CUDA and they fit, else the CPU."""
    device = torch.device(device)
    per_frame = 4 * int(torch.tensor(latent_shape).prod())
    if device.type != "cpu" and 3 * per_frame * num_frames <= STATE_ON_DEVICE_MAX_BYTES:
        return device
    return torch.device("cpu")


@torch.no_grad()
def encode_lq(vae, lq: FrameSource, num_frames: int, noise_aug: float, generator: torch.Generator,
              trace=None, chunk: int = ENCODE_CHUNK) -> tuple[torch.Tensor, torch.Tensor]:
    """Init latents (mean x 0.18215) and LQ conditioning latents (mode of lq + noise_aug * noise), CPU float32.

    The noise-augmentation noise is drawn chunk by chunk: for H, W multiples of 8 the chunked draws are
    bitwise the official single draw of shape (F, 3, H, W) (tested). With noise_aug == 0 the noisy input
    equals the clean one, so a single encode serves both (the official code encodes twice).
    ``chunk`` (official 20) only bounds memory: the encoder is per frame, so any chunk gives the same latents.
    """
    if chunk < 1:
        raise InputError(f"encode chunk must be >= 1, got {chunk}")
    init, cond = [], []
    for start in range(0, num_frames, chunk):
        stop = min(start + chunk, num_frames)
        x = lq(start, stop).to(torch.float32)
        mean = encode_mean(vae, x).cpu()
        noise = torch.randn(x.shape, generator=generator, dtype=torch.float32)  # drawn even at strength 0
        init.append(mean * LATENT_SCALE)
        if noise_aug == 0.0:
            cond.append(mean)
        else:
            cond.append(encode_mean(vae, x + noise_aug * noise).cpu())
        del x, noise
    init_lat, cond_lat = torch.cat(init), torch.cat(cond)
    if trace is not None:
        trace.vae_mean_scaled = init_lat.clone()
        trace.image_latents = cond_lat.clone()
    return init_lat, cond_lat


def _decode_oom_retry(size: int) -> int:
    """The chunk after an out-of-memory error: half the frames (warned); none left to halve: re-raise."""
    size = max(1, size // 2)
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    warnings.warn(SVFRWarning(f"VAE decode ran out of device memory; retrying with {size} frames per chunk "
                              "(the denoised latents are kept; the temporal decoder's chunk changes the result "
                              "slightly)", "{preset='low_vram'} or a lower {decode_chunk} avoids this"),
                  stacklevel=3)
    return size


@torch.no_grad()
def decode(vae, latents: torch.Tensor, decode_chunk_size: int, sink: FrameSink,
           chunks: Optional[list[int]] = None,
           after_chunk: Callable[[torch.Tensor], None] | None = None,
           before_chunk: Callable[[], None] | None = None) -> None:
    """Decode (F, 4, h, w) latents in temporal chunks of ``decode_chunk_size``; ``sink(start, frames)``.

    ``chunks``: restrict to these chunk start indices (pass 1 only needs the chunk with its last frame;
    chunks are independent, so the result for those frames is unchanged).

    Out of device memory in a chunk: warned, and that chunk and the rest are decoded with half as many
    frames (down to 1); the denoised latents are kept, so nothing is recomputed. ``after_chunk`` still runs
    once per requested chunk (progress counts stay right).
    """
    if decode_chunk_size < 1:
        raise InputError(f"decode_chunk must be >= 1, got {decode_chunk_size}")
    starts = list(range(0, latents.shape[0], decode_chunk_size)) if chunks is None else chunks
    size = decode_chunk_size  # may shrink after an out-of-memory error
    for start in starts:
        if before_chunk is not None:
            before_chunk()
        stop, at = min(start + decode_chunk_size, latents.shape[0]), start
        while at < stop:
            try:
                frames = decode_chunk(vae, latents[at:min(at + size, stop)]).cpu()
            except torch.OutOfMemoryError:
                if size == 1:
                    raise
                size = _decode_oom_retry(size)
                continue
            sink(at, frames)
            at += frames.shape[0]
        if after_chunk is not None:
            after_chunk(frames)
