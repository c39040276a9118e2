"""Colour matching: Lab mean/std transfer and wavelet low-frequency transfer."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from svfr_model.errors import InputError
from svfr_model.faces.color import low_frequency, match_color, match_lab, match_wavelet


def _face_like(seed=0, size=96):
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.random((size, size, 3)).astype(np.float32), (0, 0), 6)
    base = (base - base.min()) / (base.max() - base.min())
    return 0.2 + 0.6 * base


def test_lab_transfer_gives_original_statistics():
    orig = _face_like(0)
    restored = np.clip(_face_like(1) * 0.6 + [0.3, 0.1, 0.0], 0, 1).astype(np.float32)  # colour cast
    out = match_lab(restored, orig)
    o_lab = cv2.cvtColor(orig.astype(np.float32), cv2.COLOR_RGB2Lab)
    r_lab = cv2.cvtColor(out.astype(np.float32), cv2.COLOR_RGB2Lab)
    np.testing.assert_allclose(r_lab.reshape(-1, 3).mean(0), o_lab.reshape(-1, 3).mean(0), atol=0.5)
    np.testing.assert_allclose(r_lab.reshape(-1, 3).std(0), o_lab.reshape(-1, 3).std(0), rtol=0.05, atol=0.3)
    # structure stays the restored one
    assert np.corrcoef(out[..., 1].ravel(), restored[..., 1].ravel())[0, 1] > 0.95


def test_lab_weight_ignores_pixels_outside_the_mask():
    orig = _face_like(0)
    restored = orig.copy()
    restored[:, :48] = 1.0  # garbage in the left half, which the weight excludes
    w = np.zeros(orig.shape[:2], np.float32)
    w[:, 48:] = 1
    out = match_lab(restored, orig, w)
    np.testing.assert_allclose(out[:, 48:], orig[:, 48:], atol=2e-3)


def test_wavelet_takes_low_frequencies_from_original_and_detail_from_restored():
    orig = _face_like(0)
    rng = np.random.default_rng(3)
    detail = (rng.random(orig.shape).astype(np.float32) - 0.5) * 0.1
    restored = np.clip(_face_like(5) + detail, 0, 1).astype(np.float32)
    out = match_wavelet(restored, orig)
    err_low = np.abs(low_frequency(out) - low_frequency(orig)).mean()
    assert err_low < 0.3 * np.abs(low_frequency(restored) - low_frequency(orig)).mean()
    hp = lambda x: x - cv2.GaussianBlur(x, (0, 0), 1.0)  # noqa: E731
    assert np.corrcoef(hp(out).ravel(), hp(restored).ravel())[0, 1] > 0.9


def test_identity_and_unknown_mode():
    x = _face_like(0)
    assert match_color(x, x, "none") is x
    np.testing.assert_allclose(match_color(x, x, "lab"), x, atol=3e-3)  # float32 Lab round trip
    np.testing.assert_allclose(match_color(x, x, "wavelet"), x, atol=1e-5)
    with pytest.raises(InputError, match="color_match"):
        match_color(x, x, "hist")
