"""Per-frame framing transforms, zero-lag smoothing, and the calibration against the official crop."""
from __future__ import annotations

import numpy as np
import pytest

from svfr_model.faces import framing
from svfr_model.faces.align import SVFR_TEMPLATE_256, estimate_similarity
from svfr_model.faces.official_crop import box_to_crop_affine, official_box


def test_fit_upright_recovers_scale_and_translation():
    src = SVFR_TEMPLATE_256 * 0.7 + [30, 40]
    M = framing.fit_upright(src, SVFR_TEMPLATE_256)
    np.testing.assert_allclose(M, [[1 / 0.7, 0, -30 / 0.7], [0, 1 / 0.7, -40 / 0.7]], atol=1e-9)


def test_fit_transform_with_rotation_lands_on_target():
    ang = np.deg2rad(20)
    R = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    lm = (framing.target_landmarks(512) - 256) @ R.T * 0.3 + [100, 80]
    M = framing.fit_transform(lm, 512, rotate=True)
    np.testing.assert_allclose(lm @ M[:, :2].T + M[:, 2], framing.target_landmarks(512), atol=1e-6)
    # upright keeps the roll: the crop is not rotated, so the points do not all land
    Mu = framing.fit_transform(lm, 512, rotate=False)
    assert Mu[0, 1] == 0 and Mu[1, 0] == 0


def test_params_round_trip():
    M = estimate_similarity(SVFR_TEMPLATE_256, SVFR_TEMPLATE_256 * 1.7 + [5, -3])
    M = M @ np.array([[np.cos(0.3), -np.sin(0.3), 0], [np.sin(0.3), np.cos(0.3), 0], [0, 0, 1]])
    p = framing.to_params(M, 512)
    np.testing.assert_allclose(framing.from_params(p, 512), M, atol=1e-9)
    # (cx, cy) is the frame point that lands on the crop centre
    np.testing.assert_allclose(M @ [p[2], p[3], 1], [255.5, 255.5], atol=1e-9)


def test_smoothing_has_no_lag_on_steady_motion_and_reduces_noise():
    t = np.arange(80, dtype=float)
    truth = np.stack([3.0 * t + 10, -0.5 * t], axis=1)
    # linear motion passes through unchanged, including at both ends
    np.testing.assert_allclose(framing.smooth_series(truth, 3.0), truth, atol=1e-9)
    rng = np.random.default_rng(1)
    noisy = truth + rng.normal(0, 2.0, truth.shape)
    sm = framing.smooth_series(noisy, 3.0)
    raw_err = np.abs(noisy - truth).mean()
    sm_err = np.abs(sm - truth).mean()
    assert sm_err < 0.5 * raw_err, (raw_err, sm_err)
    assert np.abs((sm - truth).mean(axis=0)).max() < 0.5  # no systematic offset (lag)


def test_smooth_transforms_follow_a_zoom_without_drift():
    n = 40
    mats = []
    for i in range(n):
        s = 2.0 + 0.02 * i
        mats.append(framing.from_params([np.log(s), 0.0, 100 + i, 80.0], 512))
    sm = framing.smooth_transforms(np.stack(mats), 512, 2.0)
    # log-scale is smoothed, so a linear zoom bends by < 0.1 %; the centre is exact
    for M, Ms in zip(mats, sm):
        np.testing.assert_allclose(framing.to_params(Ms, 512)[2:], framing.to_params(M, 512)[2:], atol=1e-6)
        assert framing.transform_scale(Ms) == pytest.approx(framing.transform_scale(M), rel=1e-3)


def test_warp_to_crop_matches_direct_sampling_and_antialiases():
    rng = np.random.default_rng(2)
    frame = rng.random((300, 300, 3)).astype(np.float32)
    M = np.array([[2.0, 0, -100], [0, 2.0, -120]])
    crop = framing.warp_to_crop(frame, M, 64)
    # crop pixel (u, v) = frame pixel ((u + 100) / 2, (v + 120) / 2): even u, v hit frame pixels exactly
    np.testing.assert_allclose(crop[0, 0], frame[60, 50], atol=1e-6)
    np.testing.assert_allclose(crop[10, 4], frame[65, 52], atol=1e-6)
    # shrinking by 4: area-averaged, so white noise loses most of its variance (plain sampling would keep it)
    small = framing.warp_to_crop(frame, np.array([[0.25, 0, 0], [0, 0.25, 0]]), 64)
    assert small.std() < 0.4 * frame.std()
    assert small.mean() == pytest.approx(frame[:256, :256].mean(), abs=0.01)


def _read(path):
    from svfr_model.video import read_video

    return read_video(path).frames


def test_calibration_constant_matches_official_crop_on_real_clips(demo_dir):
    """Re-measure OFFICIAL_FRAMING_512: the official box of each frame's face, template fit in the crop."""
    from testdata import carphone

    from svfr_model.faces.detect import load_detector

    det = load_detector()
    scales, offsets_y = [], []
    for path in [demo_dir / "lq1.mp4", demo_dir / "lq3.mp4", carphone()]:
        frames = _read(path)[::3]
        H, W = frames.shape[1:3]
        ss, ty = [], []
        for f in frames:
            d = det.detect(f)
            assert len(d), f"no face in a frame of {path.name}"
            M = box_to_crop_affine(official_box([d.boxes[0]], H, W), 512)
            q = (d.landmarks[0] - 0.5) @ M[:, :2].T + M[:, 2]
            A = framing.fit_upright(SVFR_TEMPLATE_256, q)
            ss.append(A[0, 0])
            ty.append(A[1, 2])
        scales.append(np.mean(ss))
        offsets_y.append(np.mean(ty))
    assert np.mean(scales) == pytest.approx(framing.OFFICIAL_FRAMING_SCALE, rel=0.03), scales
    assert np.mean(offsets_y) == pytest.approx(framing.OFFICIAL_FRAMING_OFFSET[1], abs=6), offsets_y
    for s in scales:  # every clip within 5 % of the constant
        assert s == pytest.approx(framing.OFFICIAL_FRAMING_SCALE, rel=0.05)
    np.testing.assert_allclose(
        framing.OFFICIAL_FRAMING_512,
        SVFR_TEMPLATE_256 * framing.OFFICIAL_FRAMING_SCALE + framing.OFFICIAL_FRAMING_OFFSET, atol=0.02)


def test_robust_smoothing_ignores_a_single_bad_frame():
    t = np.arange(60, dtype=float)
    truth = np.stack([2.0 * t, 0.1 * t], axis=1)
    rng = np.random.default_rng(4)
    y = truth + rng.normal(0, 0.5, truth.shape)
    y[30] += [40.0, -25.0]  # one mis-detected frame
    robust = framing.smooth_series(y, 3.0)
    plain = framing.smooth_series(y, 3.0, robust=False)
    err_r = np.abs(robust - truth)[25:36].max()
    err_p = np.abs(plain - truth)[25:36].max()
    assert err_r < 1.0 < 5.0 < err_p, (err_r, err_p)
