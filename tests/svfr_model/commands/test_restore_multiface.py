"""``restore`` on a non-square video with two faces: both restored and pasted back, the rest kept."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import DEMO_DIR, require_path
from svfr_model.commands.cli import main
from svfr_model.faces.detect import load_detector
from svfr_model.video import read_video, write_video

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DEMO = DEMO_DIR
# Where the two faces sit on the 384x160 canvas (x offsets of the two 128x128 clips)
LEFT, RIGHT, TOP = 16, 240, 16


@pytest.fixture(scope="module")
def models_dir(test_models_dir):
    return test_models_dir


@pytest.fixture(scope="module")
def two_face_clip(tmp_path_factory):
    src = read_video(require_path(DEMO / "lq1.mp4", "demo clip lq1.mp4"), max_frames=3)
    canvas = np.full((3, 160, 384, 3), 40, np.uint8)
    canvas[:, TOP:TOP + 128, LEFT:LEFT + 128] = src.frames
    canvas[:, TOP:TOP + 128, RIGHT:RIGHT + 128] = src.frames[:, :, ::-1]  # the mirrored face: a second person
    path = tmp_path_factory.mktemp("clip") / "two_faces.mp4"
    write_video(path, canvas, src.fps, lossless=True)
    return path, canvas


def test_restore_two_faces_on_non_square_video(tmp_path, models_dir, two_face_clip):
    path, canvas = two_face_clip
    assert len(load_detector("retinaface").detect(canvas[0])) == 2  # the premise: two faces are found
    out = tmp_path / "out.mp4"
    rc = main(["restore", str(path), str(out), "--models", str(models_dir), "--size", "64", "--faces", "all",
               "--steps", "1", "--pass1-steps", "2", "--quiet"])
    assert rc == 0
    res = read_video(out)
    assert res.frames.shape == canvas.shape and float(res.fps) == 25.0
    diff = np.abs(res.frames.astype(np.float32) - canvas.astype(np.float32)).mean(-1)  # (N, H, W)
    left_face = diff[:, TOP + 40:TOP + 90, LEFT + 40:LEFT + 90].mean()
    right_face = diff[:, TOP + 40:TOP + 90, RIGHT + 40:RIGHT + 90].mean()
    between = diff[:, :, LEFT + 128 + 8:RIGHT - 8].mean()  # background strip between the two clips
    # both faces were restored (the random tiny model changes them a lot); the background only
    # carries H.264 noise
    assert left_face > 8 and right_face > 8, (left_face, right_face)
    assert between < 2, between


def test_restore_with_a_reference_photo_of_another_size(tmp_path, models_dir):
    """--reference takes any portrait: its face is framed like the crops and replaces pass 1."""
    from PIL import Image
    from testdata import astronaut

    src = require_path(DEMO / "lq1.mp4", "demo clip lq1.mp4")
    photo = tmp_path / "portrait.png"
    Image.fromarray(astronaut()).resize((300, 300), Image.BICUBIC).crop((0, 0, 300, 260)).save(photo)
    runs = {}
    for name, extra in (("srr", []), ("photo", ["--reference", str(photo)])):
        out = tmp_path / f"{name}.mp4"
        rc = main(["restore", str(src), str(out), "--models", str(models_dir), "--size", "64", "--max-frames", "3",
                   "--steps", "1", "--pass1-steps", "2", "--quiet", *extra])
        assert rc == 0
        runs[name] = read_video(out).frames.astype(np.float32)
    assert runs["photo"].shape == runs["srr"].shape == (3, 128, 128, 3)
    # the reference conditions pass 2, so the restored face differs from the self-referred one
    assert np.abs(runs["photo"] - runs["srr"])[:, 40:90, 40:90].mean() > 1.0
