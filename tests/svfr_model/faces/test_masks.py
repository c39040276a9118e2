"""Paste mask shape, and inpainting masks warped from frame space into each crop."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from svfr_model.errors import InputError
from svfr_model.faces.masks import paste_mask, warp_mask_to_crops
from svfr_model.faces import FaceCropRecord, FaceTrack


def test_paste_mask_zero_band_ramp_and_core():
    m = paste_mask(128, erode=10, feather=20)
    assert m.shape == (128, 128) and m.dtype == np.float32
    assert np.all(m[:10, :] == 0) and np.all(m[:, -10:] == 0)  # eroded band is exactly 0
    assert np.all(m[30:98, 30:98] == 1)  # inside the ramp: exactly 1
    row = m[64, :64]
    assert np.all(np.diff(row) >= 0)  # monotone ramp
    assert 0 < row[20] < 1
    np.testing.assert_allclose(m, m.T)  # symmetric
    np.testing.assert_allclose(m, m[::-1, ::-1])


def test_paste_mask_ellipse_and_errors():
    m = paste_mask(128, erode=4, feather=8, shape="ellipse")
    assert m[0, 0] == 0 and m[64, 64] == 1 and m[2, 2] == 0
    with pytest.raises(InputError, match="nothing of a 128 px crop"):
        paste_mask(128, erode=40, feather=30)
    with pytest.raises(InputError, match="shape"):
        paste_mask(128, shape="star")


def _record():
    # two tracks on a 100x200 (H x W) video of 3 frames: scale 2 around (50, 40), and scale 1 shifted
    M1 = np.array([[2.0, 0, -60], [0, 2.0, -40]])
    M2 = np.array([[1.0, 0, -120], [0, 1.0, -20]])
    t1 = FaceTrack(np.array([0, 1, 2]), np.stack([M1] * 3), np.zeros((3, 5, 2)), np.zeros(3, bool))
    t2 = FaceTrack(np.array([1, 2]), np.stack([M2] * 2), np.zeros((2, 5, 2)), np.zeros(2, bool))
    return FaceCropRecord((100, 200), 3, 64, "tracked", [t1, t2])


def test_frame_mask_lands_at_the_transformed_position():
    rec = _record()
    mask = np.zeros((100, 200), np.float32)
    mask[40:50, 40:60] = 1.0  # frame rows 40..49, cols 40..59
    out = warp_mask_to_crops(mask, rec)
    assert [tuple(o.shape) for o in out] == [(3, 64, 64), (2, 64, 64)]
    c = out[0][1].numpy()
    # crop = 2 * frame - (60, 40): cols 40..59 -> 20..58, rows 40..49 -> 40..58
    assert c[48, 40] == pytest.approx(1.0) and c[30, 40] == 0 and c[48, 10] == 0
    ys, xs = np.nonzero(c > 0.5)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (40, 58, 20, 58)
    assert out[1].max() == 0  # the second crop (frame cols 120..183) does not see the mask


def test_per_frame_mask_and_uint8_and_torch():
    rec = _record()
    masks = np.zeros((3, 100, 200), np.uint8)
    masks[2, 20:84, 120:184] = 128  # only frame 2, exactly the second crop's window (128/255)
    out = warp_mask_to_crops(torch.from_numpy(masks), rec)
    assert out[1][0].max() == 0 and out[1][1].min() == pytest.approx(128 / 255)


def test_crop_space_mask_used_as_is():
    rec = _record()
    m = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    out = warp_mask_to_crops(m, rec, space="crop")
    assert all(np.array_equal(o[k].numpy(), m) for o in out for k in range(len(o)))


@pytest.mark.fault("graph wiring", "a mask of another size than the frames")
def test_wrong_mask_size_is_a_clear_error():
    rec = _record()
    with pytest.raises(InputError, match=r"mask is 150x100 but the frames are 200x100"):
        warp_mask_to_crops(np.zeros((100, 150)), rec)
    with pytest.raises(InputError, match="5 frames but the video has 3"):
        warp_mask_to_crops(np.zeros((5, 100, 200)), rec)
    with pytest.raises(InputError, match="must be 64x64"):
        warp_mask_to_crops(np.zeros((32, 32)), rec, space="crop")
    with pytest.raises(InputError, match=r"\(H, W\) or \(N, H, W\)"):
        warp_mask_to_crops(np.zeros(10), rec)
