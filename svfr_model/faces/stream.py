"""The face pipeline over a video file, never holding the clip: pass 1 detects and tracks (keeping only
boxes, landmarks, transforms and pts), pass 2 crops one track's frames on demand and, once every track is
restored, pastes all of them back in one pass over the frames.

Crops and pastes are the in-memory pipeline's own functions on the same uint8 frames, so the frames are
the ones ``crop_faces`` / ``paste_faces`` give for the whole clip in memory (colour matching "lab" aside:
its statistics are smoothed over time within each chunk here).
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from ..errors import InputError
from .crop import crop_frame
from .masks import warp_mask_to_crops
from .paste_back import paste_faces
from .plan import detect_faces, plan_from_detections
from .records import FaceCropRecord, FaceTrack, record_slice


def plan_video(chunks: Iterable[tuple[int, np.ndarray, list]], detector, *, total: int | None = None,
               progress=None, cancel=None, **plan_kwargs) -> tuple[FaceCropRecord, list]:
    """Pass 1 over ``video_io.iter_frames`` chunks: the crop record and every frame's pts (in order).

    plan_kwargs: ``plan_from_detections``'s (mode, faces, size, detect_every, smoothing, ...) and
    ``max_side``. total: the expected number of searched frames for ``progress(done, total)`` (None:
    unknown). Only one chunk of pixels is held at a time.
    """
    pts: list = []

    def frames():
        for _start, chunk, chunk_pts in chunks:
            pts.extend(chunk_pts)
            yield chunk

    detect_keys = ("mode", "detect_every", "max_side")
    found = detect_faces(frames(), detector, total=total, progress=progress, cancel=cancel,
                         **{k: plan_kwargs[k] for k in detect_keys if k in plan_kwargs})
    plan_kwargs.pop("max_side", None)
    return plan_from_detections(found, **plan_kwargs), pts


def _track_part(record: FaceCropRecord, k: int, start: int, stop: int) -> FaceCropRecord:
    """Track k's positions [start, stop) as a one-track record (frame indices kept)."""
    t = record.tracks[k]
    part = FaceTrack(t.frame_indices[start:stop], t.transforms[start:stop], t.landmarks[start:stop],
                     t.interpolated[start:stop])
    return FaceCropRecord(record.frame_size, record.n_frames, record.size, record.mode, [part])


class TrackCrops:
    """``crops(start, stop)``: the crops of track k's positions [start, stop), (m, S, S, 3) float32 0..1,
    read from ``reader`` (``video_io.FrameReader``) and cropped exactly as ``extract_crops`` does."""

    def __init__(self, reader, record: FaceCropRecord, k: int):
        self.reader, self.record, self.track = reader, record, record.tracks[k]

    def __len__(self) -> int:
        return len(self.track.frame_indices)

    def __call__(self, start: int, stop: int) -> np.ndarray:
        size = self.record.size
        out = np.empty((stop - start, size, size, 3), np.float32)
        for j, pos in enumerate(range(start, stop)):
            frame = self.reader.frame(int(self.track.frame_indices[pos]))
            out[j] = crop_frame(frame, self.track.transforms[pos], size, self.record.mode)
        return out


def track_mask(mask: np.ndarray, record: FaceCropRecord, k: int) -> Callable[[int, int], np.ndarray]:
    """Track k's crop-space masks for positions [start, stop), warped from one frame-space (H, W) mask."""
    if mask is None:
        return None
    if np.ndim(mask) != 2:
        raise InputError(f"a streamed video takes one (H, W) inpainting mask for all frames, got shape "
                         f"{np.shape(mask)}")
    return lambda start, stop: warp_mask_to_crops(mask, _track_part(record, k, start, stop))[0]


def paste_video(chunks: Iterable[tuple[int, np.ndarray, list]], record: FaceCropRecord,
                restored: Callable[[int, int, int], np.ndarray], write: Callable[[np.ndarray, list], None], *,
                progress=None, cancel=None, **paste_kwargs) -> int:
    """Pass 2b: for every chunk of frames, paste every track's restored crops and ``write(frames, pts)``.

    restored(k, start, stop): track k's restored crops at positions [start, stop), (m, S, S, 3) float 0..1,
    asked for in ascending order. paste_kwargs: ``paste_faces``'s (feather, erode, color_match, mask_shape).
    Frames no track covers are written unchanged. Returns the number of frames written.
    """
    done = 0
    for start, chunk, pts in chunks:
        if cancel is not None and cancel():
            from ..errors import Cancelled

            raise Cancelled("cancelled while pasting the faces back")
        stop = start + len(chunk)
        sub, slices = record_slice(record, start, stop)
        crops = [restored(k, s.start, s.stop) if s.stop > s.start else np.zeros((0, record.size, record.size, 3),
                                                                                 np.float32)
                 for k, s in enumerate(slices)]
        out = paste_faces(chunk, crops, sub, **paste_kwargs)
        write(out.numpy(), pts)
        done = stop
        if progress is not None:
            progress(done, record.n_frames)
    return done


__all__ = ["plan_video", "TrackCrops", "track_mask", "paste_video"]
