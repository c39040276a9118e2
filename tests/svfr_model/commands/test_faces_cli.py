"""`python -m svfr_model crop` / `paste`: the round trip on a real clip, and clear errors."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from svfr_model.commands.cli import main
from svfr_model.faces import FaceCropRecord, paste_faces
from svfr_model.video import read_video, write_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """The first 40 carphone frames with an odd frame count, as a lossless file (exact pixels)."""
    from testdata import carphone

    v = read_video(carphone(), max_frames=37)
    path = tmp_path_factory.mktemp("clip") / "carphone37.mkv"
    write_video(path, v.frames, v.fps, lossless=True)
    return path, v


@pytest.fixture(scope="module")
def cropped(clip, tmp_path_factory):
    path, _ = clip
    out = tmp_path_factory.mktemp("crops")
    assert main(["crop", str(path), "--out", str(out), "--lossless"]) == 0
    return out


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-12))


def test_crop_writes_track_video_and_record(clip, cropped):
    _, v = clip
    meta = json.loads((cropped / "crops.json").read_text())
    rec = FaceCropRecord.from_json((cropped / "crops.json").read_text())
    assert meta["track_files"] == ["track_00.mkv"] and meta["fps"] == "30000/1001"
    assert rec.frame_size == (144, 176) and rec.n_frames == 37 and len(rec.tracks) == 1
    crops = read_video(cropped / "track_00.mkv")
    assert crops.frames.shape == (37, 512, 512, 3) and crops.fps == v.fps
    # the face is in the middle of the crop: the landmarks sit near the calibrated framing
    lm = rec.tracks[0].landmarks
    assert np.all(np.abs(lm.mean(axis=(0, 1)) - [256, 282]) < 30)


def test_crop_then_paste_is_the_round_trip(clip, cropped, tmp_path):
    path, v = clip
    out = tmp_path / "pasted.mkv"
    assert main(["paste", str(path), str(cropped), "--out", str(out), "--lossless"]) == 0
    back = read_video(out)
    assert back.frames.shape == v.frames.shape and back.fps == v.fps
    # the same composition in memory gives the mask: identical outside, >= 40 dB inside
    rec = FaceCropRecord.from_json((cropped / "crops.json").read_text())
    crops = torch.from_numpy(read_video(cropped / "track_00.mkv").frames)
    mem, mask = paste_faces(v.frames, [crops], rec, return_mask=True)
    mem_u8 = (mem.numpy() * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(back.frames, mem_u8)
    inside, outside = mask.numpy() > 0, mask.numpy() == 0
    assert np.array_equal(back.frames[outside], v.frames[outside])
    assert _psnr(back.frames[inside], v.frames[inside]) >= 40


def test_default_h264_paste_keeps_size_fps_and_audio_free(clip, cropped, tmp_path):
    path, v = clip
    out = tmp_path / "pasted.mp4"
    assert main(["paste", str(path), str(cropped), "--out", str(out), "--color-match", "lab"]) == 0
    back = read_video(out)
    assert back.frames.shape == v.frames.shape and back.fps == v.fps
    assert _psnr(back.frames, v.frames) > 30


@pytest.mark.fault("command line", "paste into a mismatched video")
def test_paste_errors_are_clear(clip, cropped, tmp_path, capsys):
    path, _ = clip
    assert main(["paste", str(path), str(tmp_path / "none"), "--out", str(tmp_path / "o.mp4")]) == 2
    assert "folder written by `python -m svfr_model crop" in capsys.readouterr().err
    # a restored track video that lost frames
    bad = tmp_path / "bad"
    shutil.copytree(cropped, bad)
    frames = read_video(bad / "track_00.mkv").frames
    write_video(bad / "track_00.mkv", frames[:30], 25, lossless=True)
    assert main(["paste", str(path), str(bad), "--out", str(tmp_path / "o.mp4")]) == 2
    err = capsys.readouterr().err
    assert "has 30 frames but the record needs 37" in err
    assert not (tmp_path / "o.mp4").exists()
    # another video than the one cropped
    other = write_video(tmp_path / "other.mp4", np.zeros((5, 64, 64, 3), np.uint8), 25)
    assert main(["paste", str(other), str(cropped), "--out", str(tmp_path / "o.mp4")]) == 2
    assert "64x64 but the crops were made from a 176x144 video" in capsys.readouterr().err


def test_crop_no_face_is_an_error_or_empty_record(tmp_path, capsys):
    blank = write_video(tmp_path / "blank.mp4", np.zeros((6, 64, 80, 3), np.uint8), 25)
    assert main(["crop", str(blank), "--out", str(tmp_path / "c")]) == 2
    assert "no face found" in capsys.readouterr().err
    assert main(["crop", str(blank), "--out", str(tmp_path / "c"), "--allow-no-face"]) == 0
    rec = FaceCropRecord.from_json((tmp_path / "c" / "crops.json").read_text())
    assert rec.tracks == [] and rec.skipped
    # pasting nothing returns the video (lossless: exactly)
    out = tmp_path / "same.mkv"
    assert main(["paste", str(blank), str(tmp_path / "c"), "--out", str(out), "--lossless"]) == 0
    assert np.array_equal(read_video(out).frames, np.zeros((6, 64, 80, 3), np.uint8))
