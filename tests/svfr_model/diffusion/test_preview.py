"""Live previews: the sampler's hook fires every PREVIEW_EVERY UNet calls (and at a pass's last call) with
the window's predicted clean latents; the linear latent -> RGB map is ComfyUI's SD1.5 one."""
from __future__ import annotations

import math

import pytest
import torch

from svfr_model.errors import InputError
from svfr_model.diffusion.preview import latents_to_rgb, window_preview
from svfr_model.diffusion.sampler import PREVIEW_EVERY, PassConfig, count_unet_calls, denoise, predicted_x0
from svfr_model.diffusion.scheduler import build_scheduler, make_schedule


def test_predicted_x0_is_diffusers_pred_original_sample():
    sched = build_scheduler(None)
    sched.set_timesteps(5)
    g = torch.Generator().manual_seed(0)
    x = torch.randn((2, 4, 3, 3), generator=g) * 30
    v = torch.randn((2, 4, 3, 3), generator=g)
    for i in range(5):
        sched._step_index = None
        want = sched.step(v, sched.timesteps[i], x).pred_original_sample
        assert torch.allclose(predicted_x0(v, x, sched.sigmas[i]), want, rtol=1e-6, atol=1e-6)


class _Recorder(torch.nn.Module):
    """Returns v = 0.5 and records each call's scaled window latents (sample channels 0..3)."""
    config = type("C", (), {"cross_attention_dim": 8})()

    def __init__(self):
        super().__init__()
        self.scaled = []

    def forward(self, sample, t, encoder_hidden_states, added_time_ids, return_dict=False):
        self.scaled.append(sample[0, :, :4].clone())
        return (torch.full_like(sample[:, :, :4], 0.5),)


@pytest.mark.parametrize("frames,steps", [(9, 4), (3, 2)])
def test_hook_cadence_shapes_and_values(frames, steps):
    window, overlap, h = 4, 1, 3
    unet, got = _Recorder(), []
    sched = make_schedule(None, steps)
    init = torch.randn((frames, 4, h, h), generator=torch.Generator().manual_seed(1))
    calls_after = []
    denoise(unet, init_latents=init, lq_latents=init, ref_latent=None, id_tokens=None, task_bits=(1, 0, 0),
            config=PassConfig(schedule=sched, window=window, overlap=overlap),
            generator=torch.Generator().manual_seed(2), device=torch.device("cpu"), dtype=torch.float32,
            after_call=lambda _: calls_after.append(len(unet.scaled)),
            preview=lambda x0: got.append((len(unet.scaled), x0)))
    n = count_unet_calls(frames, window, overlap, steps)
    want_at = sorted({c for c in range(1, n + 1) if c % PREVIEW_EVERY == 0} | {n})
    assert [c for c, _ in got] == want_at
    # the step of each call, to know its sigma
    per_step = [count_unet_calls(frames, window, overlap, i + 1) for i in range(steps)]
    for call, x0 in got:
        assert x0.shape == (window, 4, h, h) and x0.dtype == torch.float32 and x0.device.type == "cpu"
        i = next(k for k, end in enumerate(per_step) if call <= end)
        s = float(sched.sigmas[i])
        scaled = unet.scaled[call - 1]  # = latents / sqrt(s^2 + 1)
        want = 0.5 * (-s / math.sqrt(s * s + 1)) + scaled / math.sqrt(s * s + 1)
        assert torch.allclose(x0, want, rtol=1e-5, atol=1e-4)


def test_hook_off_and_bad_cadence():
    unet = _Recorder()
    init = torch.zeros((2, 4, 2, 2))
    cfg = PassConfig(schedule=make_schedule(None, 1), window=2, overlap=0)
    kw = dict(init_latents=init, lq_latents=init, ref_latent=None, id_tokens=None, task_bits=(1, 0, 0), config=cfg,
              generator=torch.Generator().manual_seed(0), device=torch.device("cpu"), dtype=torch.float32)
    a = denoise(unet, **kw)
    b = denoise(unet, **{**kw, "generator": torch.Generator().manual_seed(0)}, preview=lambda x0: None)
    assert torch.equal(a, b)  # previews never change the result
    with pytest.raises(InputError, match="preview_every"):
        denoise(unet, **kw, preview=lambda x0: None, preview_every=0)


def test_latents_to_rgb_is_comfyuis_sd15_linear_map():
    # ComfyUI comfy/latent_formats.py SD15.latent_rgb_factors: latent channel c -> (R, G, B)
    factors = [[0.3512, 0.2297, 0.3227], [0.3250, 0.4974, 0.2350],
               [-0.2829, 0.1762, 0.2721], [-0.2120, -0.2616, -0.7177]]
    for c in range(4):
        lat = torch.zeros((4, 1, 2))
        lat[c] = 1.0
        rgb = latents_to_rgb(lat)
        assert rgb.shape == (1, 2, 3)
        assert torch.allclose(rgb[0, 0], (torch.tensor(factors[c]) + 1) / 2)
    big = torch.zeros((4, 2, 2))
    big[0] = 9.0  # channel 0 maps to positive R, G, B: clamped to 1
    assert torch.equal(latents_to_rgb(big), torch.ones((2, 2, 3)))
    assert torch.equal(latents_to_rgb(-big), torch.zeros((2, 2, 3)))
    assert torch.equal(latents_to_rgb(torch.zeros((2, 4, 3, 5))), torch.full((2, 3, 5, 3), 0.5))


def test_window_preview_takes_the_middle_frame_and_refuses_bad_shapes():
    lat = torch.zeros((5, 4, 2, 2))
    lat[2, 0] = 1.0
    assert torch.allclose(window_preview(lat), latents_to_rgb(lat[2]))
    assert not torch.allclose(window_preview(lat), latents_to_rgb(lat[1]))
    with pytest.raises(InputError, match=r"\(\.\.\., 4, h, w\)"):
        latents_to_rgb(torch.zeros((3, 2, 2)))
    with pytest.raises(InputError, match="window latents"):
        window_preview(torch.zeros((4, 2, 2)))
