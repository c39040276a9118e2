"""SCRFD (insightface pack) detector: decode with crafted tensors, a stand-in ONNX with SCRFD's output
layout and known values, and the pack-folder search including the nested-folder mistake.

No real SCRFD weights can be obtained here, so real-face accuracy is covered by the RetinaFace tests.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from conftest import IN_CI

from svfr_model.errors import WeightsError
from svfr_model.faces.detect import FaceDetector, load_detector
from svfr_model.faces.detect.scrfd import (anchor_centers, decode_level, find_detector_file, letterbox,
                                           to_blob)

try:  # the `onnx` package builds the stand-in model (requirements-dev.txt)
    import onnx
    from onnx import TensorProto, helper
except ImportError:  # skip locally, fail under CI=true
    if IN_CI:
        raise
    pytest.skip("the `onnx` package is not installed (pip install -r requirements-dev.txt)", allow_module_level=True)

SIZE = 640
STRIDES = (8, 16, 32)


def _index(stride, row, col, anchor):
    return (row * (SIZE // stride) + col) * 2 + anchor


# Known planted detections: (stride, row, col, anchor, score, box distances, keypoint offsets) in stride units
FACE_A = (16, 10, 12, 1, 0.9, (2, 3, 2, 3), (-1, -1, 1, -1, 0, 0, -0.8, 1.5, 0.8, 1.5))
FACE_A_DUP = (16, 10, 13, 0, 0.7, (3, 3, 1, 3), (-1, -1, 1, -1, 0, 0, -0.8, 1.5, 0.8, 1.5))  # overlaps A
FACE_B = (32, 5, 15, 0, 0.8, (1, 1.5, 1, 1.5), (-0.5, -0.5, 0.5, -0.5, 0, 0, -0.4, 0.7, 0.4, 0.7))
LOW = (8, 50, 20, 0, 0.3, (1, 1, 1, 1), (0,) * 10)  # below the 0.5 threshold


def _expected_in_canvas(face):
    stride, row, col, _a, score, d, k = face
    c = np.array([col * stride, row * stride], np.float32)
    box = np.concatenate([c - np.array(d[:2]) * stride, c + np.array(d[2:]) * stride])
    kps = c + np.array(k, np.float32).reshape(5, 2) * stride
    return box, kps, score


def _standin_outputs():
    outs = {}
    for s in STRIDES:
        n = (SIZE // s) ** 2 * 2
        outs[f"score_{s}"] = np.zeros((1, n, 1), np.float32)
        outs[f"bbox_{s}"] = np.ones((1, n, 4), np.float32)
        outs[f"kps_{s}"] = np.zeros((1, n, 10), np.float32)
    for stride, row, col, a, score, d, k in (FACE_A, FACE_A_DUP, FACE_B, LOW):
        i = _index(stride, row, col, a)
        outs[f"score_{stride}"][0, i, 0] = score
        outs[f"bbox_{stride}"][0, i] = d
        outs[f"kps_{stride}"][0, i] = k
    return outs


def _build_standin(path, fixed_input=True, with_kps=True, batched=True):
    """ONNX graph with SCRFD's 9 outputs (scores x3, bbox x3, kps x3) holding planted values.

    batched=False gives the 2-D (N, C) outputs of older exports such as antelopev2's scrfd_10g_bnkps."""
    values = _standin_outputs()
    if not batched:
        values = {k: v[0] for k, v in values.items()}
    order = [f"score_{s}" for s in STRIDES] + [f"bbox_{s}" for s in STRIDES]
    if with_kps:
        order += [f"kps_{s}" for s in STRIDES]
    nodes = [helper.make_node("Constant", [], [name], value=helper.make_tensor(
        name + "_v", TensorProto.FLOAT, values[name].shape, values[name].ravel().tolist())) for name in order]
    shape = [1, 3, SIZE, SIZE] if fixed_input else [1, 3, "h", "w"]
    graph = helper.make_graph(
        nodes, "scrfd_standin",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, values[n].shape) for n in order])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    return _build_standin(tmp_path_factory.mktemp("scrfd") / "scrfd_10g_bnkps.onnx")


def test_anchor_centers_layout():
    c = anchor_centers(2, 3, 16, 2)
    assert c.shape == (12, 2)
    np.testing.assert_array_equal(c[:6], [[0, 0], [0, 0], [16, 0], [16, 0], [32, 0], [32, 0]])
    np.testing.assert_array_equal(c[6], [0, 16])  # second row starts after 3 cells x 2 anchors


def test_decode_level_crafted():
    n = 4 * 5 * 2
    scores = np.zeros(n, np.float32)
    box = np.zeros((n, 4), np.float32)
    kps = np.zeros((n, 10), np.float32)
    i = (2 * 5 + 3) * 2 + 1  # row 2, col 3, anchor 1 -> centre (24, 16) at stride 8
    scores[i], box[i], kps[i] = 0.75, [1, 2, 3, 4], [1, 0, -1, 0, 0, 1, 0, -1, 2, 2]
    scores[0] = 0.49
    b, k, s = decode_level(scores, box, kps, 8, 4, 5, 2, 0.5)
    np.testing.assert_allclose(s, [0.75])
    np.testing.assert_allclose(b[0], [24 - 8, 16 - 16, 24 + 24, 16 + 32])
    np.testing.assert_allclose(k[0], [[32, 16], [16, 16], [24, 24], [24, 8], [40, 32]])
    with pytest.raises(WeightsError, match="anchors"):
        decode_level(scores[:-2], box, kps, 8, 4, 5, 2, 0.5)


def test_letterbox_and_blob_values():
    img = np.zeros((400, 800, 3), np.uint8)
    img[..., 0] = 255  # red
    canvas, sx, sy = letterbox(img, (640, 640))
    assert (sx, sy) == (1.25, 1.25)
    assert (canvas[:320, :, 0] == 255).all() and (canvas[320:] == 0).all()  # top-left, zero padding
    blob = to_blob(canvas)
    assert blob.shape == (1, 3, 640, 640)
    np.testing.assert_allclose(blob[0, :, 0, 0], [(255 - 127.5) / 128, -127.5 / 128, -127.5 / 128])  # RGB order
    tall, sx, sy = letterbox(np.zeros((1280, 640, 3), np.uint8), (640, 640))
    assert (sx, sy) == (2.0, 2.0) and tall.shape == (640, 640, 3)


@pytest.mark.parametrize("h, w", [(400, 800), (1280, 1280), (640, 480)])
def test_standin_detect_maps_back(standin, h, w):
    det = load_detector("insightface", standin, threads=1)
    assert isinstance(det, FaceDetector) and det.name == "insightface"
    d = det.detect(np.full((h, w, 3), 90, np.uint8))
    assert len(d) == 2  # A and B; A's duplicate removed by NMS, LOW below threshold
    scale = max(h, w) / 640.0  # the letterbox fits the longer side to 640
    for j, face in enumerate((FACE_A, FACE_B)):
        box, kps, score = _expected_in_canvas(face)
        assert d.scores[j] == pytest.approx(score)
        np.testing.assert_allclose(d.boxes[j], box * scale, rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(d.landmarks[j], kps * scale, rtol=1e-5, atol=1e-3)
    # a lower threshold admits the low-scoring planted box
    assert len(det.detect(np.zeros((h, w, 3), np.uint8), threshold=0.25)) == 3


def test_standin_dynamic_input_unbatched_and_no_kps(tmp_path):
    det = load_detector("scrfd", _build_standin(tmp_path / "det_10g.onnx", fixed_input=False))
    assert det.input_size == (640, 640) and len(det.detect(np.zeros((100, 100), np.uint8))) == 2
    flat = load_detector("insightface", _build_standin(tmp_path / "scrfd_flat.onnx", batched=False))
    assert not flat.batched
    d = flat.detect(np.zeros((1280, 1280, 3), np.uint8))
    box, kps, _ = _expected_in_canvas(FACE_A)
    np.testing.assert_allclose(d.boxes[0], box * 2, atol=1e-3)
    np.testing.assert_allclose(d.landmarks[0], kps * 2, atol=1e-3)
    with pytest.raises(WeightsError, match="without keypoints"):
        load_detector("insightface", _build_standin(tmp_path / "scrfd_nokps.onnx", with_kps=False))


def test_pack_search(standin, tmp_path):
    root = tmp_path / "ComfyUI" / "models" / "insightface"
    pack = root / "models" / "buffalo_l"
    pack.mkdir(parents=True)
    shutil.copy(standin, pack / "det_10g.onnx")
    (pack / "w600k_r50.onnx").write_bytes(b"not a detector")
    for p in (root, root / "models", pack, pack / "det_10g.onnx"):
        assert find_detector_file(p) == pack / "det_10g.onnx"
    # antelopev2 is preferred when both packs are present
    ante = root / "models" / "antelopev2"
    ante.mkdir()
    shutil.copy(standin, ante / "scrfd_10g_bnkps.onnx")
    assert find_detector_file(root) == ante / "scrfd_10g_bnkps.onnx"


def test_nested_pack_folder_is_explained(standin, tmp_path):
    root = tmp_path / "insightface"
    nested = root / "models" / "antelopev2" / "antelopev2"
    nested.mkdir(parents=True)
    shutil.copy(standin, nested / "scrfd_10g_bnkps.onnx")
    for p in (root, root / "models", root / "models" / "antelopev2"):
        with pytest.raises(WeightsError) as ei:
            load_detector("insightface", p)
        msg = str(ei.value)
        assert "nested" in msg and str(nested) in msg and str(root / "models" / "antelopev2") in msg


@pytest.mark.fault("model files and weights", "missing insightface pack")
def test_missing_pack_names_the_folder(tmp_path):
    empty = tmp_path / "insightface"
    (empty / "models").mkdir(parents=True)
    with pytest.raises(WeightsError, match="no insightface detection model") as ei:
        load_detector("insightface", empty)
    assert str(empty) in str(ei.value)
    with pytest.raises(WeightsError, match="not found"):
        load_detector("insightface", tmp_path / "nowhere")
    with pytest.raises(WeightsError, match="needs a path"):
        load_detector("insightface", None)
    bad = tmp_path / "scrfd_broken.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(WeightsError, match="damaged or not an ONNX"):
        load_detector("insightface", bad)
