"""Pass 2a of the face pipeline: crop each frame for every track of a record (in chunks for long videos),
and ``crop_faces``, both passes over an in-memory clip."""
from __future__ import annotations

import numpy as np
import torch

from . import framing
from .frames import FrameSource, check_cancel
from .plan import DEFAULT_MAX_GAP, DEFAULT_MIN_FACE, DEFAULT_SMOOTHING, plan_crops
from .records import FaceCropRecord, FaceCrops, frame_index


def crop_faces(frames, detector, *, mode: str = "tracked", faces="largest", size: int = 512,
               detect_every: int = 1, max_side: int | None = 640, smoothing: float = DEFAULT_SMOOTHING,
               rotate: bool = False, min_face: float = DEFAULT_MIN_FACE, max_gap: int = DEFAULT_MAX_GAP,
               allow_no_face: bool = False, reid="appearance", progress=None, cancel=None) -> FaceCrops:
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
    reid: how a face that left for longer than max_gap is recognised when it comes back, so one person is
        one track: "appearance" (no model), "off" (only where it left), or describers such as
        ``faces.reid.ArcFaceDescriber``.
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
                        max_gap=max_gap, allow_no_face=allow_no_face, reid=reid, progress=detect_progress,
                        cancel=cancel)
    total = n_key[0] + len(src)

    def crop_progress(done, _total):
        if progress is not None:
            progress(n_key[0] + done, total)

    crops = extract_crops(src, record, 0, len(src), progress=crop_progress, cancel=cancel)
    return FaceCrops([torch.from_numpy(c) for c in crops], record)


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
    by_frame = frame_index(record)
    for f in range(start, stop):
        if f in by_frame:
            check_cancel(cancel)
            frame = src.native_rgb(f - offset)
            for ti, k in by_frame[f]:
                crops[ti][k - pos[ti][0]] = crop_frame(frame, record.tracks[ti].transforms[k], size, record.mode)
        if progress is not None:
            progress(f - start + 1, stop - start)
    return crops
