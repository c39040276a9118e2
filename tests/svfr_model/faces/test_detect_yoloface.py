"""yoloface (SVFR's TorchScript YOLOv5-face) driven through a scripted stand-in with known outputs.

The real yoloface_v5m.pt is not available here. The stand-in checks what the official code feeds the
network (size rule, RGB / 255, the (x, y) grids) and emits fixed rows placed as fractions of the input
size, so the expected detections in original-image pixels are known exactly.
"""
from __future__ import annotations

import warnings
from typing import List

import numpy as np
import pytest
import torch

from svfr_model.errors import WeightsError
from svfr_model.faces.detect import FaceDetector, load_detector
from svfr_model.faces.detect.yoloface import input_size, postprocess

# rows: cx, cy, w, h (fractions of the network input), obj, 5 landmarks (fractions), cls
_FACE_A = [0.25, 0.5, 0.2, 0.3, 1.0, 0.2, 0.45, 0.3, 0.45, 0.25, 0.5, 0.21, 0.58, 0.29, 0.58, 0.9]
_ROWS = [
    _FACE_A,
    [0.26, 0.5, 0.2, 0.3, 1.0] + _FACE_A[5:15] + [0.8],          # duplicate of A: removed by NMS
    [0.75, 0.4, 0.1, 0.2, 1.0, 0.72, 0.37, 0.78, 0.37, 0.75, 0.4, 0.73, 0.45, 0.77, 0.45, 0.7],
    [0.5, 0.8, 0.1, 0.1, 0.4, *([0.5, 0.8] * 5), 1.0],              # obj 0.4 <= 0.5: dropped
    [0.5, 0.2, 0.1, 0.1, 0.9, *([0.5, 0.2] * 5), 0.5],              # conf 0.45 <= 0.5: dropped
]


class StandIn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("rows", torch.tensor(_ROWS, dtype=torch.float32))

    def forward(self, img: torch.Tensor, grids: List[torch.Tensor]) -> torch.Tensor:
        h, w = img.shape[2], img.shape[3]
        if h % 32 != 0 or w % 32 != 0 or min(h, w) < 416 or min(h, w) >= 448:
            raise RuntimeError("input size does not follow the 416 / multiple-of-32 rule")
        if float(img.max()) > 1.0:
            raise RuntimeError("input not scaled to [0, 1]")
        strides = [8, 16, 32]
        for i in range(3):
            g = grids[i]
            if g.shape != (1, 1, h // strides[i], w // strides[i], 2):
                raise RuntimeError("grid shape")
            if float(g[0, 0, 1, 2, 0]) != 2.0 or float(g[0, 0, 1, 2, 1]) != 1.0:
                raise RuntimeError("grid must hold (x, y) = (column, row)")
        # Objectness follows the colour: a pure red RGB frame gives 1; a BGR-swapped one gives 0.
        red = img[0, 0].mean() * (1.0 - img[0, 2].mean())
        out = self.rows.clone()
        scale = torch.tensor([w, h], dtype=torch.float32)
        out[:, 0:4] = out[:, 0:4] * scale.repeat(2)
        out[:, 5:15] = out[:, 5:15] * scale.repeat(5)
        out[:, 4] = out[:, 4] * red
        return out[None]


@pytest.fixture(scope="module")
def standin_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("yoloface") / "yoloface_standin.pt"
    with warnings.catch_warnings():  # TorchScript is deprecated in new torch; SVFR's file is TorchScript
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(StandIn()), str(path))
    return path


def _red(h, w):
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = 255
    return img


def test_input_size_rule():
    # r = 416 / short side; both sides rounded up to a multiple of 32 (hand-computed)
    assert input_size(144, 176) == (416, 512)       # 176 * 2.889 = 508.4 -> 512
    assert input_size(886, 1280) == (416, 608)      # 1280 * 0.4695 = 601.0 -> 608
    assert input_size(720, 1280) == (416, 768)      # 739.6 -> 768
    assert input_size(512, 512) == (416, 416)
    assert input_size(1920, 1080) == (768, 416)     # portrait


def test_postprocess_thresholds_and_nms():
    rows = np.array(_ROWS, np.float32) * np.array([100, 100, 100, 100, 1] + [100] * 10 + [1], np.float32)
    d = postprocess(rows, 0.5)
    np.testing.assert_allclose(d.scores, [0.9, 0.7], rtol=1e-6)
    np.testing.assert_allclose(d.boxes[0], [15, 35, 35, 65], atol=1e-4)
    np.testing.assert_allclose(d.landmarks[1, 0], [72, 37], atol=1e-4)
    # a lower threshold lets the low-objectness and low-class rows through; the duplicate stays suppressed
    assert len(postprocess(rows, 0.3)) == 4


@pytest.mark.parametrize("h0, w0", [(144, 176), (886, 1280), (512, 512)])
def test_detect_with_standin_maps_back_to_input_pixels(standin_path, h0, w0):
    det = load_detector("yoloface", standin_path)
    assert isinstance(det, FaceDetector) and det.name == "yoloface"
    d = det.detect(_red(h0, w0))
    assert len(d) == 2
    np.testing.assert_allclose(d.scores, [0.9, 0.7], rtol=1e-5)
    # fractions of the network input map to the same fractions of the original image
    np.testing.assert_allclose(d.boxes[0], [0.15 * w0, 0.35 * h0, 0.35 * w0, 0.65 * h0], rtol=1e-4)
    np.testing.assert_allclose(d.boxes[1], [0.70 * w0, 0.30 * h0, 0.80 * w0, 0.50 * h0], rtol=1e-4)
    expect_lm = np.array(_FACE_A[5:15], np.float32).reshape(5, 2) * [w0, h0]
    np.testing.assert_allclose(d.landmarks[0], expect_lm, rtol=1e-4)


def test_detect_feeds_rgb_not_bgr(standin_path):
    det = load_detector("yoloface", standin_path)
    blue = _red(144, 176)[..., ::-1].copy()  # what a BGR-swapped red frame would look like
    assert len(det.detect(blue)) == 0
    assert len(det.detect(_red(144, 176))) == 2


def test_detect_max_side_and_gray(standin_path):
    det = load_detector("yoloface", standin_path)
    d = det.detect(_red(800, 1000), max_side=500)
    np.testing.assert_allclose(d.boxes[0], [150, 280, 350, 520], rtol=1e-4)
    assert len(det.detect(np.zeros((4, 4), np.uint8))) == 0  # tiny image: empty, not an error


@pytest.mark.fault("model files and weights", "missing or wrong yoloface file")
def test_missing_and_wrong_files(tmp_path):
    with pytest.raises(WeightsError, match="yoloface_v5m.pt"):
        load_detector("yoloface", None)
    with pytest.raises(WeightsError, match="not found"):
        load_detector("yoloface", tmp_path / "nope.pt")
    sd = tmp_path / "state_dict.pt"
    torch.save({"w": torch.zeros(2)}, sd)
    with pytest.raises(WeightsError, match="not a TorchScript archive"):
        load_detector("yoloface", sd)
