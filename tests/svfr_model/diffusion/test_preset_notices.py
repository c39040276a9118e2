"""A preset that will be slow on this card is warned about (issue 19): auto falling back to low_vram, or a
preset whose predicted peak exceeds the free memory. Off CUDA (no free-memory figure) nothing is said."""
from __future__ import annotations

import types
import warnings
from dataclasses import asdict

import pytest

from svfr_model.diffusion.memory import FRAGMENTATION, predict_peak
from svfr_model.diffusion.presets import GIB, PRESETS, options_for_models
from svfr_model.errors import SVFRWarning

MODELS = types.SimpleNamespace(dtype="fp16", vae_dtype="fp16", arcface=object(), device="cpu")


def _peak(name: str) -> float:
    return predict_peak(unet_dtype="fp16", vae_dtype="fp16", arcface=True, **asdict(PRESETS[name])).peak * FRAGMENTATION


def _said(name: str, free: float) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        options_for_models(name, MODELS, free_bytes=int(free))
    return [str(w.message) for w in caught if isinstance(w.message, SVFRWarning)]


def test_auto_falling_back_to_low_vram_is_said():
    free = (_peak("low_vram") + _peak("default")) / 2  # low_vram fits, default does not
    (text,) = _said("auto", free)
    assert text.startswith("preset='auto' chose low_vram for the ") and "slower" in text


@pytest.mark.fault("memory", "a preset that does not fit the card")
def test_a_preset_that_does_not_fit_is_said_with_the_fix():
    (text,) = _said("high_vram", 2 * GIB)
    assert text.startswith("preset='high_vram' needs about ") and "2.0 GiB free on this card" in text
    assert text.endswith("preset='low_vram' needs the least")
    (text,) = _said("low_vram", 1 * GIB)
    assert text.endswith("a smaller window or size needs less")


@pytest.mark.parametrize("name", ["default", "high_vram", "auto"])
def test_nothing_is_said_when_it_fits_or_off_cuda(name):
    assert _said(name, 80 * GIB) == []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        options_for_models(name, MODELS)  # a CPU device: no free-memory figure
    assert [w for w in caught if isinstance(w.message, SVFRWarning)] == []
