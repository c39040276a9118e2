"""One SVFR denoising pass (official ``LQ2VideoLongSVDPipeline.__call__``, spec §4.3-4.8), memory-bounded.

Per pass: encode the LQ frames in chunks (init latents = mean x 0.18215, LQ channels = mode() unscaled),
draw the noise-augmentation noise and the initial noise from ONE generator in the official order,
``add_noise`` at the first (i2i-cut) timestep, then for every step run windows of ``window`` frames with
circular wrap-around (stride window - overlap for steps 0-2, then window; start shifted by the accumulated
overlap), CFG, one Euler step per window, triangular-weighted average; finally decode in chunks.

Whole-video state (latents, LQ latents: 4 x h x w floats per frame, 64 KB at 512²) stays on the compute
device when it fits (``state_device``), so a window costs no host round trip or sync; otherwise on the CPU.
Pixels are produced/consumed chunk by chunk through callables. Memory options (``presets.py``): the CFG
halves one after the other, UNet/VAE offload between phases, and a decode that retries an out-of-memory
chunk with half as many frames.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

from .errors import InputError
from .scheduler import Schedule, add_noise, euler_step_v, scale_model_input
from .vae import ENCODE_CHUNK, LATENT_SCALE, decode_chunk, encode_mean

# Whole-video latent state kept on a CUDA device up to this many bytes (latents, LQ latents, the step's
# accumulator: 3 x 64 KB per frame at 512², so ~5000 frames); longer videos keep it on the CPU.
STATE_ON_DEVICE_MAX_BYTES = 1 << 30
OFFLOAD_DEVICE = torch.device("cpu")


class UNetOutOfMemory(torch.OutOfMemoryError):
    """The UNet ran out of device memory; the message names the preset/options that need less."""

# Steps (counted after the i2i cut) that use overlapping windows, as in the official loop (`i < 3`).
OVERLAP_STEPS = 3
# UNet calls between two live previews (and the pass's last call): a preview costs one window's
# prediction copied to the CPU; a UNet call costs far more, so every few calls is enough to watch.
PREVIEW_EVERY = 4

PreviewHook = Callable[[torch.Tensor], None]  # (window, 4, h, w) float32 CPU: the window's predicted x0


def predicted_x0(v: torch.Tensor, sample: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The clean latents a v-prediction implies (the ``pred_x0`` of ``scheduler.euler_step_v``), float32."""
    sigma = sigma.to(sample.device)
    return v.float() * (-sigma / (sigma**2 + 1) ** 0.5) + sample.float() / (sigma**2 + 1)


def window_weights(window: int) -> torch.Tensor:
    """Triangular blend weights min(k + 1, window - k), k = 0..window-1 (float32)."""
    return torch.tensor([min(k + 1, window - k) for k in range(window)], dtype=torch.float32)


def window_starts(num_frames: int, window: int, overlap: int, num_steps: int) -> list[list[int]]:
    """Unwrapped start index (``s0 - shift``) of every window of every step; frame = (start + k) mod F."""
    if window < 1:
        raise InputError(f"window must be >= 1 frame, got {window}")
    if overlap < 0 or overlap >= window:
        raise InputError(f"overlap must be in [0, window - 1] = [0, {window - 1}], got {overlap}")
    plan: list[list[int]] = []
    shift = 0
    for i in range(num_steps):
        stride = window - overlap * (i < OVERLAP_STEPS)
        plan.append([s0 - shift for s0 in range(0, num_frames, stride)])
        shift = (shift + overlap) % window
    return plan


def count_unet_calls(num_frames: int, window: int, overlap: int, num_steps: int) -> int:
    return sum(len(s) for s in window_starts(num_frames, window, overlap, num_steps))


def guidance_scales(guidance_min: float, guidance_max: float, num_steps: int) -> torch.Tensor:
    """One scale per denoising step (official: ``torch.linspace(min, max, effective steps)``)."""
    return torch.linspace(guidance_min, guidance_max, num_steps)


@dataclass
class PassTrace:
    """What one pass did, in the fixture's trace vocabulary (filled only when a trace is passed in)."""

    call_i: list[int] = field(default_factory=list)
    call_batch: list[int] = field(default_factory=list)
    call_index_start: list[int] = field(default_factory=list)
    call_idx: list[list[int]] = field(default_factory=list)
    call_t: list[float] = field(default_factory=list)
    call_guidance: list[float] = field(default_factory=list)
    timesteps: Optional[torch.Tensor] = None
    init_latents: Optional[torch.Tensor] = None
    vae_mean_scaled: Optional[torch.Tensor] = None
    image_latents: Optional[torch.Tensor] = None
    step_latents: list[torch.Tensor] = field(default_factory=list)
    cfg_batch: list[int] = field(default_factory=list)
    ref_latent: Optional[torch.Tensor] = None


@dataclass
class PassConfig:
    schedule: Schedule
    window: int = 16
    overlap: int = 3
    guidance_min: float = 2.0
    guidance_max: float = 2.0
    noise_aug: float = 0.0
    decode_chunk: int = 16
    skip_uncond_when_equal: bool = True
    encode_chunk: int = ENCODE_CHUNK
    cfg_sequential: bool = False  # CFG halves one after the other (batch 1): ~1/3 of the activations
    offload: bool = False         # UNet off the device during VAE work, VAE off during denoising


@dataclass
class PassResult:
    latents: torch.Tensor  # (F, 4, h, w) float32 CPU: final latents before / scaling_factor


FrameSource = Callable[[int, int], torch.Tensor]   # (start, stop) -> (n, 3, H, W) float32 in [-1, 1]
FrameSink = Callable[[int, torch.Tensor], None]    # (start, frames (n, 3, H, W) float32, unclamped)


def state_device(device: torch.device, num_frames: int, latent_shape) -> torch.device:
    """Where the whole-video latents live: the compute device when it is CUDA and they fit, else the CPU."""
    device = torch.device(device)
    per_frame = 4 * int(torch.tensor(latent_shape).prod())
    if device.type != "cpu" and 3 * per_frame * num_frames <= STATE_ON_DEVICE_MAX_BYTES:
        return device
    return torch.device("cpu")


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


def unet_oom_message(batch: int, window: int) -> str:
    hint = ("use the low_vram preset (CFG halves one after the other, offload)" if batch == 2 else
            "lower the window (frames per UNet call), use fp16, or free the GPU of other models")
    return (f"the SVFR UNet ran out of GPU memory on a {window}-frame window (CFG batch {batch}): {hint}; "
            "see docs/performance.md for the memory of each preset")


@torch.no_grad()
def encode_lq(vae, lq: FrameSource, num_frames: int, noise_aug: float, generator: torch.Generator,
              trace: PassTrace | None = None, chunk: int = ENCODE_CHUNK) -> tuple[torch.Tensor, torch.Tensor]:
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


@torch.no_grad()
def denoise(unet, *, init_latents: torch.Tensor, lq_latents: torch.Tensor, ref_latent: torch.Tensor | None,
            id_tokens: torch.Tensor | None, task_bits, config: PassConfig, generator: torch.Generator,
            device: torch.device, dtype: torch.dtype,
            before_call: Callable[[], None] | None = None,
            after_call: Callable[[torch.Tensor], None] | None = None,
            trace: PassTrace | None = None, preview: PreviewHook | None = None,
            preview_every: int = PREVIEW_EVERY) -> torch.Tensor:
    """The windowed denoising loop. ``init_latents``/``lq_latents`` (F, 4, h, w) CPU float32.

    ``preview(x0)``: called after every ``preview_every``-th UNet call and after the last one, with the
    window's predicted clean latents (window, 4, h, w) float32 CPU, in the scaled latent space (x 0.18215).

    ``ref_latent`` (4, h, w) unscaled or None (zeros), ``id_tokens`` (49, D) or None (zeros). Returns the
    final latents (F, 4, h, w) CPU float32. The unconditional CFG half (zero tokens, zero reference, LQ
    kept) is skipped when it equals the conditional one (no tokens and no reference): guidance is then
    the identity ``u + g (u - u) = u``.
    """
    sched = config.schedule
    num_frames = init_latents.shape[0]
    home = state_device(device, num_frames, init_latents.shape[1:])
    window, overlap = config.window, config.overlap
    plan = window_starts(num_frames, window, overlap, sched.num_steps)
    weights = window_weights(window)
    guidance = guidance_scales(config.guidance_min, config.guidance_max, sched.num_steps)

    # Initial noise: after the noise-aug draws (official order), shape (1, F, 4, h, w).
    noise = torch.randn((1, *init_latents.shape), generator=generator, dtype=torch.float32)[0]
    latents = add_noise(init_latents, noise, sched.sigmas[0]).to(home)
    lq_latents = lq_latents.to(home)
    weights = weights.to(home)
    del noise
    if trace is not None:
        trace.timesteps = sched.timesteps.clone()
        trace.init_latents = latents.clone()

    cond_tokens = id_tokens
    use_cfg = not (config.skip_uncond_when_equal and cond_tokens is None and ref_latent is None)
    hidden = cond_tokens.shape[-1] if cond_tokens is not None else unet.config.cross_attention_dim
    ntok = cond_tokens.shape[-2] if cond_tokens is not None else 49
    batch = 2 if use_cfg else 1
    # Conditioning that is the same for every window, on the device once.
    ctx = torch.zeros((batch, ntok, hidden), device=device, dtype=dtype)
    if cond_tokens is not None:
        ctx[-1] = cond_tokens.to(device=device, dtype=dtype)
    ref_chan = torch.zeros((batch, 1, *lq_latents.shape[1:]), device=device, dtype=dtype)
    if ref_latent is not None:
        ref_chan[-1, 0] = ref_latent.to(device=device, dtype=dtype)
    time_ids = torch.tensor([list(task_bits)] * batch, dtype=dtype, device=device)

    if preview_every < 1:
        raise InputError(f"preview_every must be >= 1 UNet call, got {preview_every}")
    n_calls, call = sum(len(st) for st in plan), 0
    for i, starts in enumerate(plan):
        sigma, sigma_next = sched.sigmas[i], sched.sigmas[i + 1]
        t = sched.timesteps[i].to(device)
        g = guidance[i]
        acc = torch.zeros_like(latents)
        counter = torch.zeros((num_frames, 1, 1, 1), dtype=torch.float32, device=home)
        for b, start in enumerate(starts):
            idx = torch.tensor([(start + k) % num_frames for k in range(window)], device=home)
            if trace is not None:
                trace.call_i.append(i)
                trace.call_batch.append(b)
                trace.call_index_start.append(start)
                trace.call_idx.append(list(range(start, start + window)))
                trace.call_t.append(float(sched.timesteps[i]))
                trace.call_guidance.append(float(g.to(dtype)))
                trace.cfg_batch.append(batch)
            if before_call is not None:
                before_call()
            win = latents[idx].to(device)
            scaled = scale_model_input(win, sigma).to(dtype)
            lq_win = lq_latents[idx].to(device=device, dtype=dtype)
            sample = torch.cat([
                scaled.unsqueeze(0).expand(batch, -1, -1, -1, -1),
                lq_win.unsqueeze(0).expand(batch, -1, -1, -1, -1),
                ref_chan.expand(-1, window, -1, -1, -1),
            ], dim=2)
            try:
                if use_cfg and config.cfg_sequential:  # same function, half the batch at a time
                    pred = torch.cat([unet(sample[k:k + 1], t, encoder_hidden_states=ctx[k:k + 1],
                                           added_time_ids=time_ids[k:k + 1], return_dict=False)[0]
                                      for k in range(batch)])
                else:
                    pred = unet(sample, t, encoder_hidden_states=ctx, added_time_ids=time_ids,
                                return_dict=False)[0]
            except torch.OutOfMemoryError as exc:
                if isinstance(exc, UNetOutOfMemory):
                    raise
                eff = 1 if config.cfg_sequential else batch
                raise UNetOutOfMemory(unet_oom_message(eff, window)) from exc
            pred = pred.float()
            if use_cfg:
                v = pred[0] + g * (pred[1] - pred[0])
            else:
                v = pred[0]
            stepped = euler_step_v(v, win.float(), sigma, sigma_next).to(home)
            acc.index_add_(0, idx, stepped * weights.view(-1, 1, 1, 1))
            counter.index_add_(0, idx, weights.view(-1, 1, 1, 1))
            if after_call is not None:
                after_call(stepped)
            call += 1
            if preview is not None and (call % preview_every == 0 or call == n_calls):
                preview(predicted_x0(v, win, sigma).cpu())
            del win, scaled, lq_win, sample, pred, v
        latents = acc / counter
        if trace is not None:
            trace.step_latents.append(latents.cpu())
    return latents.cpu()


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
                size = max(1, size // 2)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                warnings.warn(f"VAE decode ran out of device memory; retrying with {size} frames per chunk "
                              "(the denoised latents are kept; the temporal decoder's chunk changes the result "
                              "slightly). Use the low_vram preset or a lower decode_chunk to avoid this.",
                              stacklevel=2)
                continue
            sink(at, frames)
            at += frames.shape[0]
        if after_chunk is not None:
            after_chunk(frames)


@torch.no_grad()
def run_pass(models, lq: FrameSource, num_frames: int, *, task_bits, config: PassConfig,
             generator: torch.Generator, ref_frame: torch.Tensor | None = None,
             id_tokens: torch.Tensor | None = None, sink: FrameSink | None = None,
             decode_chunks: Optional[list[int]] = None,
             before_call: Callable[[], None] | None = None,
             after_call: Callable[[torch.Tensor], None] | None = None,
             after_decode: Callable[[torch.Tensor], None] | None = None,
             trace: PassTrace | None = None, preview: PreviewHook | None = None) -> PassResult:
    """One official pipeline call: encode, denoise, decode (frames go to ``sink``; none if it is None).

    ``ref_frame``: (3, H, W) float in about [-1, 1] (pass 2's reference; its VAE latent mode() is used
    unscaled). ``id_tokens``: (49, 1024) for the conditional half. Draws from ``generator`` in the
    official order: noise-aug noise (F, 3, H, W), then initial noise (1, F, 4, h, w).
    """
    dtype = next(models.unet.parameters()).dtype
    if config.offload:  # the compute device, wherever the offload left the weights
        device = torch.device(models.device)
        place_for(models, "vae", device)
    else:
        device = next(models.unet.parameters()).device
    init, cond = encode_lq(models.vae, lq, num_frames, config.noise_aug, generator, trace, config.encode_chunk)
    ref_latent = None
    if ref_frame is not None:
        ref_latent = encode_mean(models.vae, ref_frame.unsqueeze(0).float())[0].cpu()
        if trace is not None:
            trace.ref_latent = ref_latent.clone()
    if config.offload:
        place_for(models, "unet", device)
    latents = denoise(models.unet, init_latents=init, lq_latents=cond, ref_latent=ref_latent,
                      id_tokens=id_tokens, task_bits=task_bits, config=config, generator=generator,
                      device=device, dtype=dtype, before_call=before_call, after_call=after_call, trace=trace,
                      preview=preview)
    del init, cond
    if sink is not None:
        if config.offload:
            place_for(models, "vae", device)
        decode(models.vae, latents, config.decode_chunk, sink, chunks=decode_chunks, after_chunk=after_decode,
               before_chunk=before_call)
    return PassResult(latents=latents)
