"""One options object: SamplingOptions / RestoreOptions validate once, build from presets and flat keywords,
and mean the same as the flat keywords they replace."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from svfr_model.diffusion.options import SamplingOptions
from svfr_model.errors import InputError, OptionError
from svfr_model.faces.options import FaceOptions, PasteOptions, blend_widths
from svfr_model.restore.options import RestoreOptions


def test_defaults_are_the_official_values():
    o = SamplingOptions()
    assert (o.tasks, o.seed, o.steps, o.pass1_steps, o.guidance_min, o.guidance_max, o.window, o.overlap,
            o.noise_aug, o.i2i_strength, o.decode_chunk, o.encode_chunk) == ((1, 0, 0), 77, 30, 50, 2.0, 2.0, 16, 3,
                                                                                 0.0, 1.0, 16, 20)
    assert (o.cfg_sequential, o.offload, o.arcface_crop, o.cfg_batch) == (False, False, "official", 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.window = 8


def test_tasks_are_normalised_and_presets_set_only_memory():
    assert SamplingOptions(tasks="bfr,colorization").tasks == (1, 1, 0)
    assert SamplingOptions(tasks=[0, 0, 1]).tasks == (0, 0, 1)
    low = SamplingOptions.build("low_vram", window=12, decode_chunk=None)  # None: not set, the preset's value
    assert (low.cfg_sequential, low.offload, low.decode_chunk, low.encode_chunk, low.window) == (True, True, 6, 4, 12)
    assert SamplingOptions.build("low_vram", decode_chunk=2).decode_chunk == 2


@pytest.mark.parametrize("field, value, words", [
    ("window", 0, "window must be an integer >= 1, got 0"),
    ("seed", -1, "seed must be an integer >= 0, got -1"),
    ("steps", 2.5, "steps must be an integer >= 1, got 2.5"),
    ("i2i_strength", 0.0, "i2i_strength must be in (0.0, 1.0], got 0.0"),
    ("guidance_max", float("nan"), "guidance_max must be in [0.0, 100.0], got nan"),
    ("arcface_crop", "tight", "arcface_crop must be 'official' or 'corrected', got 'tight'"),
])
@pytest.mark.fault("options and widgets", "out-of-range sampling values")
def test_bad_values_name_the_option(field, value, words):
    with pytest.raises(OptionError) as info:
        SamplingOptions(**{field: value})
    assert str(info.value) == words and info.value.option == field


def test_an_option_error_is_worded_by_each_front_end():
    with pytest.raises(OptionError) as info:
        SamplingOptions(window=4, overlap=5)
    err = info.value
    assert isinstance(err, InputError) and (err.option, err.related) == ("overlap", ("window",))
    assert str(err) == "overlap must be smaller than window (4), got 5; lower overlap or raise window"
    assert err.worded(lambda o: "--" + o) == "--overlap must be smaller than --window (4), got 5; lower --overlap or raise --window"


@pytest.mark.fault("options and widgets", "unknown option names")
def test_unknown_keywords_are_refused_by_name():
    with pytest.raises(InputError, match="windw"):
        SamplingOptions.build(windw=4)
    with pytest.raises(InputError, match="colour_match"):
        RestoreOptions.build(colour_match="lab")


def test_restore_options_send_each_flat_keyword_to_its_group():
    o = RestoreOptions.build(preset="low_vram", window=8, overlap=2, faces="2", mode="official", size=256,
                             reid="off", allow_no_face=True, color_match="lab", feather=16)
    assert (o.sampling.window, o.sampling.overlap, o.sampling.offload) == (8, 2, True)
    assert o.faces == FaceOptions(mode="official", faces=2, size=256, reid="off", allow_no_face=True)
    assert o.paste == PasteOptions(color_match="lab", feather=16, erode=None)
    assert o.replace(window=4, overlap=1, color_match="none").sampling.window == 4
    with pytest.raises(OptionError, match="faces must be 'largest', 'all' or a face index"):
        RestoreOptions.build(faces="biggest")
    with pytest.raises(OptionError, match="size must be a multiple of 8"):
        FaceOptions(size=100)


def test_blend_widths_are_given_for_512_crops_and_scaled_once():
    assert blend_widths(512) == {"feather": 32.0, "erode": 24.0}       # the defaults, at the model size
    assert blend_widths(256) == {"feather": 16.0, "erode": 12.0}
    assert PasteOptions(feather=40, erode=8).widths(128) == {"feather": 10.0, "erode": 2.0}


def test_an_options_object_restores_the_same_frames_as_the_keywords(parity_dir):
    from svfr_model.diffusion.passes import restore_video
    from svfr_model.weights.models import load_svfr_models

    models = load_svfr_models(parity_dir / "models")
    frames = torch.rand((3, 32, 32, 3), generator=torch.Generator().manual_seed(0))
    kw = dict(tasks="bfr", seed=3, steps=1, pass1_steps=1, window=2, overlap=1, decode_chunk=2)
    tokens = torch.randn((49, models.unet.config.cross_attention_dim), generator=torch.Generator().manual_seed(1))
    a = restore_video(models, frames, SamplingOptions(**kw), id_tokens=tokens).frames
    b = restore_video(models, frames, id_tokens=tokens, **kw).frames
    assert torch.equal(a, b) and a.shape == frames.shape
    with pytest.raises(InputError, match="not both"):
        restore_video(models, frames, SamplingOptions(), seed=4)
