"""One error, three front ends: the Python API says argument names, the CLI its flags (issue 19).

The node side of the same cases is tests/nodes/test_worded_nodes.py. Cases: window 4 / overlap 5, a clip
with no face, a face index past the faces found, a one-frame clip at the smallest crop size (torch refused a
lone-value GroupNorm in the tiny UNet), inpainting without a mask (a warning, worded too).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from svfr_model.commands.cli import FlagWords, build_parser, command_parser, main
from svfr_model.errors import InputError, NoFaceError, OptionError, SVFRWarning

FAST = ["--steps", "1", "--pass1-steps", "1", "--quiet"]
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _flags(command: str) -> FlagWords:
    parser = build_parser()
    return FlagWords(command_parser(parser, command))


def _face_video(path, frames: int = 1, size: int = 96):
    import cv2
    from testdata import astronaut

    from svfr_model.video import write_video

    face = cv2.resize(astronaut()[:400, 40:440], (size, size), interpolation=cv2.INTER_AREA)
    return write_video(path, np.repeat(face[None], frames, 0), 25)


# ------------------------------------------------------------------ window 4 / overlap 5

@pytest.mark.fault("options and widgets", "window not above overlap (Python, CLI)")
def test_window_overlap_python_and_cli(tmp_path, capsys):
    from svfr_model.restore.options import RestoreOptions

    with pytest.raises(OptionError) as info:
        RestoreOptions.build(window=4, overlap=5)
    assert str(info.value) == "overlap must be smaller than window (4), got 5; lower overlap or raise window"
    rc = main(["restore", str(tmp_path / "in.mp4"), str(tmp_path / "o.mp4"), "--models", str(tmp_path),
               "--window", "4", "--overlap", "5", *FAST])  # refused before the models load
    assert rc == 2
    assert capsys.readouterr().err.strip() == ("error: --overlap must be smaller than --window (4), got 5; "
                                               "lower --overlap or raise --window")


# ------------------------------------------------------------------ no face

def test_no_face_python_names_arguments():
    from svfr_model.faces import crop_faces
    from svfr_model.faces.detect import load_detector

    with pytest.raises(NoFaceError) as info:
        crop_faces(torch.zeros((2, 64, 64, 3)), load_detector())
    text = str(info.value)
    assert "try max_side=None (detect at full resolution) or a smaller min_face" in text
    assert "set allow_no_face=True to return the frames untouched" in text
    assert info.value.options == ("max_side", "min_face", "allow_no_face")


@pytest.mark.fault("command line", "a hint naming a flag the command lacks")
def test_no_face_cli_names_the_flags_of_the_command(tmp_path, capsys, test_models_dir):
    from svfr_model.video import write_video

    blank = write_video(tmp_path / "blank.mp4", np.full((2, 64, 64, 3), 90, np.uint8), 25)
    assert main(["crop", str(blank), "--out", str(tmp_path / "crops")]) == 2
    err = capsys.readouterr().err
    assert "try --max-side 0 (detect at full resolution) or a smaller --min-face" in err
    assert "set --allow-no-face to return the frames untouched" in err and "allow_no_face" not in err
    # restore has no --max-side / --min-face: that hint is left out, not named wrongly
    out = tmp_path / "o.mp4"
    assert main(["restore", str(blank), str(out), "--models", str(test_models_dir), "--size", "64", *FAST]) == 2
    err = capsys.readouterr().err
    assert "set --if-no-face pass-through to return the frames untouched" in err and "max-side" not in err
    assert main(["restore", str(blank), str(out), "--models", str(test_models_dir), "--size", "64",
                 "--if-no-face", "pass-through", *FAST]) == 0 and out.is_file()


@pytest.mark.fault("faces", "a face index past the faces found")
def test_face_index_past_the_faces_found(tmp_path, capsys):
    from svfr_model.faces import crop_faces
    from svfr_model.faces.detect import load_detector

    video = _face_video(tmp_path / "face.mp4", frames=3)
    from svfr_model.video import read_video

    frames = read_video(video).frames
    with pytest.raises(InputError) as info:
        crop_faces(frames, load_detector(), faces=2, size=64)
    assert str(info.value).startswith("faces=2: only 1 face track(s) found")
    assert str(info.value).endswith("faces='all' restores every face")
    assert main(["crop", str(video), "--out", str(tmp_path / "c"), "--faces", "2", "--size", "64"]) == 2
    err = capsys.readouterr().err
    assert "--faces 2: only 1 face track(s) found" in err and "--faces all restores every face" in err


# ------------------------------------------------------------------ one frame at the smallest crop size

@pytest.mark.fault("options and widgets", "one frame at the smallest crop size")
def test_one_frame_at_64_runs_in_python(test_models_dir):
    """torch refused the tiny UNet's 1x1 level (one channel per group) for a batch of one frame and one CFG
    half: "Expected more than 1 value per channel when training". The call is paired instead."""
    from svfr_model.diffusion.denoiser import lone_value_groups
    from svfr_model.diffusion.passes import restore_video
    from svfr_model.weights.models import load_svfr_models

    models = load_svfr_models(test_models_dir, dtype="fp32", device="cpu")
    assert lone_value_groups(models.unet.config, 8, 8)           # 64 px crops: latents 8 -> 1x1 deepest
    assert not lone_value_groups(models.unet.config, 16, 16)     # 128 px: 2x2 at the deepest level
    assert not lone_value_groups({"block_out_channels": [320, 640, 1280, 1280]}, 8, 8)  # the real model
    crops = torch.rand((1, 64, 64, 3))
    lm = np.array([[22, 28], [42, 28], [32, 38], [24, 48], [40, 48]], np.float32)
    for preset in (None, "low_vram"):  # low_vram: CFG halves one after the other (batch 1 in pass 2 too)
        out = restore_video(models, crops, steps=1, pass1_steps=1, reference_landmarks=lm,
                            **({} if preset is None else {"cfg_sequential": True}))
        assert out.frames.shape == (1, 64, 64, 3) and torch.isfinite(out.frames).all()


def test_one_frame_at_64_runs_in_the_cli(tmp_path, test_models_dir):
    video = _face_video(tmp_path / "one.mp4", frames=1)
    out = tmp_path / "o.mp4"
    assert main(["restore", str(video), str(out), "--models", str(test_models_dir), "--size", "64", *FAST]) == 0
    assert out.is_file()


# ------------------------------------------------------------------ inpainting without a mask

def test_inpainting_without_mask_warns_in_each_front_ends_words(tmp_path, capsys, test_models_dir):
    from svfr_model.diffusion.passes import restore_video
    from svfr_model.weights.models import load_svfr_models

    models = load_svfr_models(test_models_dir, dtype="fp32", device="cpu")
    lm = np.array([[22, 28], [42, 28], [32, 38], [24, 48], [40, 48]], np.float32)
    with pytest.warns(SVFRWarning) as caught:
        restore_video(models, torch.rand((2, 64, 64, 3)), tasks="bfr,inpainting", steps=1, pass1_steps=1,
                      reference_landmarks=lm)
    texts = [str(w.message) for w in caught if isinstance(w.message, SVFRWarning)]
    assert "inpainting task without a mask: nothing is painted (as in the official code); give a mask marking " \
           "the region to fill" in texts
    assert [w.message.worded(_flags("restore")) for w in caught if "inpainting" in str(w.message)] == [
        "inpainting task without a --mask: nothing is painted (as in the official code); give a --mask marking "
        "the region to fill"]
    video = _face_video(tmp_path / "two.mp4", frames=2)
    assert main(["restore", str(video), str(tmp_path / "o.mp4"), "--models", str(test_models_dir), "--size", "64",
                 "--tasks", "bfr,inpainting", *FAST]) == 0
    assert "warning: inpainting task without a --mask" in capsys.readouterr().err
