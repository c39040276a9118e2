"""crop_reference: a photo of any size framed like crop_faces frames a video, on real faces."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from svfr_model.errors import InputError, NoFaceError
from svfr_model.faces import crop_faces
from svfr_model.faces.framing import target_landmarks, to_params
from svfr_model.faces.reference import crop_reference, locate_reference


@pytest.fixture(scope="module")
def detector():
    from svfr_model.faces.detect import load_detector

    return load_detector()


@pytest.fixture(scope="module")
def astro():
    from testdata import astronaut

    return astronaut()


def _to_frame(M, pts):
    """Crop-pixel landmarks (detector convention) back to the photo."""
    inv = cv2.invertAffineTransform(np.asarray(M, dtype=np.float64))
    return (np.asarray(pts) - 0.5) @ inv[:, :2].T + inv[:, 2] + 0.5


@pytest.mark.parametrize("mode", ["tracked", "official"])
def test_same_framing_and_pixels_as_crop_faces(detector, astro, mode):
    crop, lm = crop_reference(astro, detector, mode=mode)
    video = crop_faces(np.stack([astro] * 3), detector, mode=mode)
    assert crop.shape == (512, 512, 3) and crop.dtype == np.float32 and lm.shape == (5, 2)
    np.testing.assert_allclose(lm, video.record.tracks[0].landmarks[0], atol=1e-6)
    np.testing.assert_allclose(crop, video.crops[0][0].numpy(), atol=1e-6)


def test_tracked_landmarks_sit_on_the_framing_target(detector, astro):
    crop, lm = crop_reference(astro, detector)
    # the upright least-squares fit puts the landmarks' centroid exactly on the target's
    np.testing.assert_allclose(lm.mean(0), target_landmarks(512).mean(0) + 0.5, atol=1e-6)
    # and each landmark within a face-geometry margin of its target (eyes above nose above mouth)
    assert np.abs(lm - (target_landmarks(512) + 0.5)).max() < 25
    assert lm[0, 0] < lm[1, 0] and lm[:2, 1].max() < lm[2, 1] < lm[3:, 1].min()
    # the detector finds the face in the crop where the returned landmarks say
    again = detector.detect((crop * 255 + 0.5).astype(np.uint8))
    assert np.abs(again.landmarks[0] - lm).max() < 8 and np.abs(again.landmarks[0] - lm).mean() < 4


def test_float_uint8_and_torch_inputs_agree(detector, astro):
    crop_u8, lm_u8 = crop_reference(astro, detector)
    crop_f, lm_f = crop_reference(torch.from_numpy(astro.astype(np.float32) / 255)[None], detector)
    np.testing.assert_allclose(lm_f, lm_u8, atol=1e-6)
    assert np.abs(crop_f - crop_u8).max() < 2e-3  # uint8 is warped as uint8 (rounding only)


def test_a_photo_already_crop_framed_comes_back_nearly_unchanged(detector, astro):
    crop, lm = crop_reference(astro, detector)
    crop_u8 = (crop * 255 + 0.5).astype(np.uint8)
    M, lm2 = locate_reference(crop_u8, detector)
    log_s, angle, cx, cy = to_params(M, 512)
    assert abs(np.exp(log_s) - 1) < 0.03 and angle == 0
    assert abs(cx - 255.5) < 4 and abs(cy - 255.5) < 4
    again, _ = crop_reference(crop_u8, detector)
    assert np.abs(again - crop).mean() < 0.05
    assert np.abs(lm2 - lm).max() < 8


@pytest.mark.parametrize("side", [320, 800])
def test_any_size_and_position_gives_the_same_framing(detector, astro, side):
    M0, _ = locate_reference(astro, detector)
    p0 = to_params(M0, 512)
    small = cv2.resize(astro, (side, side), interpolation=cv2.INTER_AREA if side < 512 else cv2.INTER_CUBIC)
    canvas = np.full((side + 180, side + 380, 3), 90, np.uint8)
    canvas[100:100 + side, 250:250 + side] = small
    crop, lm = crop_reference(canvas, detector, size=256)
    assert crop.shape == (256, 256, 3)
    p = to_params(locate_reference(canvas, detector, size=256)[0], 256)
    r = side / 512
    # same zoom on the face (the 256 crop is half the 512 one) and same face point at the centre
    assert abs(np.exp(p[0]) / (np.exp(p0[0]) / r / 2) - 1) < 0.05
    expect = (p0[2:] + 0.5) * r - 0.5 + np.array([250, 100])
    field = 256 / np.exp(p[0])  # photo pixels the crop spans
    assert np.abs(p[2:] - expect).max() < 0.02 * field


def test_tiny_aligned_face_is_upscaled_with_edges_repeated(detector):
    from testdata import tom_hanks_aligned

    face = tom_hanks_aligned()  # 112x112, the face fills the image
    from svfr_model.faces.align import ARCFACE_TEMPLATE_112

    crop, lm = crop_reference(face, detector)
    assert crop.shape == (512, 512, 3)
    # known geometry: the photo is aligned to the ArcFace template, so the template's points, taken
    # through the reference's transform, land on the crop framing target
    M, _ = locate_reference(face, detector)
    mapped = (ARCFACE_TEMPLATE_112 - 0.5) @ M[:, :2].T + M[:, 2] + 0.5
    target = target_landmarks(512) + 0.5
    assert np.abs(mapped - target).max() < 10
    eyes = np.linalg.norm(mapped[1] - mapped[0]) / np.linalg.norm(target[1] - target[0])
    assert abs(eyes - 1) < 0.05
    # outside the photo the edge pixels are repeated, never black
    assert crop[:4].mean() > 0.05 and crop[-4:].mean() > 0.05


def test_several_faces_largest_or_by_index(detector, astro):
    canvas = np.full((600, 1000, 3), 60, np.uint8)
    canvas[50:562, 450:962] = astro
    canvas[300:556, 40:296] = cv2.resize(astro, (256, 256), interpolation=cv2.INTER_AREA)
    big = _to_frame(*locate_reference(canvas, detector))
    assert np.all((big[:, 0] > 450) & (big[:, 0] < 962) & (big[:, 1] > 50) & (big[:, 1] < 562))
    np.testing.assert_allclose(big, _to_frame(*locate_reference(canvas, detector, face=0)))
    small = _to_frame(*locate_reference(canvas, detector, face=1))
    assert np.all((small[:, 0] > 40) & (small[:, 0] < 296) & (small[:, 1] > 300) & (small[:, 1] < 556))
    # the small copy is the big face at half scale: its landmarks match the big one's, scaled
    expect = (big - [450, 50]) / 2 + [40, 300]
    assert np.abs(small - expect).max() < 3
    with pytest.raises(InputError, match="shows 2 face"):
        locate_reference(canvas, detector, face=2)


def test_group_photo_index_counts_from_the_largest(detector):
    from testdata import t1_image

    group = t1_image()
    boxes = detector.detect(group, max_side=640).boxes
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    order = np.argsort(-areas)
    for k in (0, 3):
        pts = _to_frame(*locate_reference(group, detector, face=k))
        x0, y0, x1, y1 = boxes[order[k]]
        assert np.all((pts[:, 0] > x0) & (pts[:, 0] < x1) & (pts[:, 1] > y0) & (pts[:, 1] < y1))


def test_no_face_names_the_reference_input(detector):
    with pytest.raises(NoFaceError, match="no face found in the reference image .*leave the reference input empty"):
        crop_reference(np.full((300, 240, 3), 0.5, np.float32), detector)


def test_bad_inputs_are_refused_clearly(detector, astro):
    with pytest.raises(InputError, match="one image, got a batch of 2"):
        crop_reference(np.stack([astro, astro]), detector)
    with pytest.raises(InputError, match=r"one \(H, W, 3\) RGB image"):
        crop_reference(np.zeros((10, 10)), detector)
    with pytest.raises(InputError, match="face must be 'largest'"):
        crop_reference(astro, detector, face="all")
    with pytest.raises(InputError, match="mode must be"):
        crop_reference(astro, detector, mode="square")
    with pytest.raises(InputError, match="detector must be"):
        crop_reference(astro, None)
