"""SVFR's sampler: Euler over the sigmas, each step over overlapping windows (spec §4.5-4.7).

Read like k-diffusion's samplers: ``sample_windowed_euler`` is a loop over sigmas that calls small helpers
(``windows`` for where the windows fall, ``WindowDenoiser`` for the UNet with SVFR's conditioning and CFG,
``scheduler.euler_step_v`` for the step); everything else (the parity trace, live previews, progress,
cancel) is a callback. ``denoise`` prepares the latents as the official pipeline does and runs it.

Whole-video state (latents, LQ latents) lives on ``state_device``; each window is moved to the compute
device for its UNet call and its Euler step is blended back with triangular weights.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

from ..errors import InputError
from .denoiser import UNetOutOfMemory, WindowDenoiser, predicted_x0, unet_oom_message  # noqa: F401 - public names
from .latents import state_device
from .scheduler import Schedule, add_noise, euler_step_v
from .windows import count_unet_calls, guidance_scales, window_frames, window_starts, window_weights  # noqa: F401

# UNet calls between two live previews (and the pass's last call): a preview costs one window's
# prediction copied to the CPU; a UNet call costs far more, so every few calls is enough to watch.
PREVIEW_EVERY = 4

PreviewHook = Callable[[torch.Tensor], None]  # (window, 4, h, w) float32 CPU: the window's predicted x0
WindowCallback = Callable[[dict], None]       # after each window: see ``sample_windowed_euler``


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

    def record_window(self, info: dict) -> None:
        """Window callback: one UNet call."""
        self.call_i.append(info["step"])
        self.call_batch.append(info["window"])
        self.call_index_start.append(info["start"])
        self.call_idx.append(list(range(info["start"], info["start"] + info["x"].shape[0])))
        self.call_t.append(float(info["t"]))
        self.call_guidance.append(float(info["guidance"].to(info["dtype"])))
        self.cfg_batch.append(info["cfg_batch"])

    def record_step(self, step: int, latents: torch.Tensor) -> None:
        """Step callback: the blended latents after each step."""
        self.step_latents.append(latents.cpu())


@dataclass
class PassConfig:
    """One pass's sampling settings (``passes.run_pass``): its schedule and window, and the shared options."""

    schedule: Schedule
    window: int = 16
    overlap: int = 3
    guidance_min: float = 2.0
    guidance_max: float = 2.0
    noise_aug: float = 0.0
    decode_chunk: int = 16
    skip_uncond_when_equal: bool = True
    encode_chunk: int = 20
    cfg_sequential: bool = False  # CFG halves one after the other (batch 1): ~1/3 of the activations
    offload: bool = False         # UNet off the device during VAE work, VAE off during denoising


class PreviewEvery:
    """Window callback that hands every ``every``-th window's predicted clean latents (and the last) to
    ``preview`` (window, 4, h, w) float32 CPU, in the scaled latent space (x 0.18215)."""

    def __init__(self, preview: PreviewHook, every: int, total_calls: int):
        if every < 1:
            raise InputError(f"preview_every must be >= 1 UNet call, got {every}")
        self.preview, self.every, self.total, self.calls = preview, every, total_calls, 0

    def __call__(self, info: dict) -> None:
        self.calls += 1
        if self.calls % self.every == 0 or self.calls == self.total:
            self.preview(predicted_x0(info["v"], info["x"], info["sigma"]).cpu())


def euler_step_windows(denoiser: WindowDenoiser, latents: torch.Tensor, lq_latents: torch.Tensor,
                       starts: list[int], weights: torch.Tensor, *, step: int, sigma, sigma_next, t, guidance,
                       before_window=None, after_window: WindowCallback | None = None) -> torch.Tensor:
    """One Euler step over the windows starting at ``starts``, blended: sum(w * stepped) / sum(w) per frame."""
    home, num_frames, window = latents.device, latents.shape[0], weights.shape[0]
    acc = torch.zeros_like(latents)
    counter = torch.zeros((num_frames, 1, 1, 1), dtype=torch.float32, device=home)
    w = weights.view(-1, 1, 1, 1)
    for b, start in enumerate(starts):
        idx = torch.tensor(window_frames(start, window, num_frames), device=home)
        if before_window is not None:
            before_window()
        x = latents[idx].to(denoiser.device)
        v = denoiser(x, lq_latents[idx], sigma, t, guidance)
        stepped = euler_step_v(v, x.float(), sigma, sigma_next).to(home)
        acc.index_add_(0, idx, stepped * w)
        counter.index_add_(0, idx, w)
        if after_window is not None:
            after_window({"step": step, "window": b, "start": start, "x": x, "v": v, "stepped": stepped,
                          "sigma": sigma, "t": t, "guidance": guidance, "dtype": denoiser.dtype,
                          "cfg_batch": denoiser.batch})
        del x, v
    return acc / counter


def sample_windowed_euler(denoiser: WindowDenoiser, latents: torch.Tensor, lq_latents: torch.Tensor,
                          schedule: Schedule, plan: list[list[int]], guidance: torch.Tensor, window: int, *,
                          before_window=None, after_window: WindowCallback | None = None,
                          after_step: Callable[[int, torch.Tensor], None] | None = None) -> torch.Tensor:
    """Euler over ``schedule.sigmas``; step i runs the windows ``plan[i]`` with guidance ``guidance[i]``.

    ``after_window(info)``: after each UNet call, with step, window, start, x (the window's latents), v (its
    guided prediction), stepped, sigma, t, guidance, dtype, cfg_batch. ``before_window()``: before each call
    (cancel checks raise there). ``after_step(i, latents)``: after each blended step.
    """
    weights = window_weights(window).to(latents.device)
    for i, starts in enumerate(plan):
        latents = euler_step_windows(denoiser, latents, lq_latents, starts, weights, step=i,
                                     sigma=schedule.sigmas[i], sigma_next=schedule.sigmas[i + 1],
                                     t=schedule.timesteps[i].to(denoiser.device), guidance=guidance[i],
                                     before_window=before_window, after_window=after_window)
        if after_step is not None:
            after_step(i, latents)
    return latents


def _chain(*callbacks):
    callbacks = [c for c in callbacks if c is not None]
    if not callbacks:
        return None
    return lambda info: [c(info) for c in callbacks] and None


@torch.no_grad()
def denoise(unet, *, init_latents: torch.Tensor, lq_latents: torch.Tensor, ref_latent: torch.Tensor | None,
            id_tokens: torch.Tensor | None, task_bits, config: PassConfig, generator: torch.Generator,
            device: torch.device, dtype: torch.dtype,
            before_call: Callable[[], None] | None = None,
            after_call: Callable[[torch.Tensor], None] | None = None,
            trace: PassTrace | None = None, preview: PreviewHook | None = None,
            preview_every: int = PREVIEW_EVERY) -> torch.Tensor:
    """One pass's denoising. ``init_latents``/``lq_latents`` (F, 4, h, w) CPU float32; returns the final
    latents (F, 4, h, w) CPU float32.

    The initial noise is drawn from ``generator`` after the noise augmentation (official order), shape
    (1, F, 4, h, w), and added at the first (i2i-cut) sigma. ``ref_latent`` (4, h, w) unscaled or None
    (zeros), ``id_tokens`` (49, D) or None (zeros). Callbacks: ``before_call()`` before each UNet call,
    ``after_call(stepped)`` after it (progress), ``preview(x0)`` every ``preview_every`` calls, ``trace``.
    """
    sched = config.schedule
    num_frames = init_latents.shape[0]
    home = state_device(device, num_frames, init_latents.shape[1:])
    plan = window_starts(num_frames, config.window, config.overlap, sched.num_steps)
    guidance = guidance_scales(config.guidance_min, config.guidance_max, sched.num_steps)

    noise = torch.randn((1, *init_latents.shape), generator=generator, dtype=torch.float32)[0]
    latents = add_noise(init_latents, noise, sched.sigmas[0]).to(home)
    del noise
    if trace is not None:
        trace.timesteps = sched.timesteps.clone()
        trace.init_latents = latents.clone()

    denoiser = WindowDenoiser(unet, id_tokens=id_tokens, ref_latent=ref_latent, task_bits=task_bits,
                              latent_shape=lq_latents.shape[1:], device=device, dtype=dtype,
                              sequential=config.cfg_sequential,
                              skip_uncond_when_equal=config.skip_uncond_when_equal)
    shown = PreviewEvery(preview, preview_every, sum(map(len, plan))) if preview is not None else None
    if shown is None and preview_every < 1:
        raise InputError(f"preview_every must be >= 1 UNet call, got {preview_every}")
    latents = sample_windowed_euler(
        denoiser, latents, lq_latents.to(home), sched, plan, guidance, config.window,
        before_window=before_call,
        after_window=_chain(trace.record_window if trace is not None else None,
                            (lambda info: after_call(info["stepped"])) if after_call is not None else None, shown),
        after_step=trace.record_step if trace is not None else None)
    return latents.cpu()


__all__ = ["PassConfig", "PassTrace", "PreviewEvery", "denoise", "sample_windowed_euler", "euler_step_windows",
           "PREVIEW_EVERY", "UNetOutOfMemory"]
