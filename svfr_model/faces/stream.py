"""The face pipeline over a video file, never holding the clip: pass 1 detects and tracks (keeping only
boxes, landmarks, transforms and pts), pass 2 crops one track's frames on demand and, once every track is
restored, pastes all of them back in one pass over the frames.

Crops and pastes are the in-memory pipeline's own functions on the same uint8 frames, so the frames are
the ones ``crop_faces`` / ``paste_faces`` give for the whole clip in memory (colour matching "lab" too:
``lab_stats_video`` measures its statistics over the whole video first, in one more pass).
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from ..errors import InputError
from .crop import crop_frame
from .masks import warp_mask_to_crops
from .paste_back import chunk_lab_stats, paste_faces, smooth_lab_stats
from .plan import detect_faces, plan_from_detections
from .records import FaceCropRecord, FaceTrack, record_slice


def plan_video(chunks: Iterable[tuple[int, np.ndarray, list]], detector, *, total: int | None = None,
               progress=None, cancel=None, **plan_kwargs) -> tuple[FaceCropRecord, list]:
    """Pass 1 over ``video_io.iter_frames`` chunks: the crop record and every frame's pts (in order).

    plan_kwargs: ``plan_from_detections``'s (mode, faces, size, detect_every, smoothing, ...),
    ``max_side`` and ``reid`` (default "appearance": see ``faces.reid``). total: the expected number of searched frames for ``progress(done, total)`` (None:
    unknown). Only one chunk of pixels is held at a time.
    """
    pts: list = []

    def frames():
        for _start, chunk, chunk_pts in chunks:
            pts.extend(chunk_pts)
            yield chunk

    plan_kwargs.setdefault("reid", "appearance")
    detect_keys = ("mode", "detect_every", "max_side", "reid")
    found = detect_faces(frames(), detector, total=total, progress=progress, cancel=cancel,
                         **{k: plan_kwargs[k] for k in detect_keys if k in plan_kwargs})
    plan_kwargs.pop("max_side", None)
    plan_kwargs.pop("reid", None)
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


def _chunk_crops(record, slices, restored):
    return [restored(k, s.start, s.stop) if s.stop > s.start else np.zeros((0, record.size, record.size, 3),
                                                                           np.float32)
            for k, s in enumerate(slices)]


def lab_stats_video(chunks: Iterable[tuple[int, np.ndarray, list]], record: FaceCropRecord,
                    restored: Callable[[int, int, int], np.ndarray], *, cancel=None, **mask_kwargs) -> list:
    """The colour-match "lab" statistics of every track over the whole video (one pass over the frames),
    smoothed as ``paste_faces`` smooths them for a clip in memory; pass them to ``paste_video(lab_stats=)``.
    mask_kwargs: feather, erode, mask_shape (as for the paste)."""
    stats = [np.zeros((len(t.frame_indices), 4, 3)) for t in record.tracks]
    for start, chunk, _pts in chunks:
        if cancel is not None and cancel():
            from ..errors import Cancelled

            raise Cancelled("cancelled while measuring colours")
        sub, slices = record_slice(record, start, start + len(chunk))
        for k, part in enumerate(chunk_lab_stats(chunk, _chunk_crops(record, slices, restored), sub,
                                                 **mask_kwargs)):
            stats[k][slices[k]] = part
    return smooth_lab_stats(record, stats)


def paste_video(chunks: Iterable[tuple[int, np.ndarray, list]], record: FaceCropRecord,
                restored: Callable[[int, int, int], np.ndarray], write: Callable[[np.ndarray, list], None], *,
                lab_stats: list | None = None, progress=None, cancel=None, **paste_kwargs) -> int:
    """Pass 2b: for every chunk of frames, paste every track's restored crops and ``write(frames, pts)``.

    restored(k, start, stop): track k's restored crops at positions [start, stop), (m, S, S, 3) float 0..1,
    asked for in ascending order. paste_kwargs: ``paste_faces``'s (feather, erode, color_match, mask_shape).
    lab_stats: from ``lab_stats_video`` for color_match="lab" (else "lab" is smoothed within each chunk).
    Frames no track covers are written unchanged. Returns the number of frames written.
    """
    done = 0
    for start, chunk, pts in chunks:
        if cancel is not None and cancel():
            from ..errors import Cancelled

            raise Cancelled("cancelled while pasting the faces back")
        stop = start + len(chunk)
        sub, slices = record_slice(record, start, stop)
        lab = [x[s] for x, s in zip(lab_stats, slices)] if lab_stats is not None else None
        out = paste_faces(chunk, _chunk_crops(record, slices, restored), sub, lab_stats=lab, **paste_kwargs)
        write(out.numpy(), pts)
        done = stop
        if progress is not None:
            progress(done, record.n_frames)
    return done


__all__ = ["plan_video", "TrackCrops", "track_mask", "lab_stats_video", "paste_video"]
