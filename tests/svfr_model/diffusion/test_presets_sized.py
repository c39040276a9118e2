"""Issue 15: every preset fits its card by the memory model's conservative prediction (real-size models at
512², window 16, fp16 UNet and VAE decoder as on CUDA, ArcFace resident as the loader keeps it) plus 0.5 GiB
CUDA context and 5 % fragmentation; ``auto`` picks the fastest that fits. 32 frames: full encode (20) and
decode (16) chunks, windows that wrap. ~15-25 s per preset on 2 cores."""
from __future__ import annotations

from functools import lru_cache

import pytest

from svfr_model.diffusion import presets
from svfr_model.diffusion import memory_model as mm
from svfr_model.diffusion.memory import FRAGMENTATION, predict_peak

GIB = mm.GIB


FRAMES = 32


@lru_cache(maxsize=None)
def _predict(name: str) -> mm.Prediction:
    return mm.predict_restore(mm.RestoreCase.from_preset(name, frames=FRAMES, arcface=True), "conservative")


@pytest.mark.parametrize("name", ["high_vram", "default", "low_vram"])
def test_preset_fits_its_card(name):
    pred = _predict(name)
    card = presets.PRESET_CARD_GIB[name] * GIB
    assert pred.card_need == mm.card_need(pred.peak) == int((pred.peak + GIB // 2) * 1.05)
    assert pred.card_need <= card, (f"{name}: needs {pred.card_need / GIB:.2f} GiB > {card / GIB} GiB "
                                    f"(peak {pred.peak / GIB:.2f} in {pred.peak_stage}: {pred.peak_op})")
    # the table's composition (what auto and the node hints use) agrees with the full fake run
    table = predict_peak(arcface=True, frames=FRAMES, **presets.preset_options(name))
    assert table.peak == pytest.approx(pred.peak, rel=0.01)
    # and any length fits: the whole-video latents on the device grow to 1 GiB (~5400 frames) before
    # they move to the host; the peak phase of no preset is the denoising one but low_vram's
    assert mm.card_need(predict_peak(arcface=True, **presets.preset_options(name)).peak) <= card


def test_presets_are_ordered_by_memory():
    assert _predict("high_vram").peak > _predict("default").peak > _predict("low_vram").peak


def test_no_preset_fits_4_gb_without_streaming_the_unet():
    """The fp16 UNet weights (2.84 GiB) + one batch-1 call (1.06 GiB) + ArcFace exceed what 4 GiB leaves."""
    low = predict_peak(arcface=True, **presets.preset_options("low_vram"))
    assert low.stage == "unet" and mm.card_need(low.unet) > 4 * GIB
    # without the UNet on the device the VAE phases would fit: decode chunk 4, encode chunk 2
    small = predict_peak(arcface=True, cfg_sequential=True, offload=True, decode_chunk=4, encode_chunk=2)
    assert mm.card_need(max(small.decode, small.encode)) <= 4 * GIB


@pytest.mark.parametrize("free_gib, expected", [(24, "high_vram"), (14, "high_vram"), (13, "default"),
                                                (9, "default"), (8, "low_vram"), (3, "low_vram")])
def test_auto_picks_the_fastest_preset_that_fits(free_gib, expected):
    assert presets.choose_preset(free_gib * GIB) == expected
    assert presets.preset_options("auto", free_bytes=free_gib * GIB) == presets.preset_options(expected)


def test_auto_sizes_for_the_precisions():
    need32 = predict_peak(vae_dtype="fp32", **presets.preset_options("high_vram")).peak * FRAGMENTATION
    assert presets.choose_preset(int(need32) - 1, vae_dtype="fp32") == "default"
    assert presets.choose_preset(int(need32) + 1, vae_dtype="fp32") == "high_vram"
    assert presets.preset_options("auto") == presets.preset_options("default")   # no free-memory figure
