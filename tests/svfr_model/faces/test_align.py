import math

import cv2
import numpy as np
import pytest
import torch

from svfr_model.errors import InputError
from svfr_model.faces.align import (
    ARCFACE_TEMPLATE_112,
    SVFR_TEMPLATE_256,
    align_for_arcface,
    apply_affine,
    estimate_similarity,
    invert_affine,
)


def _similarity(scale, angle_deg, tx, ty):
    t = math.radians(angle_deg)
    a, b = scale * math.cos(t), scale * math.sin(t)
    return np.array([[a, -b, tx], [b, a, ty]])


def test_templates_are_related_as_documented():
    # mean_face_lm5p_256 = ((x + 8) * 2 + 16, y * 2) of the 96x112 template = 2 * arcface_112 + (16, 0)
    np.testing.assert_allclose(SVFR_TEMPLATE_256, ARCFACE_TEMPLATE_112 * 2 + [16, 0], atol=1e-9)


@pytest.mark.parametrize("scale,angle,tx,ty", [(1.0, 0, 0, 0), (2.5, 30, -40, 17.5), (0.37, -123, 300, -8)])
def test_exact_similarity_is_recovered(scale, angle, tx, ty):
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 200, size=(5, 2))
    M_true = _similarity(scale, angle, tx, ty)
    dst = apply_affine(M_true, src)
    M = estimate_similarity(src, dst)
    assert M.shape == (2, 3) and M.dtype == np.float64
    np.testing.assert_allclose(M, M_true, atol=1e-9)


def test_noisy_fit_matches_opencv_partial_affine_and_is_least_squares():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 200, size=(5, 2))
    dst = apply_affine(_similarity(1.7, 12, 5, 9), src) + rng.normal(0, 2.0, size=(5, 2))
    M = estimate_similarity(src, dst)
    # least squares: no small perturbation of (a, b, tx, ty) lowers the residual
    def residual(p):
        a, b, tx, ty = p
        return np.sum((apply_affine([[a, -b, tx], [b, a, ty]], src) - dst) ** 2)
    p0 = np.array([M[0, 0], M[1, 0], M[0, 2], M[1, 2]])
    r0 = residual(p0)
    for i in range(4):
        for d in (1e-3, -1e-3):
            p = p0.copy()
            p[i] += d
            assert residual(p) > r0
    # no reflection even when the target is mirrored: determinant stays positive
    mirrored = dst * [-1, 1]
    assert np.linalg.det(estimate_similarity(src, mirrored)[:, :2]) > 0


def test_invert_affine_round_trip():
    M = _similarity(1.3, 47, 12, -3)
    pts = np.array([[0.0, 0.0], [10, 5], [-3, 100]])
    back = apply_affine(invert_affine(M), apply_affine(M, pts))
    np.testing.assert_allclose(back, pts, atol=1e-10)


@pytest.mark.fault("pixels and masks", "landmarks of a wrong shape")
def test_bad_points_raise_input_error():
    with pytest.raises(InputError, match="shape"):
        estimate_similarity(np.zeros((5, 3)), np.zeros((5, 3)))
    with pytest.raises(InputError, match="NaN"):
        estimate_similarity([[0, 0], [np.nan, 1]], [[0, 0], [1, 1]])
    with pytest.raises(InputError, match="same point"):
        estimate_similarity(np.ones((5, 2)), ARCFACE_TEMPLATE_112)
    with pytest.raises(InputError, match="singular"):
        invert_affine(np.zeros((2, 3)))


def _blob_image(points, size=(400, 360)):
    """Black RGB image with a distinct coloured gaussian blob at every landmark."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.float64)
    for i, (x, y) in enumerate(points):
        g = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 3.0**2))
        img[..., 0] += g * 255 * ((i + 1) / 5)  # red intensity encodes the point index
        img[..., 1] += g * 255
    return np.clip(img, 0, 255).astype(np.uint8)


def _centroid(channel, x, y, r=8):
    x0, y0 = int(round(x)) - r, int(round(y)) - r
    patch = channel[max(y0, 0):y0 + 2 * r + 1, max(x0, 0):x0 + 2 * r + 1].astype(np.float64)
    if patch.sum() <= 0:
        return None
    py, px = np.mgrid[0:patch.shape[0], 0:patch.shape[1]]
    return np.array([(px * patch).sum() / patch.sum() + max(x0, 0), (py * patch).sum() / patch.sum() + max(y0, 0)])


# a face rotated by 20 degrees, 1.3x the template size, shifted
LANDMARKS = apply_affine(_similarity(1.3 * 0.5, 20, 60, 40), SVFR_TEMPLATE_256)


def test_corrected_crop_puts_landmarks_on_arcface_template():
    img = _blob_image(LANDMARKS)
    x = align_for_arcface(img, LANDMARKS, crop="corrected")
    assert x.shape == (1, 3, 112, 112) and x.dtype == torch.float32
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
    green = ((x[0, 1].numpy() + 1) * 127.5)
    for i, (tx, ty) in enumerate(ARCFACE_TEMPLATE_112):
        c = _centroid(green, tx - 0.5, ty - 0.5, r=4)  # pixel centres are at i + 0.5 after bilinear resize
        assert c is not None
        # pixel-centre convention: 224 -> 112 halves coordinates around centres
        np.testing.assert_allclose(c + 0.5, [tx, ty], atol=0.35, err_msg=f"landmark {i}")


def test_official_crop_sees_only_the_upper_left_of_the_face():
    img = _blob_image(LANDMARKS)
    x = align_for_arcface(img, LANDMARKS, crop="official")
    assert x.shape == (1, 3, 112, 112)
    green = ((x[0, 1].numpy() + 1) * 127.5)
    # In the 512 image the landmarks are at template*2; the crop [0:224, 16:240] then /2.
    expected = (SVFR_TEMPLATE_256 * 2 - [16, 0]) / 2
    np.testing.assert_allclose(expected[0], [84.5892, 103.3926], atol=1e-4)  # image-left eye, lower right
    c = _centroid(green, expected[0, 0] - 0.5, expected[0, 1] - 0.5, r=4)
    np.testing.assert_allclose(c + 0.5, expected[0], atol=0.35)
    # every other landmark is outside the 112x112 view: the crop holds no trace of their blobs
    assert all((e[0] > 112 or e[1] > 112) for e in expected[1:])
    inside = green > 20
    ys, xs = np.nonzero(inside)
    assert len(xs) > 0 and xs.min() > 70 and ys.min() > 90  # the only content is the left-eye blob


def test_official_equals_manual_reimplementation_of_infer_py():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, size=(300, 280, 3), dtype=np.uint8)
    lm = apply_affine(_similarity(0.9, -8, 20, 15), SVFR_TEMPLATE_256)
    M_cv = cv2.estimateAffinePartial2D(lm, SVFR_TEMPLATE_256 * 2, method=cv2.LMEDS)[0]
    M = estimate_similarity(lm, SVFR_TEMPLATE_256 * 2)
    np.testing.assert_allclose(M, M_cv, atol=1e-5)  # exact data: same fit as OpenCV
    warped = cv2.warpAffine(img, M, (512, 512), flags=cv2.INTER_CUBIC)
    t = (torch.from_numpy(warped).permute(2, 0, 1)[None].float() / 255 - 0.5) / 0.5
    ref = torch.nn.functional.interpolate(t[:, :, 0:224, 16:240], size=[112, 112], mode="bilinear")
    out = align_for_arcface(img, lm, crop="official")
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)


def test_align_rejects_bad_inputs():
    img = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(InputError, match="crop"):
        align_for_arcface(img, SVFR_TEMPLATE_256 / 4, crop="wide")
    with pytest.raises(InputError, match="uint8"):
        align_for_arcface(img.astype(np.float32), SVFR_TEMPLATE_256 / 4)
    with pytest.raises(InputError, match="RGB"):
        align_for_arcface(img[..., 0], SVFR_TEMPLATE_256 / 4)
    with pytest.raises(InputError, match="5"):
        align_for_arcface(img, SVFR_TEMPLATE_256[:4] / 4)
    with pytest.raises(InputError, match="outside the 64x64 image"):
        align_for_arcface(img, SVFR_TEMPLATE_256)  # 256-space points on a 64 image
    with pytest.raises(InputError, match="outside"):
        align_for_arcface(img, SVFR_TEMPLATE_256 / 4 - 40)


def test_real_aligned_face_known_geometry():
    """insightface's Tom_Hanks_54745.png is already ArcFace-aligned: its landmarks ARE the 112 template.

    corrected crop -> the image itself; official crop -> the 56x56 upper-left patch (x in [-4, 52),
    y in [0, 56)) enlarged 2x, sampled at x = 0.5 j - 3.875, y = 0.5 i + 0.125 (template x4 + 32 in the
    512 image, crop [0:224, 16:240], 224 -> 112).
    """
    from testdata import tom_hanks_aligned

    img = tom_hanks_aligned()
    assert img.shape == (112, 112, 3)

    def to_u8_scale(x):
        return (x[0].permute(1, 2, 0).numpy() + 1) * 127.5

    corrected = to_u8_scale(align_for_arcface(img, ARCFACE_TEMPLATE_112, "corrected"))
    official = to_u8_scale(align_for_arcface(img, ARCFACE_TEMPLATE_112, "official"))
    i = np.arange(112, dtype=np.float32)
    mx, my = np.meshgrid(0.5 * i - 3.875, 0.5 * i + 0.125)
    patch = cv2.remap(img, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT).astype(np.float64)
    assert np.abs(corrected - img).mean() < 5  # measured 2.6 (interpolation blur only)
    assert np.abs(official - patch).mean() < 1.5  # measured 0.3
    # and the two crops really differ: each is far from the other's expectation
    assert np.abs(official - img).mean() > 30 and np.abs(corrected - patch).mean() > 30
