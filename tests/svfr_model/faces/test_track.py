"""Linking detections into tracks and filling gaps."""
from __future__ import annotations

import numpy as np

from svfr_model.faces.track import box_iou, fill_track, link_detections


def _lm(box):
    x1, y1, x2, y2 = box
    return np.array([[x1, y1], [x2, y1], [(x1 + x2) / 2, (y1 + y2) / 2], [x1, y2], [x2, y2]], float)


def _dets(boxes):
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    return boxes, np.stack([_lm(b) for b in boxes]) if len(boxes) else np.zeros((0, 5, 2)), np.ones(len(boxes))


def test_iou_values():
    iou = box_iou([[0, 0, 10, 10]], [[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]])
    np.testing.assert_allclose(iou, [[50 / 150, 0.0, 1.0]])


def test_two_faces_keep_identity_when_detection_order_swaps():
    det = {}
    for f in range(20):
        a = [10 + 2 * f, 10, 50 + 2 * f, 50]
        b = [200 - 2 * f, 100, 240 - 2 * f, 140]
        det[f] = _dets([a, b] if f % 2 == 0 else [b, a])  # detector order changes every frame
    tracks = link_detections(det, max_gap=3)
    assert len(tracks) == 2
    for t in tracks:
        assert t.frames == list(range(20))
        xs = np.asarray(t.boxes)[:, 0]
        assert np.all(np.abs(np.diff(xs)) == 2)  # one face each, moving steadily


def test_fast_small_face_linked_by_centre_distance():
    # 10 px face moving 8 px per frame: boxes barely overlap (IoU 0.11), centre distance 0.8 of a face
    det = {f: _dets([[8 * f, 0, 8 * f + 10, 10]]) for f in range(6)}
    assert len(link_detections(det, max_gap=2)) == 1
    det = {f: _dets([[12 * f, 0, 12 * f + 10, 10]]) for f in range(6)}  # no overlap, 1.2 faces apart
    assert len(link_detections(det, max_gap=2)) == 6


def test_short_gap_interpolated_long_gap_split_and_relinked_in_place():
    det = {}
    for f in list(range(0, 10)) + list(range(13, 20)) + list(range(40, 45)):
        det[f] = _dets([[100 + f, 50, 140 + f, 90]])
    tracks = link_detections(det, max_gap=4)
    assert len(tracks) == 1  # the face came back where it left (IoU >= 0.3 after the long gap)
    segs = fill_track(tracks[0], max_gap=4)
    assert [(int(s[0][0]), int(s[0][-1])) for s in segs] == [(0, 19), (40, 44)]
    frames, lms, boxes, interp = segs[0]
    assert interp.tolist() == [False] * 10 + [True] * 3 + [False] * 7
    np.testing.assert_allclose(boxes[11], [111, 50, 151, 90])  # linear in between
    np.testing.assert_allclose(lms[11], _lm([111, 50, 151, 90]))


def test_face_reappearing_elsewhere_after_long_gap_is_a_new_track():
    det = {f: _dets([[10, 10, 50, 50]]) for f in range(5)}
    det.update({f: _dets([[300, 10, 340, 50]]) for f in range(30, 35)})
    assert len(link_detections(det, max_gap=5)) == 2
