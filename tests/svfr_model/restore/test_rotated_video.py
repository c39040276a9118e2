"""A phone video (stored sideways, display rotation 90): faces are found on the frames as shown, and the
output keeps the stored orientation and the rotation. Before, detection ran on the sideways frames and found
no face (found by the issue-19 sweep)."""
from __future__ import annotations

import numpy as np
import pytest

from svfr_model.faces.records import stored_to_upright, upright_turns

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_stored_to_upright_matches_rot90(turns):
    stored = np.arange(5 * 7).reshape(5, 7)
    up = np.rot90(stored, turns)
    m = stored_to_upright(turns, stored.shape)
    for y in range(5):
        for x in range(7):
            u = m @ [x, y, 1]
            assert up[int(round(u[1])), int(round(u[0]))] == stored[y, x]
    assert upright_turns(-90) == 3 and upright_turns(450) == 1


@pytest.mark.fault("video files", "a phone video stored sideways (display rotation)")
def test_rotated_clip_is_restored(tmp_path, test_models_dir):
    from sweep.clips import make_clips

    from svfr_model.faces.detect import load_detector
    from svfr_model.restore.file import restore_file
    from svfr_model.video import read_video, video_info
    from svfr_model.weights.models import load_svfr_models

    clip = make_clips(tmp_path / "clips")["rotated"].path
    models = load_svfr_models(test_models_dir, dtype="fp32", device="cpu")
    out = restore_file(models, clip, tmp_path / "out.mp4", detector=load_detector(), size=64, steps=1,
                       pass1_steps=1, window=4, overlap=1, lossless=True)
    src, got = read_video(clip).frames, read_video(out).frames
    assert video_info(out).rotation == 90 and got.shape == src.shape
    changed = np.abs(got.astype(int) - src.astype(int)).max(-1) > 24
    assert changed.mean() > 0.05 and not changed[:, :, :8].any()  # the face (not the far left) was restored
