"""Pass 1 of the face pipeline: detect faces, link them into tracks, and plan per-frame crop transforms.

Reads the frames once, in order (``detect_faces`` takes chunks, e.g. from ``video_io.iter_video``), and keeps
only boxes, landmarks and transforms: the crop record (``records.FaceCropRecord``).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError, NoFaceError, SVFRWarning
from . import framing
from .frames import FrameSource, check_cancel
from .official_crop import OFFICIAL_SAMPLE_EVERY, box_to_crop_affine, official_box
from .options import MODES
from .records import FaceCropRecord, FaceTrack
from .reid import describers_for, link_pieces, rejoin_tracks
from .track import RawTrack, fill_track, link_detections

DEFAULT_SMOOTHING = 2.0  # Gaussian sigma in frames of the zero-lag transform smoothing
DEFAULT_MIN_FACE = 16  # px, shorter side of the detector box in the original frame
DEFAULT_MAX_GAP = 12  # frames without a detection that are still interpolated
MIN_DETECTIONS = 3  # searched frames a face must be found on (fewer if the clip has fewer)
CUT_JUMP = 0.35  # framing-centre jump between consecutive frames, in face sizes, treated as a cut
CUT_ZOOM = 1.3  # frame-to-frame scale ratio treated as a cut


def _parse_faces(faces) -> str | int:
    if isinstance(faces, (int, np.integer)) and not isinstance(faces, bool):
        if faces < 0:
            raise InputError(f"faces={faces}: a face index must be >= 0 (0 = largest)")
        return int(faces)
    if isinstance(faces, str):
        key = faces.strip().lower()
        if key in ("largest", "all"):
            return key
        if key.isdigit():
            return int(key)
    raise InputError(f"faces must be 'largest', 'all' or a face index (0 = largest), got {faces!r}")


def _detect(detector, image_u8, max_side):
    det = detector.detect(image_u8, max_side=max_side)
    boxes = np.asarray(det.boxes, dtype=np.float64).reshape(-1, 4)
    lms = np.asarray(det.landmarks, dtype=np.float64).reshape(-1, 5, 2)
    scores = np.asarray(det.scores, dtype=np.float64).reshape(-1)
    return boxes, lms, scores


def official_max_face(boxes: np.ndarray) -> int:
    """The face the official ``AlignImage(maxface=True)`` returns, quirk included (spec 5.1).

    Its loop never updates ``max_area``, so it returns the LAST face whose area exceeds the first
    (highest-score) face's area, else face 0.
    """
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    pick = 0
    for i in range(len(boxes)):
        if areas[i] > areas[0]:
            pick = i
    return pick


def _check_params(mode, faces, size, detect_every, max_gap, smoothing, min_face):
    if mode not in MODES:
        raise InputError(f"mode must be one of {MODES}, got {mode!r}")
    sel = _parse_faces(faces)
    if int(size) < 16:
        raise InputError(f"size={size}: the crop size must be at least 16 pixels (SVFR uses 512)")
    if int(detect_every) < 1:
        raise InputError(f"detect_every={detect_every}: must be >= 1 (1 = detect on every frame)")
    if max_gap < 0 or smoothing < 0 or min_face < 0:
        raise InputError("max_gap, smoothing and min_face must be >= 0")
    return sel


@dataclass
class FaceDetections:
    """Raw detector output of a video: {frame: (boxes, landmarks, scores)} for the searched frames.

    descriptors: {describer name: {frame: (K, D) float16 vectors}} for re-joining a person's track pieces
    (``reid``); describers: the describers that made them, in order of preference.
    """
    detections: dict
    searched: list[int]
    n_frames: int
    frame_size: tuple[int, int]
    descriptors: dict = field(default_factory=dict)
    describers: tuple = ()


def detect_faces(chunks, detector, *, mode: str = "tracked", detect_every: int = 1,
                 max_side: int | None = 640, total: int | None = None, progress=None,
                 cancel=None, reid="off") -> FaceDetections:
    """Run the detector on the frames ``crop_faces`` searches, reading ``chunks`` (an iterable of
    (m, H, W, C) frame arrays, e.g. ``video_io.iter_video``) once, in order: every
    ``detect_every``-th frame and the last (official mode: every 5th). ``progress(done, total)``
    counts searched frames (``total`` as given, may be None). ``reid``: describe each found face too
    (``reid.describers_for``; tracked mode only) so a person's track can be re-joined after an absence."""
    if detector is None or not hasattr(detector, "detect"):
        raise InputError("detector must be a face detector (svfr_model.faces.detect.load_detector())")
    if mode not in MODES:
        raise InputError(f"mode must be one of {MODES}, got {mode!r}")
    every = OFFICIAL_SAMPLE_EVERY if mode == "official" else int(detect_every)
    if every < 1:
        raise InputError(f"detect_every={detect_every}: must be >= 1 (1 = detect on every frame)")
    describers = describers_for(reid) if mode == "tracked" else ()
    descriptors: dict[str, dict[int, np.ndarray]] = {d.name: {} for d in describers}
    detections: dict[int, tuple] = {}
    searched: list[int] = []
    n, hw, last = 0, None, None

    def run(f, image):
        check_cancel(cancel)
        boxes, lms, scores = _detect(detector, image, max_side)
        if len(boxes):
            detections[f] = (boxes, lms, scores)
            for d in describers:
                if len(searched) % d.every == 0:  # every n-th searched frame (also with detect_every)
                    descriptors[d.name][f] = np.asarray(d(image, lms), np.float16)  # half: stored per frame
        searched.append(f)
        if progress is not None:
            progress(len(searched), total)

    for chunk in chunks:
        src = chunk if isinstance(chunk, FrameSource) else FrameSource(chunk)
        if hw is None:
            hw = (src.h, src.w)
        elif (src.h, src.w) != hw:
            raise InputError(f"frame {n} is {src.w}x{src.h} but the video is {hw[1]}x{hw[0]}; "
                             "all frames must have the same size")
        for k in range(len(src)):
            if (n + k) % every == 0:
                run(n + k, src.uint8_rgb(k))
        last = src.uint8_rgb(len(src) - 1)
        n += len(src)
    if n == 0:
        raise InputError("the video has no frames")
    if mode != "official" and searched[-1] != n - 1:
        run(n - 1, last)  # the last frame anchors the end of every track
    return FaceDetections(detections, searched, n, hw, descriptors, describers)


def plan_crops(frames, detector, *, mode: str = "tracked", faces="largest", size: int = 512,
               detect_every: int = 1, max_side: int | None = 640, smoothing: float = DEFAULT_SMOOTHING,
               rotate: bool = False, min_face: float = DEFAULT_MIN_FACE, max_gap: int = DEFAULT_MAX_GAP,
               allow_no_face: bool = False, reid="appearance", progress=None, cancel=None) -> FaceCropRecord:
    """The detection and tracking half of :func:`crop_faces`: the record, without cropping pixels."""
    _check_params(mode, faces, size, detect_every, max_gap, smoothing, min_face)
    src = frames if isinstance(frames, FrameSource) else FrameSource(frames)
    n = len(src)
    every = OFFICIAL_SAMPLE_EVERY if mode == "official" else int(detect_every)
    total = len(set(range(0, n, every)) | ({n - 1} if mode != "official" else set()))
    found = detect_faces([src], detector, mode=mode, detect_every=detect_every, max_side=max_side,
                         total=total, progress=progress, cancel=cancel, reid=reid)
    return plan_from_detections(found, mode=mode, faces=faces, size=size, detect_every=detect_every,
                                smoothing=smoothing, rotate=rotate, min_face=min_face, max_gap=max_gap,
                                allow_no_face=allow_no_face)


def plan_from_detections(found: FaceDetections, *, mode: str = "tracked", faces="largest", size: int = 512,
                         detect_every: int = 1, smoothing: float = DEFAULT_SMOOTHING, rotate: bool = False,
                         min_face: float = DEFAULT_MIN_FACE, max_gap: int = DEFAULT_MAX_GAP,
                         allow_no_face: bool = False) -> FaceCropRecord:
    """Tracks, selection and per-frame crop transforms from :func:`detect_faces` output."""
    sel = _check_params(mode, faces, size, detect_every, max_gap, smoothing, min_face)
    size = int(size)
    n, (H, W) = found.n_frames, found.frame_size
    detections, keyframes = found.detections, found.searched
    if mode == "official":
        gap = max(int(max_gap), OFFICIAL_SAMPLE_EVERY - 1)
    else:
        gap = max(int(max_gap), int(detect_every) - 1)

    record = FaceCropRecord((H, W), n, size, mode)
    reid = mode == "tracked" and bool(found.describers)
    # With describers, a long absence always ends a piece; rejoin_tracks then decides who came back.
    raw = (link_pieces(detections, found.descriptors, found.describers, max_gap=gap) if reid
           else link_detections(detections, max_gap=gap))
    usable: list[RawTrack] = []
    # A face must be seen on a few keyframes: single-frame detections are mostly false positives.
    need = min(MIN_DETECTIONS, len(keyframes))
    for t in raw:
        if t.median_size < min_face:
            record.skipped.append(f"face of {t.median_size:.0f} px (< min_face {min_face:g} px) in frames "
                                  f"{t.frames[0]}-{t.frames[-1]}: too small to restore")
        elif len(t.frames) < need:
            record.skipped.append(f"face seen on only {len(t.frames)} searched frame(s) ({t.frames[0]}-"
                                  f"{t.frames[-1]}; {need} needed): likely a false detection")
        else:
            usable.append(t)
    if reid and len(usable) > 1:
        usable, joined = rejoin_tracks(usable, found.descriptors, found.describers)
        record.joined.extend(str(j) for j in joined)
    # Largest first: mean box area weighted by how much of the video the face is in.
    usable.sort(key=lambda t: -t.mean_area * len(t.frames))

    if not usable:
        what = "no face found" if not raw else "no usable face found (" + "; ".join(record.skipped) + ")"
        # a template: each front end names the options its own way (or leaves out a hint it has no option for)
        err = NoFaceError.naming(
            f"{what} in the {n} frame(s) ({len(keyframes)} searched, {W}x{H}): check that the video shows a face "
            f"of at least {min_face:g} px",
            "try {max_side=None} (detect at full resolution) or a smaller {min_face}",
            "set {allow_no_face=True} to return the frames untouched")
        if not allow_no_face:
            raise err
        record.skipped.append(str(err))
        return record

    if sel == "all":
        chosen = usable
    else:
        idx = 0 if sel == "largest" else sel
        if idx >= len(usable):
            raise InputError.naming(f"{{faces={sel!r}}}: only {len(usable)} face track(s) found (indices "
                                    f"0..{len(usable) - 1}, 0 = largest)", "{faces='all'} restores every face")
        chosen = [usable[idx]]
        for j, t in enumerate(usable):
            if j != idx:
                record.skipped.append(f"face track {j} (frames {t.frames[0]}-{t.frames[-1]}) not selected "
                                      f"(faces={faces!r})")

    if mode == "official":
        if sel == "largest":
            # Exactly the official selection: the quirky max face on every sampled frame, whatever the track.
            picked = [detections[f][0][official_max_face(detections[f][0])] for f in sorted(detections)]
            box = official_box(picked, H, W)
            record.tracks = [_official_track(chosen[0], box, n, size)]
        else:
            record.tracks = [_official_track(t, official_box(t.boxes, H, W), n, size)
                             for t in chosen]
    else:
        record.tracks = [_tracked_track(t, gap, size, rotate, smoothing) for t in chosen]
    warn_lost_faces(record, gap)
    return record


def lost_spans(frame_indices, longer_than: int) -> list[tuple[int, int]]:
    """(first, last) frames of each run of more than ``longer_than`` frames missing inside a track."""
    f = np.asarray(frame_indices, np.int64)
    jumps = np.nonzero(np.diff(f) > longer_than + 1)[0]
    return [(int(f[j]) + 1, int(f[j + 1]) - 1) for j in jumps]


def warn_lost_faces(record: FaceCropRecord, gap: int) -> None:
    """A warning per absence longer than the gap bridged: those frames are left as they were. The user
    should know (the face may have been there but not detected: a lower min_face or detection at full
    resolution finds more)."""
    for k, t in enumerate(record.tracks):
        for a, b in lost_spans(t.frame_indices, gap):
            warnings.warn(SVFRWarning(f"face track {k} was not found in frames {a}-{b} ({b - a + 1} frames, more "
                                      f"than the {gap} bridged): they are left unrestored",
                                      "try {max_side=None} or a smaller {min_face} if the face is there"),
                          stacklevel=3)


def _to_index(pts):
    return np.asarray(pts, dtype=np.float64) - 0.5  # detector (continuous) -> cv2 pixel-index coordinates


def _map_landmarks(M, lm_cont):
    """Continuous-coordinate landmarks through a pixel-index transform, back to continuous."""
    p = _to_index(lm_cont)
    return p @ M[:, :2].T + M[:, 2] + 0.5


def _tracked_track(t: RawTrack, gap: int, size: int, rotate: bool, smoothing: float) -> FaceTrack:
    frames, mats, lms, interp = [], [], [], []
    for seg_frames, seg_lm, _seg_box, seg_interp in fill_track(t, gap):
        seg_mats = np.stack([framing.fit_transform(_to_index(lm), size, rotate) for lm in seg_lm])
        # Smooth each shot separately: averaging across a cut would misframe the frames around it.
        parts = [framing.smooth_transforms(seg_mats[a:b], size, smoothing) for a, b in _shots(seg_mats, size)]
        seg_mats = np.concatenate(parts)
        frames.append(seg_frames)
        mats.append(seg_mats)
        lms.append(np.stack([_map_landmarks(M, lm) for M, lm in zip(seg_mats, seg_lm)]))
        interp.append(seg_interp)
    return FaceTrack(np.concatenate(frames).astype(np.int64), np.concatenate(mats), np.concatenate(lms),
                     np.concatenate(interp))


def _shots(mats: np.ndarray, size: int) -> list[tuple[int, int]]:
    """Index ranges between framing jumps (cuts): centre moves > CUT_JUMP face sizes or zoom > CUT_ZOOM."""
    p = np.stack([framing.to_params(M, size) for M in mats])
    face = size / np.exp(p[:, 0]) / 1.8  # the official crop spans 1.8 face-box widths
    jump = np.linalg.norm(np.diff(p[:, 2:], axis=0), axis=1) / face[1:]
    zoom = np.abs(np.diff(p[:, 0]))
    cuts = np.nonzero((jump > CUT_JUMP) | (zoom > np.log(CUT_ZOOM)))[0] + 1
    bounds = [0, *cuts.tolist(), len(mats)]
    return list(zip(bounds[:-1], bounds[1:]))


def _official_track(t: RawTrack, box, n: int, size: int) -> FaceTrack:
    """Static official box for all frames; landmarks interpolated between the sampled detections."""
    M = box_to_crop_affine(box, size)
    frames = np.arange(n)
    det_frames = np.asarray(t.frames)
    flat = np.asarray(t.landmarks).reshape(len(det_frames), -1)
    lm = np.stack([np.interp(frames, det_frames, flat[:, k]) for k in range(10)], axis=1).reshape(n, 5, 2)
    return FaceTrack(frames.astype(np.int64), np.repeat(M[None], n, axis=0),
                     np.stack([_map_landmarks(M, p) for p in lm]), ~np.isin(frames, det_frames))
