"""The SVD-xt Euler schedule (v-prediction, Karras sigmas) and the per-window Euler step.

The sigmas/timesteps come from diffusers' ``EulerDiscreteScheduler.set_timesteps`` on the SVD-xt config, so
they are exactly the official ones. The step itself is written out here because the official pipeline resets
the scheduler's private step index before every window; a stateless step on ``(sigma, sigma_next)`` is the
same arithmetic (diffusers >= 0.31, s_churn = 0: no noise drawn) without that hack.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from ..errors import InputError
from ..networks.configs import default_scheduler_config, read_config


def build_scheduler(config: Mapping[str, Any] | str | Path | None = None):
    from diffusers import EulerDiscreteScheduler

    if config is None:
        config = default_scheduler_config()
    elif isinstance(config, (str, Path)):
        config = read_config(config)
    cfg = {k: v for k, v in dict(config).items() if not k.startswith("_") or k == "_class_name"}
    cfg.pop("_class_name", None)
    return EulerDiscreteScheduler.from_config(cfg)


@dataclass(frozen=True)
class Schedule:
    """The part of the schedule a pass iterates over, after the i2i cut.

    ``sigmas[i]``/``sigmas[i + 1]`` are the Euler step's sigma and next sigma for step ``i``; ``timesteps[i]``
    (0.25 ln sigma, float32) is what the UNet sees. ``t_start`` is how many leading steps the cut removed.
    """

    sigmas: torch.Tensor      # (S + 1,) float32, last 0
    timesteps: torch.Tensor   # (S,) float32
    t_start: int
    requested_steps: int

    @property
    def num_steps(self) -> int:
        return int(self.timesteps.shape[0])


def make_schedule(scheduler_config: Mapping[str, Any] | None, steps: int, i2i_strength: float = 1.0,
                  steps_option: str = "steps") -> Schedule:
    """Official ``set_timesteps(steps)`` + ``get_timesteps(steps, strength)``. ``steps_option``: the option
    that gave ``steps`` (``pass1_steps`` for pass 1), named when no step is left."""
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise InputError(f"steps must be a positive integer, got {steps!r}")
    if not (0.0 < float(i2i_strength) <= 1.0):
        raise InputError(f"i2i_strength must be in (0, 1], got {i2i_strength!r}")
    sched = build_scheduler(scheduler_config)
    sched.set_timesteps(steps, device="cpu")
    init_timestep = min(int(steps * i2i_strength), steps)
    t_start = max(steps - init_timestep, 0)
    if t_start >= steps:
        raise InputError.naming(
            f"{{i2i_strength}} {i2i_strength} with {{{steps_option}}} {steps} leaves no denoising step (it runs "
            f"int(steps x strength) of them)", f"raise {{i2i_strength}} or {{{steps_option}}}")
    sigmas = sched.sigmas.to(torch.float32)[t_start:].clone()
    timesteps = sched.timesteps.to(torch.float32)[t_start:].clone()
    return Schedule(sigmas=sigmas, timesteps=timesteps, t_start=t_start, requested_steps=steps)


def scale_model_input(sample: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``x / sqrt(sigma^2 + 1)`` (sigma a 0-d float32 tensor, as in diffusers)."""
    return sample / ((sigma.to(sample.device) ** 2 + 1) ** 0.5)


def euler_step_v(model_output: torch.Tensor, sample: torch.Tensor, sigma: torch.Tensor,
                 sigma_next: torch.Tensor) -> torch.Tensor:
    """One v-prediction Euler step (diffusers ``EulerDiscreteScheduler.step`` with s_churn = 0)."""
    sigma = sigma.to(sample.device)
    sigma_next = sigma_next.to(sample.device)
    out_dtype = model_output.dtype
    sample = sample.to(torch.float32)
    pred_x0 = model_output * (-sigma / (sigma**2 + 1) ** 0.5) + (sample / (sigma**2 + 1))
    derivative = (sample - pred_x0) / sigma
    prev = sample + derivative * (sigma_next - sigma)
    return prev.to(out_dtype)


def add_noise(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``x0 + sigma * noise`` in x0's dtype (diffusers casts the sigmas to the sample dtype)."""
    return x0 + sigma.to(device=x0.device, dtype=x0.dtype) * noise
