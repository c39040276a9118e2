"""One person, one track (faces.reid): real faces leave, come back elsewhere, and others take their place."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from svfr_model.errors import InputError
from svfr_model.faces.plan import plan_crops
from svfr_model.faces.records import FaceCropRecord
from svfr_model.faces.reid import AppearanceDescriber, describers_for, rejoin_tracks
from svfr_model.faces.track import RawTrack
from svfr_model.video import read_video
from conftest import DEMO_DIR
from testdata import carphone

SLOT = 256
GREY = 90


def _slot_clip(path, n: int) -> list[np.ndarray]:
    """The clip's first n frames (held on the last) letterboxed into SLOT x SLOT grey squares."""
    frames = read_video(path).frames
    out = []
    for i in range(n):
        f = frames[min(i, len(frames) - 1)]
        h, w = f.shape[:2]
        s = SLOT / max(h, w)
        r = cv2.resize(f, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        c = np.full((SLOT, SLOT, 3), GREY, np.uint8)
        y, x = (SLOT - r.shape[0]) // 2, (SLOT - r.shape[1]) // 2
        c[y:y + r.shape[0], x:x + r.shape[1]] = r
        out.append(c)
    return out


@pytest.fixture(scope="module")
def people():
    """Three real people on video: an actress (SVFR demo lq3), a man (carphone) and lq1's face."""
    return {"actress": _slot_clip(DEMO_DIR / "lq3.mp4", 54),
            "man": _slot_clip(carphone(), 60),
            "lq1": _slot_clip(DEMO_DIR / "lq1.mp4", 60)}


@pytest.fixture(scope="module")
def detector():
    from svfr_model.faces.detect import load_detector

    return load_detector()


def _spans(track) -> list[tuple[int, int]]:
    """Contiguous frame runs of a FaceTrack."""
    f = track.frame_indices
    cuts = np.nonzero(np.diff(f) > 1)[0]
    starts = [int(f[0])] + [int(f[c + 1]) for c in cuts]
    ends = [int(f[c]) for c in cuts] + [int(f[-1])]
    return list(zip(starts, ends))


def _by_start(record: FaceCropRecord) -> list[list[tuple[int, int]]]:
    return sorted((_spans(t) for t in record.tracks), key=lambda s: s[0][0])


def test_person_back_elsewhere_rejoins_and_newcomer_in_their_place_is_new(people, detector):
    """The actress leaves the left half at frame 25 and is back in the right half at 70 (45 frames later,
    beyond the 12-frame interpolation limit); the man enters the left half at 35, where she was."""
    frames = np.full((100, SLOT, 2 * SLOT, 3), GREY, np.uint8)
    for f in range(25):
        frames[f, :, :SLOT] = people["actress"][f]
    for f in range(70, 99):
        frames[f, :, SLOT:] = people["actress"][f - 45]
    for k, f in enumerate(range(35, 65)):
        frames[f, :, :SLOT] = people["man"][k]

    rec = plan_crops(frames, detector, faces="all", size=64)
    assert _by_start(rec) == [[(0, 24), (70, 98)], [(35, 64)]]
    actress = next(t for t in rec.tracks if t.frame_indices[0] == 0)
    assert not actress.interpolated.any()  # nothing made up across her absence
    assert len(rec.joined) == 1 and "appearance" in rec.joined[0] and "elsewhere" in rec.joined[0]

    # The old rule (back only where it left) gives the man her track and her return a new one.
    old = plan_crops(frames, detector, faces="all", size=64, reid="off")
    assert _by_start(old) == [[(0, 64)], [(70, 98)]]


def test_person_hidden_while_another_crosses_comes_back_in_place(people, detector):
    """lq1's face is hidden for 40 frames while the man walks across the spot; both keep one track each."""
    n = 90
    frames = np.full((n, SLOT, 3 * SLOT, 3), GREY, np.uint8)
    for f in list(range(0, 25)) + list(range(65, n)):
        frames[f, :, :SLOT] = people["lq1"][f % 60]
    for k, f in enumerate(range(25, 62)):  # right to left across the whole frame, over lq1's spot
        x = round(2 * SLOT - k * (2 * SLOT) / 36)
        frames[f, :, x:x + SLOT] = people["man"][k]

    rec = plan_crops(frames, detector, faces="all", size=64)
    spans = _by_start(rec)
    assert len(spans) == 2, (spans, rec.joined)
    lq1, man = spans
    assert lq1[0][0] == 0 and lq1[-1][1] == n - 1 and not any(25 <= a <= 64 for a, _ in lq1[1:])
    assert man[0][0] >= 25 and man[-1][1] <= 61 and len(man) == 1
    assert any("where it left" in j for j in rec.joined)


def test_cut_to_another_person_in_the_same_place_splits_the_track(people, detector):
    """A hard cut (no missing frame) from the actress to the man, framed alike: two tracks, not one."""
    frames = np.stack(people["actress"][:30] + people["man"][:30])
    rec = plan_crops(frames, detector, faces="all", size=64)
    assert _by_start(rec) == [[(0, 29)], [(30, 59)]]
    assert _by_start(plan_crops(frames, detector, faces="all", size=64, reid="off")) == [[(0, 59)]]


def test_appearance_vectors_on_real_faces(people, detector):
    describe = AppearanceDescriber()

    def vec(frame):
        lm = np.asarray(detector.detect(frame).landmarks).reshape(-1, 5, 2)
        return describe(frame, lm)[0].astype(np.float64)

    a0, a1 = vec(people["actress"][0]), vec(people["actress"][50])
    m0 = vec(people["man"][0])
    np.testing.assert_allclose(np.linalg.norm(a0), 1.0, atol=1e-3)
    assert a0 @ a1 > 0.9  # the same person 2 s later
    assert a0 @ m0 < 0.8  # another person
    # Where the face sits and how big it is does not matter: it is aligned first.
    # (The frame is scaled by 1.25 and shifted; its border is replicated as the describer does off-frame.)
    M = np.array([[1.25, 0, 150], [0, 1.25, 40]])
    moved = cv2.warpAffine(people["actress"][0], M, (500, 400), flags=cv2.INTER_CUBIC,
                           borderMode=cv2.BORDER_REPLICATE)
    assert a0 @ vec(moved) > 0.97


# -- the joining rule on made-up vectors --------------------------------------------------------------

class _Fake:
    """A describer with the given thresholds (vectors are supplied directly)."""

    def __init__(self, name, join=0.9, join_in_place=0.8, every=1, switch_below=0.0):
        self.name, self.join, self.join_in_place, self.every, self.switch_below = (
            name, join, join_in_place, every, switch_below)

    def __call__(self, image, landmarks):
        raise AssertionError("not called in these tests")


def _piece(frames, x, vec, vectors, name="fake"):
    t = RawTrack()
    for f in frames:
        t.add(f, [x, 0, x + 40, 40], np.zeros((5, 2)), 1.0, 0)
        vectors.setdefault(name, {})[f] = np.asarray([vec], np.float32)
    return t


def _unit(*v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


def test_rejoin_rule_thresholds_overlap_and_chains():
    vec = {}
    same = _unit(1, 0, 0)
    close = _unit(1, 0.55, 0)  # 0.876 with `same`: enough in place (0.8), not elsewhere (0.9)
    a = _piece(range(0, 10), 0, same, vec)
    b = _piece(range(30, 40), 200, close, vec)  # elsewhere
    c = _piece(range(50, 60), 0, _unit(1, -0.55, 0), vec)  # back where a left (0.876 with a; 0.54 with b)
    out, joined = rejoin_tracks([a, b, c], vec, [_Fake("fake")])
    assert sorted(sorted(t.frames)[0] for t in out) == [0, 30]
    merged = next(t for t in out if t.frames[0] == 0)
    assert merged.frames == list(range(10)) + list(range(50, 60)) and merged.breaks == {50}
    assert joined[0].in_place and joined[0].by == "fake"

    # Two look-alikes in the frame at the same time are never one person.
    vec = {}
    x = _piece(range(0, 20), 0, same, vec)
    y = _piece(range(10, 30), 200, same, vec)
    z = _piece(range(40, 50), 0, same, vec)
    out, _ = rejoin_tracks([x, y, z], vec, [_Fake("fake")])
    assert len(out) == 2 and sorted(len(t.frames) for t in out) == [20, 30]

    # A chain of three absences: one track with a break at each return.
    vec = {}
    pieces = [_piece(range(s, s + 5), 100 * i, same, vec) for i, s in enumerate((0, 20, 40, 60))]
    out, joined = rejoin_tracks(pieces, vec, [_Fake("fake")])
    assert len(out) == 1 and out[0].breaks == {20, 40, 60} and len(joined) == 3


def test_preferred_describer_decides_and_short_pieces_fall_back():
    vec = {}
    a = _piece(range(0, 10), 0, _unit(1, 0), vec, "look")
    b = _piece(range(30, 40), 0, _unit(1, 0), vec, "look")
    # "who" (say ArcFace) has seen both pieces and says they are two people: no join, whatever "look" says.
    for f, v in ((0, _unit(1, 0)), (30, _unit(0, 1))):
        vec.setdefault("who", {})[f] = np.asarray([v], np.float32)
    out, _ = rejoin_tracks([a, b], vec, [_Fake("who", 0.35, 0.25), _Fake("look")])
    assert len(out) == 2
    # Without a "who" vector on b (too short to be sampled), "look" decides.
    del vec["who"][30]
    out, joined = rejoin_tracks([a, b], vec, [_Fake("who", 0.35, 0.25), _Fake("look")])
    assert len(out) == 1 and joined[0].by == "look"


def test_reid_option_errors_and_record_round_trip():
    assert describers_for("off") == () and describers_for(None) == ()
    assert [d.name for d in describers_for("appearance")] == ["appearance"]
    assert [d.name for d in describers_for([_Fake("arcface")])] == ["arcface", "appearance"]
    with pytest.raises(InputError, match="reid must be one of"):
        describers_for("arcfce")
    with pytest.raises(InputError, match="not a face describer"):
        describers_for([object()])
    rec = FaceCropRecord((10, 20), 5, 64, "tracked", joined=["face of frames 0-1 re-joined by frames 3-4"])
    assert FaceCropRecord.from_json(rec.to_json()).joined == rec.joined
