"""The official union-box crop (spec 5.2): worked examples, rounding, clamping, the maxface quirk."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from svfr_model.errors import NoFaceError
from svfr_model.faces.official_crop import (box_to_crop_affine, expand_box, official_box, sampled_frame_indices,
                                            square_box, union_box)
from svfr_model.faces import crop_faces, official_max_face


class ScriptedDetector:
    """Returns pre-set detections in call order (crop_faces detects keyframes in ascending order)."""

    def __init__(self, per_call):
        self.per_call = list(per_call)
        self.calls = 0

    def detect(self, image, *, max_side=None, threshold=0.5):
        from svfr_model.faces.detect import Detections

        boxes = self.per_call[self.calls]
        self.calls += 1
        if not boxes:
            return Detections.empty()
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        lms = np.stack([_landmarks_in(b) for b in boxes])
        return Detections.from_arrays(boxes, lms, np.linspace(0.99, 0.9, len(boxes)))


def _landmarks_in(b):
    x1, y1, x2, y2 = b
    w, h = x2 - x1, y2 - y1
    rel = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]])
    return np.stack([x1 + rel[:, 0] * w, y1 + rel[:, 1] * h], axis=1)


def test_spec_worked_examples():
    assert official_box([[100, 80, 200, 220]], 480, 640) == [60, 60, 240, 240]
    assert official_box([[10, 10, 400, 100]], 300, 640) == [137, 0, 273, 136]


def test_tall_box_clamped_at_top_moves_toward_face_centre():
    # expanded: x 284..356 (w 72), y 0..276 (h 276, clamped); centre 138 -> pulled up 33 to the face centre 105
    assert official_box([[300, 10, 340, 200]], 480, 640) == [284, 69, 356, 141]


def test_centre_shift_is_limited_to_half_the_side_difference():
    # wide box clamped at the right: expanded [340, 160, 640, 340] (w 300 > h 180), union centre x 590
    # lies 100 px right of the expanded centre 490, but the square may only move by (300-180)/2 = 60.
    assert square_box([500, 200, 680, 300], [340, 160, 640, 340]) == [460, 160, 640, 340]


def test_bankers_rounding_like_python_round():
    # expanded [8.5, 8.5, 26.5, 26.5]: round(8.5) = 8 and round(26.5) = 26 (half to even), not 9 / 27
    assert official_box([[12.5, 12.5, 22.5, 22.5]], 100, 100) == [8, 8, 26, 26]
    assert official_box([[13.5, 13.5, 23.5, 23.5]], 100, 100) == [10, 10, 28, 28]  # 9.5 -> 10, 27.5 -> 28


def test_union_and_expand():
    u = union_box([[10, 20, 50, 60], [5, 30, 40, 90]])
    np.testing.assert_array_equal(u, [5, 20, 50, 90])
    assert expand_box([10, 10, 20, 30], 0.4, 100, 100) == pytest.approx([6, 2, 24, 38])
    assert expand_box([0, 0, 100, 50], 0.4, 60, 120) == pytest.approx([0, 0, 120, 60])


@pytest.mark.fault("faces", "no face boxes for the official crop")
def test_no_boxes_is_a_clear_error():
    with pytest.raises(NoFaceError, match="no face"):
        official_box([], 100, 100)


def test_sampled_frames_every_fifth():
    assert sampled_frame_indices(12) == [0, 5, 10]
    assert sampled_frame_indices(1) == [0]


def test_maxface_quirk_returns_last_face_bigger_than_first():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 5, 10], [0, 0, 20, 10], [0, 0, 15, 10]], float)
    assert official_max_face(boxes) == 3  # not 2, the largest: max_area is never updated
    assert official_max_face(boxes[:2]) == 0


def test_affine_matches_crop_and_resize_geometry():
    M = box_to_crop_affine([60, 60, 240, 240], 512)
    k = 512 / 180
    # pixel-centre convention: frame x = 60 - 0.5 (left edge of the box) maps to crop -0.5 (left edge)
    np.testing.assert_allclose(M @ [59.5, 239.5, 1], [-0.5, 511.5], atol=1e-9)
    assert M[0, 0] == pytest.approx(k)


def test_crop_faces_official_mode_reproduces_union_box_and_pil_resize():
    rng = np.random.default_rng(0)
    n, H, W = 12, 120, 160
    frames = rng.random((n, H, W, 3)).astype(np.float32)
    # detections on frames 0, 5, 10 only (the official sampling); the face drifts right
    det = ScriptedDetector([[[40, 30, 80, 80]], [[50, 32, 90, 84]], [[60, 28, 100, 82]]])
    out = crop_faces(torch.from_numpy(frames), det, mode="official", size=64)
    assert det.calls == 3
    box = official_box([[40, 30, 80, 80], [50, 32, 90, 84], [60, 28, 100, 82]], H, W)
    assert box == [20, 6, 120, 106]  # union [40,28,100,84] -> expanded [16,5.6,124,106.4] -> side 100.8
    rec = out.record
    assert len(rec.tracks) == 1
    tr = rec.tracks[0]
    np.testing.assert_array_equal(tr.frame_indices, np.arange(n))
    np.testing.assert_allclose(tr.transforms[7], box_to_crop_affine(box, 64))
    assert tr.interpolated.tolist() == [i % 5 != 0 for i in range(n)]
    # pixels: PIL crop + bicubic resize of the frame, per channel (the official preprocessing)
    f = frames[7]
    ref = np.stack([np.asarray(Image.fromarray(f[:, :, c], mode="F").crop(tuple(box)).resize((64, 64), Image.BICUBIC))
                    for c in range(3)], axis=2)
    np.testing.assert_allclose(out.crops[0][7].numpy(), np.clip(ref, 0, 1), atol=1e-6)
