"""Detector-independent parts: NMS, the Detections record, input normalisation, downscale mapping."""
from __future__ import annotations

import numpy as np
import pytest

from svfr_model.errors import InputError
from svfr_model.faces.detect import KINDS, Detections, load_detector
from svfr_model.faces.detect.base import as_rgb_uint8, check_threshold, downscale
from svfr_model.faces.detect.nms import box_iou, nms


def test_box_iou_known_values():
    box = np.array([0, 0, 10, 10], np.float64)
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [10, 10, 20, 20], [0, 0, 5, 5]], np.float64)
    # identical; half overlap 50/150; touching corner; contained 25/100
    np.testing.assert_allclose(box_iou(box, boxes), [1.0, 1 / 3, 0.0, 0.25])


def test_nms_suppresses_overlaps_and_orders_by_score():
    boxes = np.array([
        [0, 0, 10, 10],      # 0: score .6, overlaps 1 with IoU 0.81 -> dropped by 1
        [1, 1, 10, 10],      # 1: score .9 (best)
        [20, 20, 30, 30],    # 2: alone
        [5, 0, 15, 10],      # 3: IoU with 1 = 45/145 = 0.31 -> kept at thr 0.4
    ], np.float32)
    scores = np.array([0.6, 0.9, 0.7, 0.5], np.float32)
    assert nms(boxes, scores, 0.4).tolist() == [1, 2, 3]
    # a stricter threshold also drops box 3
    assert nms(boxes, scores, 0.3).tolist() == [1, 2]
    assert nms(boxes, scores, 0.4, max_keep=2).tolist() == [1, 2]
    assert nms(np.zeros((0, 4)), np.zeros((0,)), 0.4).tolist() == []


def test_detections_from_arrays_sorts_and_scales():
    boxes = np.array([[0, 0, 10, 10], [20, 20, 40, 40]], np.float64)
    lms = np.arange(20, dtype=np.float64).reshape(2, 5, 2)
    det = Detections.from_arrays(boxes, lms, [0.3, 0.8])
    assert len(det) == 2
    assert det.boxes.dtype == det.landmarks.dtype == det.scores.dtype == np.float32
    np.testing.assert_array_equal(det.scores, np.float32([0.8, 0.3]))
    np.testing.assert_array_equal(det.boxes[0], [20, 20, 40, 40])
    np.testing.assert_array_equal(det.landmarks[0], lms[1])
    sc = det.scaled(2.0, 0.5)
    np.testing.assert_array_equal(sc.boxes[0], [40, 10, 80, 20])
    np.testing.assert_array_equal(sc.landmarks[1, 1], [lms[0, 1, 0] * 2, lms[0, 1, 1] * 0.5])
    np.testing.assert_array_equal(det.areas(), [400, 100])
    assert len(Detections.empty()) == 0 and Detections.empty().landmarks.shape == (0, 5, 2)


def test_as_rgb_uint8_accepts_gray_rgba_float():
    rgb = np.random.default_rng(0).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(as_rgb_uint8(rgb), rgb)
    gray = rgb[:, :, 0]
    np.testing.assert_array_equal(as_rgb_uint8(gray), np.dstack([gray] * 3))
    np.testing.assert_array_equal(as_rgb_uint8(gray[:, :, None]), np.dstack([gray] * 3))
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 9, np.uint8)])
    np.testing.assert_array_equal(as_rgb_uint8(rgba), rgb)
    np.testing.assert_array_equal(as_rgb_uint8(rgb.astype(np.float32) / 255.0), rgb)


@pytest.mark.parametrize("bad, words", [
    (np.zeros((2, 4, 4, 3), np.uint8), "shape"),
    (np.zeros((4, 4, 2), np.uint8), "shape"),
    (np.zeros((4, 4, 3), np.int32), "dtype"),
    (np.full((4, 4, 3), 2.0, np.float32), "[0, 1]"),
    ([[1, 2], [3, 4]], "numpy array"),
])
@pytest.mark.fault("pixels and masks", "detector input of a wrong shape or type")
def test_as_rgb_uint8_rejects_with_clear_message(bad, words):
    with pytest.raises(InputError, match="image") as ei:
        as_rgb_uint8(bad)
    assert words in str(ei.value)


def test_downscale_maps_back_exactly():
    img = np.zeros((300, 1000, 3), np.uint8)
    small, sx, sy = downscale(img, 250)
    assert max(small.shape[:2]) == 250 and small.shape[:2] == (75, 250)
    assert (sx, sy) == (4.0, 4.0)
    same, sx, sy = downscale(img, 2000)
    assert same is img and (sx, sy) == (1.0, 1.0)
    with pytest.raises(InputError, match="max_side"):
        downscale(img, 2)


def test_load_detector_unknown_kind_lists_choices():
    with pytest.raises(InputError) as ei:
        load_detector("mtcnn")
    for k in KINDS:
        assert k in str(ei.value)


def test_check_threshold():
    assert check_threshold(0.5) == 0.5 and check_threshold(0) == 0.0
    for bad in (-0.1, 1.0, 5, float("nan"), "high", None):
        with pytest.raises(InputError, match="threshold"):
            check_threshold(bad)


def test_onnx_threads_and_providers(monkeypatch):
    from svfr_model.faces.detect import onnx_session

    monkeypatch.setenv("SVFR_DETECT_THREADS", "3")
    assert onnx_session.default_threads() == 3
    monkeypatch.setenv("SVFR_DETECT_THREADS", "many")  # unusable value: fall back to the core count
    assert 1 <= onnx_session.default_threads() <= 4
    assert onnx_session.providers_for("cpu") == ["CPUExecutionProvider"]
    import onnxruntime as ort

    cuda = onnx_session.providers_for("cuda:0")
    assert cuda[-1] == "CPUExecutionProvider"
    assert ("CUDAExecutionProvider" in cuda) == ("CUDAExecutionProvider" in ort.get_available_providers())
