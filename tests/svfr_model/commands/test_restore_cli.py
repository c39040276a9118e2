"""``python -m svfr_model restore`` on the demo clips with the tiny parity models (small sizes, 1 step)."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import DEMO_DIR, PARITY_DIR, require_path
from svfr_model.commands.cli import main

PARITY_MODELS = PARITY_DIR / "models"
DEMO = DEMO_DIR
FAST = ["--steps", "1", "--pass1-steps", "2", "--quiet"]


@pytest.fixture(scope="module")
def models_dir(test_models_dir):
    return test_models_dir


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _probe(path):
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        return v.average_rate, len(frames), frames[0].shape, [a.codec_context.name for a in c.streams.audio]


def test_restore_square_clip_keeps_fps_and_audio(tmp_path, models_dir):
    src = require_path(DEMO / "lq3.mp4", "demo clip lq3.mp4")
    mask = require_path(DEMO / "lq3_mask.png", "demo mask")
    out = tmp_path / "out.mp4"
    rc = main(["restore", str(src), str(out), "--models", str(models_dir),
               "--tasks", "bfr,inpainting", "--mask", str(mask), "--no-crop", "--size", "64",
               "--max-frames", "5", *FAST])
    assert rc == 0 and out.is_file()
    fps, n, shape, audio = _probe(out)
    assert fps == 25 and n == 5 and shape == (64, 64, 3)
    assert audio, "the input's audio track must be kept"


def test_no_crop_refuses_non_square(tmp_path, capsys):
    from svfr_model.video import write_video

    src = tmp_path / "wide.mp4"
    write_video(src, np.zeros((3, 32, 48, 3), np.uint8), 25)
    rc = main(["restore", str(src), str(tmp_path / "o.mp4"), "--models", str(require_path(PARITY_MODELS, "m")),
               "--no-crop", "--size", "64", *FAST])
    assert rc == 2
    err = capsys.readouterr().err
    assert "square" in err and "48x32" in err


def test_missing_arcface_fails_before_any_work(tmp_path, capsys):
    src = require_path(DEMO / "lq3.mp4", "demo clip lq3.mp4")
    rc = main(["restore", str(src), str(tmp_path / "o.mp4"), "--models", str(require_path(PARITY_MODELS, "m")),
               "--no-crop", "--size", "64", "--max-frames", "2", *FAST])
    assert rc == 2
    assert "insightface_glint360k.pth" in capsys.readouterr().err
    assert not (tmp_path / "o.mp4").exists()


def test_missing_models_one_message(tmp_path, capsys):
    (tmp_path / "models" / "face_restoration").mkdir(parents=True)
    rc = main(["restore", str(tmp_path / "in.mp4"), str(tmp_path / "o.mp4"), "--models", str(tmp_path / "models")])
    assert rc == 2
    err = capsys.readouterr().err
    for name in ("unet.pth", "id_linear.pth", "diffusion_pytorch_model.fp16.safetensors"):
        assert name in err


def test_restore_with_face_crop_and_paste_back(tmp_path, models_dir):
    """Default path: detect the face in a 128x128 clip, restore the 64x64 crop, paste back at 128x128."""
    src = require_path(DEMO / "lq1.mp4", "demo clip lq1.mp4")
    out = tmp_path / "out.mp4"
    rc = main(["restore", str(src), str(out), "--models", str(models_dir),
               "--size", "64", "--max-frames", "3", *FAST])
    assert rc == 0
    fps, n, shape, _ = _probe(out)
    assert fps == 25 and n == 3 and shape == (128, 128, 3)
    from svfr_model.video import read_video

    before = read_video(src, max_frames=3).frames.astype(np.float32)
    after = read_video(out).frames.astype(np.float32)
    # the face region changed (random tiny model), and the frame is not blank
    assert np.abs(after - before).mean() > 1.0 and after.std() > 5
