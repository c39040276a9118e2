"""The UNet as a function of one window: SVFR's conditioning and classifier-free guidance.

Input channels (12): [scaled noisy latents | LQ latents | reference latent or zeros]. The conditional half
gets the identity tokens and the reference latent, the unconditional half zeros for both (the LQ latents
stay). When there is neither (pass 1) the two halves are the same function, so the unconditional one is
skipped: guidance ``u + g (u - u) = u`` (``skip_uncond_when_equal``).
"""
from __future__ import annotations

import torch

from .scheduler import scale_model_input


class UNetOutOfMemory(torch.OutOfMemoryError):
    """The UNet ran out of device memory; the message names the preset/options that need less."""


def unet_oom_message(batch: int, window: int) -> str:
    hint = ("use the low_vram preset (CFG halves one after the other, offload)" if batch == 2 else
            "lower the window (frames per UNet call), use fp16, or free the GPU of other models")
    return (f"the SVFR UNet ran out of GPU memory on a {window}-frame window (CFG batch {batch}): {hint}; "
            "see docs/performance.md for the memory of each preset")


def lone_value_groups(config, height: int, width: int) -> bool:
    """Whether a GroupNorm of the UNet normalises a single value per group at latents of ``height`` x
    ``width``: one channel per group (``block_out_channels`` / ``norm_num_groups`` = 1, as in the tiny test
    model) at a level downsampled to 1x1 (each level halves, rounding up). The result is well defined (the
    norm's bias), but torch refuses such an input when the UNet batch (CFG batch x frames) is 1: "Expected
    more than 1 value per channel when training" (the check also runs in eval mode). The real model has 10+
    channels per group and never gets there."""
    get = config.get if hasattr(config, "get") else lambda key, default=None: getattr(config, key, default)
    groups = int(get("norm_num_groups", 32) or 32)
    h, w = int(height), int(width)
    for channels in get("block_out_channels", None) or ():  # none: not a diffusers UNet (a test double)
        if max(1, int(channels) // groups) * h * w == 1:
            return True
        h, w = -(-h // 2), -(-w // 2)
    return False


def predicted_x0(v: torch.Tensor, sample: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The clean latents a v-prediction implies (the ``pred_x0`` of ``scheduler.euler_step_v``), float32."""
    sigma = sigma.to(sample.device)
    return v.float() * (-sigma / (sigma**2 + 1) ** 0.5) + sample.float() / (sigma**2 + 1)


class WindowDenoiser:
    """``v = denoiser(x, lq, sigma, t, guidance)`` for one window of latents (window, 4, h, w).

    Conditioning that is the same for every window (tokens, reference channel, task ids) is put on the
    device once. ``sequential``: the CFG halves one after the other (batch 1, ~1/3 of the activations).
    """

    def __init__(self, unet, *, id_tokens, ref_latent, task_bits, latent_shape, device, dtype,
                 sequential: bool = False, skip_uncond_when_equal: bool = True):
        self.unet, self.device, self.dtype, self.sequential = unet, device, dtype, bool(sequential)
        self.use_cfg = not (skip_uncond_when_equal and id_tokens is None and ref_latent is None)
        self.batch = 2 if self.use_cfg else 1
        hidden = id_tokens.shape[-1] if id_tokens is not None else unet.config.cross_attention_dim
        ntok = id_tokens.shape[-2] if id_tokens is not None else 49
        self.context = torch.zeros((self.batch, ntok, hidden), device=device, dtype=dtype)
        if id_tokens is not None:
            self.context[-1] = id_tokens.to(device=device, dtype=dtype)
        self.ref_channel = torch.zeros((self.batch, 1, *latent_shape), device=device, dtype=dtype)
        if ref_latent is not None:
            self.ref_channel[-1, 0] = ref_latent.to(device=device, dtype=dtype)
        self.time_ids = torch.tensor([list(task_bits)] * self.batch, dtype=dtype, device=device)
        self.pair_lone_calls = lone_value_groups(unet.config, *latent_shape[-2:])

    def model_input(self, x: torch.Tensor, lq: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """(batch, window, 12, h, w): the window's scaled latents, its LQ latents and the reference channel."""
        window = x.shape[0]
        scaled = scale_model_input(x, sigma).to(self.dtype)
        lq = lq.to(device=self.device, dtype=self.dtype)
        return torch.cat([scaled.unsqueeze(0).expand(self.batch, -1, -1, -1, -1),
                          lq.unsqueeze(0).expand(self.batch, -1, -1, -1, -1),
                          self.ref_channel.expand(-1, window, -1, -1, -1)], dim=2)

    def _unet(self, sample: torch.Tensor, t: torch.Tensor, context: torch.Tensor, time_ids: torch.Tensor):
        if self.pair_lone_calls and sample.shape[0] * sample.shape[1] == 1:
            # one frame, one CFG half: run it twice in one batch (each batch item is computed on its own,
            # so the first is the same) -- see lone_value_groups
            two = lambda x: torch.cat([x, x])  # noqa: E731
            return self.unet(two(sample), t, encoder_hidden_states=two(context), added_time_ids=two(time_ids),
                             return_dict=False)[0][:1]
        return self.unet(sample, t, encoder_hidden_states=context, added_time_ids=time_ids, return_dict=False)[0]

    def unet_call(self, sample: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Both CFG halves' predictions (batch, window, 4, h, w); out of memory -> ``UNetOutOfMemory``."""
        try:
            if self.use_cfg and self.sequential:  # same function, half the batch at a time
                return torch.cat([self._unet(sample[k:k + 1], t, self.context[k:k + 1], self.time_ids[k:k + 1])
                                  for k in range(self.batch)])
            return self._unet(sample, t, self.context, self.time_ids)
        except torch.OutOfMemoryError as exc:
            if isinstance(exc, UNetOutOfMemory):
                raise
            raise UNetOutOfMemory(unet_oom_message(1 if self.sequential else self.batch, sample.shape[1])) from exc

    def __call__(self, x: torch.Tensor, lq: torch.Tensor, sigma: torch.Tensor, t: torch.Tensor,
                 guidance: torch.Tensor) -> torch.Tensor:
        pred = self.unet_call(self.model_input(x, lq, sigma), t).float()
        return pred[0] + guidance * (pred[1] - pred[0]) if self.use_cfg else pred[0]
