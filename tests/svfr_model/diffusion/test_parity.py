"""Numerical parity with the official SVFR pipeline, on every case folder of SVFR_PARITY_DIR.

Each case (see the fixture README) was produced by the official code on tiny random weights. We load the
fixture's own model folder through the real loader, rebuild the LQ input from ``inputs.npz``, replay the
seed, and compare pass 1, the identity tokens, one UNet call and pass 2 within the README's tolerances.
The integer window schedule and the timesteps must match exactly.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import PARITY_DIR, require_path



def _case_dirs() -> list[Path]:
    cases = PARITY_DIR / "cases"
    if not cases.is_dir():
        return []
    return sorted(p for p in cases.iterdir() if (p / "case.json").is_file())


CASES = _case_dirs()
CASE_PARAMS = [pytest.param(p, id=p.name) for p in CASES] or [pytest.param(None, id="no-cases")]


@pytest.fixture(autouse=True)
def _two_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)  # the fixture was made with 2 threads
    yield
    torch.set_num_threads(old)


def _need(case: Path | None) -> Path:
    if case is None:
        require_path(PARITY_DIR / "cases", "parity case folders (SVFR_PARITY_DIR)")
        pytest.fail(f"no case folder with case.json under {PARITY_DIR / 'cases'}")
    return case


@lru_cache(maxsize=1)
def _models():
    from svfr_model.weights.models import load_svfr_models

    return load_svfr_models(require_path(PARITY_DIR / "models", "parity model folder"))


def _lq(case: Path) -> torch.Tensor:
    u8 = np.load(case / "inputs.npz")["lq_u8"]
    x = (u8 / 255.0).astype(np.float32)  # division in float64, as infer.py
    return torch.from_numpy((x - 0.5) / 0.5).permute(0, 3, 1, 2).contiguous()


def _pass_config(models, kwargs: dict, window: int, skip: bool):
    from svfr_model.diffusion.sampler import PassConfig
    from svfr_model.diffusion.scheduler import make_schedule

    return PassConfig(
        schedule=make_schedule(models.scheduler_config, kwargs["num_inference_steps"], kwargs["i2i_noise_strength"]),
        window=window, overlap=kwargs["overlap"], guidance_min=kwargs["min_guidance_scale"],
        guidance_max=kwargs["max_guidance_scale"], noise_aug=kwargs["noise_aug_strength"],
        decode_chunk=kwargs["decode_chunk_size"], skip_uncond_when_equal=skip,
    )


def _id_tokens(models, case: Path) -> torch.Tensor:
    feat = torch.from_numpy(np.load(case / "arcface_feature.npy"))
    with torch.no_grad():
        return models.id_projector(feat)[0].float()


@lru_cache(maxsize=None)
def _run(case: Path, skip_pass1_uncond: bool = True):
    """Both passes, the way the fixture's driver ran them. Returns (pass1 dict, pass2 dict)."""
    from svfr_model.diffusion.passes import PassTrace, run_pass

    models = _models()
    meta = json.loads((case / "case.json").read_text())
    lq = _lq(case)
    task = tuple(int(b) for b in meta["task_id_input"])
    gen = torch.Generator().manual_seed(int(meta["seed"]))
    out = []
    for name in ("pass1", "pass2"):
        p = meta[name]
        n = p["N1"] if name == "pass1" else p["T"]
        window = n if name == "pass1" else p["kwargs"]["frames_per_batch"]
        cfg = _pass_config(models, p["kwargs"], window, skip_pass1_uncond)
        frames = torch.zeros((n, 3, *lq.shape[-2:]))

        def sink(start, chunk, frames=frames):
            frames[start:start + chunk.shape[0]] = chunk

        trace = PassTrace()
        ref = out[0]["frames"][-1] if name == "pass2" else None
        tokens = _id_tokens(models, case) if name == "pass2" else None
        res = run_pass(models, lambda a, b: lq[a:b], n, task_bits=task, config=cfg, generator=gen,
                       ref_frame=ref, id_tokens=tokens, sink=sink, trace=trace)
        out.append({"frames": frames, "latents": res.latents, "trace": trace, "gen_state": gen.get_state()})
    return out[0], out[1]


def _maxabs(a, b) -> float:
    return float((torch.as_tensor(a).float() - torch.as_tensor(b).float()).abs().max())


def _meanabs(a, b) -> float:
    return float((torch.as_tensor(a).float() - torch.as_tensor(b).float()).abs().mean())


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_id_embedding(case):
    case = _need(case)
    got = _id_tokens(_models(), case)
    want = np.load(case / "id_embedding.npy")[0]
    assert got.shape == (49, 1024)
    assert _maxabs(got, want) <= 1e-5


@pytest.mark.parametrize("which", ["pass1", "pass2"])
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_one_unet_call(case, which):
    """The stock diffusers UNet fed (B, 49, 1024) tokens equals the official per-frame-token UNet."""
    case = _need(case)
    models = _models()
    tr = np.load(case / f"{which}_trace.npz")
    sample = torch.from_numpy(tr["call0_unet_sample"])
    t = torch.from_numpy(tr["timesteps"])[0]
    ctx = torch.zeros((2, 49, 1024))
    if which == "pass2":
        ctx[1] = torch.from_numpy(np.load(case / "id_embedding.npy")[0])
    ids = torch.from_numpy(tr["added_time_ids"]).float()
    with torch.no_grad():
        pred = models.unet(sample, t, encoder_hidden_states=ctx, added_time_ids=ids, return_dict=False)[0]
    assert _maxabs(pred[0:1], tr["call0_noise_pred_uncond"]) <= 3e-4
    assert _maxabs(pred[1:2], tr["call0_noise_pred_cond"]) <= 3e-4
    # calibration: the conditional half of pass 2 really differs from the unconditional one
    if which == "pass2":
        assert _maxabs(tr["call0_noise_pred_cond"], tr["call0_noise_pred_uncond"]) > 1e-2


@pytest.mark.slow  # full two-pass runs of the case on 2 threads (cached per case, so every user of _run is marked)
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_window_schedule_and_timesteps_exact(case):
    case = _need(case)
    p1, p2 = _run(case)
    for res, which in ((p1, "pass1"), (p2, "pass2")):
        tr = np.load(case / f"{which}_trace.npz")
        t = res["trace"]
        assert torch.equal(t.timesteps, torch.from_numpy(tr["timesteps"]))
        assert t.call_i == tr["call_i"].tolist()
        assert t.call_batch == tr["call_batch"].tolist()
        assert t.call_index_start == tr["call_index_start"].tolist()
        assert t.call_idx == tr["call_idx"].tolist()
        assert t.call_t == tr["call_t"].tolist()
        np.testing.assert_allclose(t.call_guidance, tr["call_guidance"], rtol=0, atol=1e-6)


@pytest.mark.slow  # full two-pass runs of the case on 2 threads (cached per case, so every user of _run is marked)
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_rng_order_and_init_latents(case):
    """Four draws in the official order: the generator state after the run equals a replay of them."""
    case = _need(case)
    meta = json.loads((case / "case.json").read_text())
    p1, p2 = _run(case)
    g = torch.Generator().manual_seed(int(meta["seed"]))
    h, w = np.load(case / "inputs.npz")["lq_u8"].shape[1:3]
    n1, t = meta["pass1"]["N1"], meta["pass2"]["T"]
    torch.randn((n1, 3, h, w), generator=g)
    first1 = torch.randn((1, n1, 4, h // 8, w // 8), generator=g).flatten()[:4]
    torch.randn((t, 3, h, w), generator=g)
    first2 = torch.randn((1, t, 4, h // 8, w // 8), generator=g).flatten()[:4]
    assert torch.equal(p2["gen_state"], g.get_state())
    check = meta["rng"]["self_check"]["init_noise_first_values"]
    assert first1.tolist() == pytest.approx(check["pass1"], abs=0)
    assert first2.tolist() == pytest.approx(check["pass2"], abs=0)
    for res, which in ((p1, "pass1"), (p2, "pass2")):
        tr = np.load(case / f"{which}_trace.npz")
        assert _maxabs(res["trace"].vae_mean_scaled, tr["vae_mean_scaled"]) <= 1e-5
        assert _maxabs(res["trace"].image_latents, tr["image_latents"][1]) <= 1e-4
        assert _maxabs(res["trace"].init_latents, tr["init_latents"][0]) <= 1e-3


@pytest.mark.slow  # full two-pass runs of the case on 2 threads (cached per case, so every user of _run is marked)
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_pass1_parity(case):
    case = _need(case)
    p1, _ = _run(case)
    want = np.load(case / "pass1_output.npz")
    assert _maxabs(p1["latents"], want["latents"][0]) <= 1e-3
    assert _maxabs(p1["frames"], np.transpose(want["frames"][0], (1, 0, 2, 3))) <= 1e-3
    assert _maxabs(p1["frames"][-1], want["ref_frame"]) <= 1e-3
    tr = np.load(case / "pass1_trace.npz")
    for s, lat in enumerate(p1["trace"].step_latents):
        assert _maxabs(lat, tr["step_latents"][s][0]) <= 1e-3, f"step {s}"


@pytest.mark.slow  # full two-pass runs of the case on 2 threads (cached per case, so every user of _run is marked)
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_pass1_parity_without_cfg_skip(case):
    """The pass-1 CFG skip is an optimisation only: running both halves gives the same result."""
    case = _need(case)
    skipped, _ = _run(case, True)
    full, _ = _run(case, False)
    assert set(skipped["trace"].cfg_batch) == {1} and set(full["trace"].cfg_batch) == {2}
    assert _maxabs(skipped["latents"], full["latents"]) <= 1e-4
    want = np.load(case / "pass1_output.npz")
    assert _maxabs(full["latents"], want["latents"][0]) <= 1e-3


@pytest.mark.slow  # full two-pass runs of the case on 2 threads (cached per case, so every user of _run is marked)
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_pass2_parity(case):
    case = _need(case)
    _, p2 = _run(case)
    want = np.load(case / "pass2_output.npz")
    assert p2["trace"].cfg_batch and set(p2["trace"].cfg_batch) == {2}
    got_frames = p2["frames"].permute(1, 0, 2, 3)
    assert _maxabs(p2["latents"], want["latents"][0]) <= 1e-2
    assert _meanabs(p2["latents"], want["latents"][0]) <= 1e-3
    assert _maxabs(got_frames, want["frames"][0]) <= 1e-2
    assert _meanabs(got_frames, want["frames"][0]) <= 1e-3
    tr = np.load(case / "pass2_trace.npz")
    assert _maxabs(p2["trace"].ref_latent, tr["ref_concat"][1][0]) <= 1e-3
