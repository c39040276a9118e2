"""Face crops for the model and paste-back into the original video: the public face-pipeline API.

    crops = crop_faces(frames, detector, mode="tracked", faces="all")   # FaceCrops
    restored = [model(c) for c in crops.crops]                           # each (n_i, 512, 512, 3)
    out = paste_faces(frames, restored, crops.record, color_match="lab")

``frames`` is ComfyUI's IMAGE layout: float (N, H, W, C) in 0..1 (torch or numpy; uint8 accepted;
grayscale / RGBA handled). Frames are converted one at a time, so a long video is never copied whole.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import Cancelled, InputError, NoFaceError
from . import framing
from .arrays import as_unit_float
from .color import COLOR_MODES, apply_lab, lab_stats, match_color
from .masks import DEFAULT_ERODE, DEFAULT_FEATHER, paste_mask
from .official_crop import OFFICIAL_SAMPLE_EVERY, box_to_crop_affine, official_box
from .paste import paste_one
from .track import RawTrack, fill_track, link_detections

MODES = ("tracked", "official")
DEFAULT_SMOOTHING = 2.0  # Gaussian sigma in frames of the zero-lag transform smoothing
DEFAULT_MIN_FACE = 16  # px, shorter side of the detector box in the original frame
DEFAULT_MAX_GAP = 12  # frames without a detection that are still interpolated
COLOR_SMOOTHING = 3.0  # frames (sigma) over which colour-match statistics are smoothed
MIN_DETECTIONS = 3  # searched frames a face must be found on (fewer if the clip has fewer)
CUT_JUMP = 0.35  # framing-centre jump between consecutive frames, in face sizes, treated as a cut
CUT_ZOOM = 1.3  # frame-to-frame scale ratio treated as a cut


# ----------------------------------------------------------------------------------------- records
@dataclass
class FaceTrack:
    """One face through the video.

    frame_indices: (n_i,) int, ascending (not necessarily contiguous: long gaps are left out);
    transforms: (n_i, 2, 3) frame->crop affine (cv2 pixel-index convention);
    landmarks: (n_i, 5, 2) in crop pixels (detector convention: pixel i spans [i, i+1));
    interpolated: (n_i,) bool, True where no detection was made on that frame.
    """
    frame_indices: np.ndarray
    transforms: np.ndarray
    landmarks: np.ndarray
    interpolated: np.ndarray

    def to_dict(self) -> dict:
        return {"frame_indices": self.frame_indices.astype(int).tolist(),
                "transforms": np.round(self.transforms, 9).tolist(),
                "landmarks": np.round(self.landmarks, 4).tolist(),
                "interpolated": self.interpolated.astype(bool).tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "FaceTrack":
        n = len(d["frame_indices"])
        return cls(np.asarray(d["frame_indices"], dtype=np.int64).reshape(n),
                   np.asarray(d["transforms"], dtype=np.float64).reshape(n, 2, 3),
                   np.asarray(d["landmarks"], dtype=np.float64).reshape(n, 5, 2),
                   np.asarray(d["interpolated"], dtype=bool).reshape(n))


@dataclass
class FaceCropRecord:
    """Everything paste-back needs: frame size, crop size, per-track frames and transforms."""
    frame_size: tuple[int, int]
    n_frames: int
    size: int
    mode: str
    tracks: list[FaceTrack] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"format": "svfr-face-crops", "version": 1,
                           "frame_size": list(self.frame_size), "n_frames": self.n_frames, "size": self.size,
                           "mode": self.mode, "skipped": list(self.skipped),
                           "tracks": [t.to_dict() for t in self.tracks]})

    @classmethod
    def from_json(cls, text: str) -> "FaceCropRecord":
        try:
            d = json.loads(text)
            if d.get("format") != "svfr-face-crops":
                raise ValueError("not a face crop record")
            return cls(tuple(int(v) for v in d["frame_size"]), int(d["n_frames"]), int(d["size"]), str(d["mode"]),
                       [FaceTrack.from_dict(t) for t in d["tracks"]], list(d.get("skipped", [])))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"face crop record is not valid ({exc}); pass the JSON written by crop_faces "
                             "/ `python -m svfr_model crop`") from exc


@dataclass
class FaceCrops:
    crops: list[torch.Tensor]  # one (n_i, size, size, 3) float32 0..1 per track
    record: FaceCropRecord


# ----------------------------------------------------------------------------------------- frames
class FrameSource:
    """Random access to frames as float32 (H, W, 3) RGB in 0..1 without copying the whole video."""

    def __init__(self, frames, name: str = "frames"):
        if isinstance(frames, torch.Tensor):
            frames = frames.detach().cpu()
            frames = frames.numpy() if frames.dtype != torch.bfloat16 else frames.float().numpy()
        elif isinstance(frames, (list, tuple)):
            frames = np.stack([np.asarray(f) for f in frames]) if len(frames) else np.zeros((0, 1, 1, 3))
        arr = np.asarray(frames)
        if arr.ndim == 3 and arr.shape[-1] in (1, 3, 4):
            arr = arr[None]  # one (H, W, C) image
        elif arr.ndim == 3:
            arr = arr[..., None]  # (N, H, W) grayscale
        if arr.ndim != 4 or arr.shape[-1] not in (1, 3, 4):
            raise InputError(f"{name} must be (N, H, W, C) with C = 1 (gray), 3 (RGB) or 4 (RGBA), "
                             f"got shape {tuple(arr.shape)}")
        if arr.shape[0] == 0:
            raise InputError(f"{name} is empty (0 frames); pass at least one frame")
        if arr.shape[1] < 8 or arr.shape[2] < 8:
            raise InputError(f"{name} are {arr.shape[2]}x{arr.shape[1]} pixels; faces need frames of at least 8x8")
        if not (arr.dtype == np.uint8 or np.issubdtype(arr.dtype, np.floating)):
            raise InputError(f"{name} have dtype {arr.dtype}; pass float 0..1 or uint8 0..255")
        self.arr = arr
        self.n, self.h, self.w = arr.shape[0], arr.shape[1], arr.shape[2]

    def __len__(self) -> int:
        return self.n

    def float_rgb(self, i: int) -> np.ndarray:
        f = self.arr[i]
        f = f.astype(np.float32) / 255.0 if f.dtype == np.uint8 else np.clip(f.astype(np.float32, copy=False), 0, 1)
        if f.shape[-1] == 1:
            f = np.repeat(f, 3, axis=-1)
        elif f.shape[-1] == 4:
            f = f[..., :3]
        return np.ascontiguousarray(f)

    def float_rgb_into(self, i: int, dst: np.ndarray) -> None:
        """Like :meth:`float_rgb`, written into ``dst`` (H, W, 3) float32 without temporaries."""
        f = self.native_rgb(i)
        if f.dtype == np.uint8:
            np.divide(f, np.float32(255.0), out=dst)
        else:
            np.clip(f, 0.0, 1.0, out=dst)

    def native_rgb(self, i: int) -> np.ndarray:
        """uint8 or float32 (H, W, 3), without copying when the frame already is that."""
        f = self.arr[i]
        if f.dtype != np.uint8 and f.dtype != np.float32:
            f = f.astype(np.float32)
        if f.shape[-1] == 1:
            f = np.repeat(f, 3, axis=-1)
        elif f.shape[-1] == 4:
            f = f[..., :3]
        return f

    def uint8_rgb(self, i: int) -> np.ndarray:
        f = self.arr[i]
        if f.dtype != np.uint8:
            f = (np.clip(f.astype(np.float32, copy=False), 0, 1) * 255.0 + 0.5).astype(np.uint8)
        if f.shape[-1] == 1:
            f = np.repeat(f, 3, axis=-1)
        elif f.shape[-1] == 4:
            f = f[..., :3]
        return np.ascontiguousarray(f)


def _check_cancel(cancel) -> None:
    if cancel is not None and cancel():
        raise Cancelled("face cropping was cancelled")


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


# ----------------------------------------------------------------------------------------- crop
def crop_faces(frames, detector, *, mode: str = "tracked", faces="largest", size: int = 512,
               detect_every: int = 1, max_side: int | None = 640, smoothing: float = DEFAULT_SMOOTHING,
               rotate: bool = False, min_face: float = DEFAULT_MIN_FACE, max_gap: int = DEFAULT_MAX_GAP,
               allow_no_face: bool = False, progress=None, cancel=None) -> FaceCrops:
    """Detect, track and crop faces to size x size sequences (see module docstring).

    mode: "tracked" (per-frame 5-point framing, smoothed) or "official" (SVFR's static union box).
    faces: "largest", "all", or an index into the tracks sorted by size (0 = largest).
    detect_every: run the detector on every k-th frame only (and the last); landmarks in between
        are interpolated. max_side: detect on a copy downscaled to this longer side (None = full).
    smoothing: temporal Gaussian sigma in frames (0 = off). rotate: roll-align faces (default upright).
    min_face: faces whose median box side is below this many pixels are skipped (see record.skipped).
    max_gap: frames without a face that are interpolated; longer gaps are left out of the crops.
    allow_no_face: with no usable face return no crops (paste-back then returns the frames untouched)
        instead of raising NoFaceError.
    progress(done, total), cancel() -> bool: optional callbacks.
    """
    src = FrameSource(frames)
    n_key = [0]

    def detect_progress(done, total):
        n_key[0] = total
        if progress is not None:
            progress(done, total + len(src))

    record = plan_crops(src, detector, mode=mode, faces=faces, size=size, detect_every=detect_every,
                        max_side=max_side, smoothing=smoothing, rotate=rotate, min_face=min_face,
                        max_gap=max_gap, allow_no_face=allow_no_face, progress=detect_progress, cancel=cancel)
    total = n_key[0] + len(src)

    def crop_progress(done, _total):
        if progress is not None:
            progress(n_key[0] + done, total)

    crops = extract_crops(src, record, 0, len(src), progress=crop_progress, cancel=cancel)
    return FaceCrops([torch.from_numpy(c) for c in crops], record)


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
    """Raw detector output of a video: {frame: (boxes, landmarks, scores)} for the searched frames."""
    detections: dict
    searched: list[int]
    n_frames: int
    frame_size: tuple[int, int]


def detect_faces(chunks, detector, *, mode: str = "tracked", detect_every: int = 1,
                 max_side: int | None = 640, total: int | None = None, progress=None,
                 cancel=None) -> FaceDetections:
    """Run the detector on the frames ``crop_faces`` searches, reading ``chunks`` (an iterable of
    (m, H, W, C) frame arrays, e.g. ``video_io.iter_video``) once, in order: every
    ``detect_every``-th frame and the last (official mode: every 5th). ``progress(done, total)``
    counts searched frames (``total`` as given, may be None)."""
    if detector is None or not hasattr(detector, "detect"):
        raise InputError("detector must be a face detector (svfr_model.faces.detect.load_detector())")
    if mode not in MODES:
        raise InputError(f"mode must be one of {MODES}, got {mode!r}")
    every = OFFICIAL_SAMPLE_EVERY if mode == "official" else int(detect_every)
    if every < 1:
        raise InputError(f"detect_every={detect_every}: must be >= 1 (1 = detect on every frame)")
    detections: dict[int, tuple] = {}
    searched: list[int] = []
    n, hw, last = 0, None, None

    def run(f, image):
        _check_cancel(cancel)
        boxes, lms, scores = _detect(detector, image, max_side)
        if len(boxes):
            detections[f] = (boxes, lms, scores)
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
    return FaceDetections(detections, searched, n, hw)


def plan_crops(frames, detector, *, mode: str = "tracked", faces="largest", size: int = 512,
               detect_every: int = 1, max_side: int | None = 640, smoothing: float = DEFAULT_SMOOTHING,
               rotate: bool = False, min_face: float = DEFAULT_MIN_FACE, max_gap: int = DEFAULT_MAX_GAP,
               allow_no_face: bool = False, progress=None, cancel=None) -> FaceCropRecord:
    """The detection and tracking half of :func:`crop_faces`: the record, without cropping pixels."""
    _check_params(mode, faces, size, detect_every, max_gap, smoothing, min_face)
    src = frames if isinstance(frames, FrameSource) else FrameSource(frames)
    n = len(src)
    every = OFFICIAL_SAMPLE_EVERY if mode == "official" else int(detect_every)
    total = len(set(range(0, n, every)) | ({n - 1} if mode != "official" else set()))
    found = detect_faces([src], detector, mode=mode, detect_every=detect_every, max_side=max_side,
                         total=total, progress=progress, cancel=cancel)
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
    raw = link_detections(detections, max_gap=gap)
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
    # Largest first: mean box area weighted by how much of the video the face is in.
    usable.sort(key=lambda t: -t.mean_area * len(t.frames))

    if not usable:
        what = "no face found" if not raw else "no usable face found (" + "; ".join(record.skipped) + ")"
        msg = (f"{what} in the {n} frame(s) ({len(keyframes)} searched, {W}x{H}). Check that the video "
               f"shows a face of at least {min_face:g} px; try max_side=None (detect at full resolution) or a "
               "smaller min_face; or set allow_no_face=True to return the frames untouched.")
        if not allow_no_face:
            raise NoFaceError(msg)
        record.skipped.append(msg)
        return record

    if sel == "all":
        chosen = usable
    else:
        idx = 0 if sel == "largest" else sel
        if idx >= len(usable):
            raise InputError(f"faces={sel}: only {len(usable)} face track(s) found (indices 0..{len(usable) - 1}, "
                             "0 = largest); use faces='all' to restore every face")
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
    return record


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


def _frame_index(record: FaceCropRecord) -> dict[int, list[tuple[int, int]]]:
    """frame -> [(track, position in track)]"""
    by_frame: dict[int, list[tuple[int, int]]] = {}
    for ti, tr in enumerate(record.tracks):
        for k, f in enumerate(tr.frame_indices):
            by_frame.setdefault(int(f), []).append((ti, k))
    return by_frame


def crop_frame(frame: np.ndarray, M: np.ndarray, size: int, mode: str) -> np.ndarray:
    """The float32 0..1 crop of one RGB frame (uint8 or float) for a record transform.

    tracked: bicubic warp (uint8 frames are warped as uint8, 3x faster, then scaled);
    official: the integer box cropped, then PIL's bicubic resize (the official preprocessing).
    """
    if mode == "official":
        return _official_resize(frame, M, size)
    crop = framing.warp_to_crop(frame, M, size)
    if crop.dtype == np.uint8:
        return crop.astype(np.float32) * np.float32(1 / 255)
    return np.clip(crop, 0.0, 1.0)


def _official_resize(frame: np.ndarray, M: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    k = M[0, 0]
    side = size / k
    x1 = (0.5 - (M[0, 2] + 0.5) / k)
    y1 = (0.5 - (M[1, 2] + 0.5) / M[1, 1])
    bx1, by1 = int(round(x1)), int(round(y1))
    bx2, by2 = int(round(x1 + side)), int(round(y1 + side))
    H, W = frame.shape[:2]
    # Only the box is converted; PIL's crop pads outside the image with 0 (the box is inside for
    # the official crop).
    roi = frame[max(by1, 0):min(by2, H), max(bx1, 0):min(bx2, W)]
    roi = roi.astype(np.float32) / 255.0 if roi.dtype == np.uint8 else roi.astype(np.float32, copy=False)
    box = (bx1 - max(bx1, 0), by1 - max(by1, 0), bx2 - max(bx1, 0), by2 - max(by1, 0))
    out = np.empty((size, size, 3), np.float32)
    for c in range(3):
        # PIL's float mode keeps precision; BICUBIC with its antialiasing is the official resize.
        ch = Image.fromarray(np.ascontiguousarray(roi[:, :, c]), mode="F").crop(box)
        out[:, :, c] = np.asarray(ch.resize((size, size), Image.BICUBIC))
    return np.clip(out, 0, 1)


def extract_crops(frames, record: FaceCropRecord, start: int = 0, stop: int | None = None, *,
                  offset: int = 0, progress=None, cancel=None) -> list[np.ndarray]:
    """Crops of video frames [start, stop) for every track: list of (m_i, size, size, 3) float32
    arrays (m_i = the track's frames in that range), so long videos can be cropped in chunks.
    ``frames[0]`` is video frame ``offset`` (pass just the chunk with offset=start, or all frames)."""
    src = frames if isinstance(frames, FrameSource) else FrameSource(frames)
    stop = record.n_frames if stop is None else min(stop, record.n_frames)
    size = record.size
    pos = [np.searchsorted(t.frame_indices, [start, stop]) for t in record.tracks]
    crops = [np.empty((int(b - a), size, size, 3), np.float32) for a, b in pos]
    by_frame = _frame_index(record)
    for f in range(start, stop):
        if f in by_frame:
            _check_cancel(cancel)
            frame = src.native_rgb(f - offset)
            for ti, k in by_frame[f]:
                crops[ti][k - pos[ti][0]] = crop_frame(frame, record.tracks[ti].transforms[k], size, record.mode)
        if progress is not None:
            progress(f - start + 1, stop - start)
    return crops


def record_slice(record: FaceCropRecord, start: int, stop: int) -> tuple[FaceCropRecord, list[slice]]:
    """The record for video frames [start, stop) (frame indices shifted to start at 0), and per track
    the slice of its crop sequence those frames use: paste a long video chunk by chunk with
    ``paste_faces(frames[start:stop], [r[s] for r, s in zip(restored, slices)], sub_record)``."""
    stop = min(stop, record.n_frames)
    tracks, slices = [], []
    for t in record.tracks:
        a, b = (int(v) for v in np.searchsorted(t.frame_indices, [start, stop]))
        tracks.append(FaceTrack(t.frame_indices[a:b] - start, t.transforms[a:b], t.landmarks[a:b],
                                t.interpolated[a:b]))
        slices.append(slice(a, b))
    sub = FaceCropRecord(record.frame_size, stop - start, record.size, record.mode, tracks, list(record.skipped))
    return sub, slices


# ----------------------------------------------------------------------------------------- paste
def _scaled_transform(M: np.ndarray, size: int, new_size: int) -> np.ndarray:
    """Transform for the same crop resized from size to new_size (pixel-centre convention)."""
    if new_size == size:
        return M
    r = new_size / size
    S = np.array([[r, 0, 0.5 * r - 0.5], [0, r, 0.5 * r - 0.5]])
    return S[:, :2] @ M + np.concatenate([np.zeros((2, 2)), S[:, 2:]], axis=1)


def _as_crop_array(x, name: str) -> np.ndarray:
    arr = as_unit_float(x)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3) or arr.shape[1] != arr.shape[2]:
        raise InputError(f"{name} must be (n, S, S, 3) square crops, got shape {tuple(arr.shape)}")
    return arr


def _mask_for(cache: dict, s: int, record, erode, feather, shape) -> np.ndarray:
    if s not in cache:
        r = s / record.size
        cache[s] = paste_mask(s, erode * r, feather * r, shape)
    return cache[s]


def _smoothed_lab_stats(src: "FrameSource", arrs, record, masks_for) -> list[np.ndarray]:
    """Per track and frame the Lab statistics for colour matching, smoothed over time.

    Matching each frame on its own would copy the original's frame-to-frame colour noise (LQ
    compression, flicker) into the restored face; the zero-lag smoother keeps real changes.
    """
    stats = [np.zeros((len(t.frame_indices), 4, 3)) for t in record.tracks]
    by_frame = _frame_index(record)
    for f in sorted(by_frame):
        frame = src.float_rgb(f)
        for ti, k in by_frame[f]:
            crop = np.ascontiguousarray(arrs[ti][k], dtype=np.float32)
            s = crop.shape[0]
            M = _scaled_transform(record.tracks[ti].transforms[k], record.size, s)
            stats[ti][k] = lab_stats(crop, crop_frame(frame, M, s, record.mode), masks_for(s))
    out = []
    for t, st in zip(record.tracks, stats):
        sm = np.empty_like(st)
        # smooth within runs of consecutive frames (a long gap is a different shot)
        fr = np.asarray(t.frame_indices)
        bounds = [0, *(np.nonzero(np.diff(fr) > 1)[0] + 1).tolist(), len(fr)]
        for a, b in zip(bounds[:-1], bounds[1:]):
            sm[a:b] = framing.smooth_series(st[a:b].reshape(b - a, -1), COLOR_SMOOTHING).reshape(b - a, 4, 3)
        sm[:, 1::2] = np.maximum(sm[:, 1::2], 0.0)  # standard deviations stay >= 0
        out.append(sm)
    return out


def paste_faces(frames, restored, record: FaceCropRecord, *, feather: float = DEFAULT_FEATHER,
                erode: float = DEFAULT_ERODE, color_match: str = "none", mask_shape: str = "square",
                return_mask: bool = False):
    """Compose restored crops back into the frames; returns (N, H, W, 3) float32 [, mask (N, H, W)].

    restored: one (n_i, S, S, 3) sequence per record track, in the record's order (S may differ
    from record.size: the transform is rescaled). feather / erode: blend ramp width and untouched
    border, in crop pixels at the record's crop size. color_match: "none", "lab" or "wavelet".
    Frames or pixels no track covers are returned bit-identical.
    """
    if not isinstance(record, FaceCropRecord):
        raise InputError("record must be the FaceCropRecord from crop_faces (or FaceCropRecord.from_json)")
    if color_match not in COLOR_MODES:
        raise InputError(f"color_match must be one of {COLOR_MODES}, got {color_match!r}")
    src = FrameSource(frames)
    if (src.h, src.w) != tuple(record.frame_size) or len(src) != record.n_frames:
        raise InputError(f"frames are {len(src)} x {src.w}x{src.h} but the crop record was made for "
                         f"{record.n_frames} x {record.frame_size[1]}x{record.frame_size[0]}; paste into the "
                         "same frames that were cropped")
    if isinstance(restored, torch.Tensor) and len(record.tracks) == 1 and restored.ndim == 4:
        restored = [restored]
    restored = list(restored)
    if len(restored) != len(record.tracks):
        raise InputError(f"got {len(restored)} restored crop sequence(s) for {len(record.tracks)} face track(s); "
                         "pass one per track, in the record's order")
    arrs = []
    for i, (r, t) in enumerate(zip(restored, record.tracks)):
        a = _as_crop_array(r, f"restored[{i}]")
        if a.shape[0] != len(t.frame_indices):
            raise InputError(f"restored[{i}] has {a.shape[0]} frames but face track {i} has "
                             f"{len(t.frame_indices)}; restore every crop frame of the track")
        if a.shape[-1] == 1:
            a = np.repeat(a, 3, axis=-1)
        arrs.append(a)
    masks = {}
    out = np.empty((src.n, src.h, src.w, 3), np.float32)
    out_mask = np.zeros((src.n, src.h, src.w), np.float32) if return_mask else None
    by_frame = _frame_index(record)
    lab = _smoothed_lab_stats(src, arrs, record, masks_for=lambda s: _mask_for(masks, s, record, erode, feather,
                                                                                mask_shape)) \
        if color_match == "lab" else None
    for f in range(src.n):
        frame = out[f]
        src.float_rgb_into(f, frame)
        for ti, k in by_frame.get(f, ()):
            crop = np.ascontiguousarray(arrs[ti][k], dtype=np.float32)
            s = crop.shape[0]
            M = _scaled_transform(record.tracks[ti].transforms[k], record.size, s)
            _mask_for(masks, s, record, erode, feather, mask_shape)
            if color_match == "lab":
                crop = apply_lab(crop, lab[ti][k])
            elif color_match != "none":
                original = crop_frame(frame, M, s, record.mode)
                crop = match_color(crop, original, color_match, masks[s])
            paste_one(frame, np.clip(crop, 0, 1), M, masks[s], None if out_mask is None else out_mask[f])
    result = torch.from_numpy(out)
    if return_mask:
        return result, torch.from_numpy(out_mask)
    return result
