"""Link per-frame face detections into tracks, and fill the frames between detections.

Greedy matching by IoU (with a centre-distance fallback for small fast faces) against each
track's latest box. Within ``max_gap`` frames a track continues with any nearby face; after a longer absence
only a face reappearing at the same place continues it (else it starts a new track).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class RawTrack:
    """Detections of one face: frame indices (ascending) with their boxes, landmarks and scores.

    ids: each detection's row in its frame's detector output (to find its describer vectors). breaks: frames
    where a re-joined piece starts (``reid.rejoin_tracks``): never interpolated across.
    """
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    landmarks: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    breaks: set[int] = field(default_factory=set)

    def add(self, frame: int, box, lm, score, row: int = -1) -> None:
        self.frames.append(int(frame))
        self.boxes.append(np.asarray(box, dtype=np.float64))
        self.landmarks.append(np.asarray(lm, dtype=np.float64))
        self.scores.append(float(score))
        self.ids.append(int(row))

    @property
    def median_size(self) -> float:
        """Median of the shorter box side (pixels)."""
        b = np.asarray(self.boxes)
        return float(np.median(np.minimum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])))

    @property
    def mean_area(self) -> float:
        b = np.asarray(self.boxes)
        return float(np.mean((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between (n, 4) and (m, 4) xyxy boxes."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _affinity(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Match score: IoU, or for non-overlapping boxes a small score if the centres are within half a face."""
    iou = box_iou(prev, cur)
    pc = (prev[:, :2] + prev[:, 2:]) / 2
    cc = (cur[:, :2] + cur[:, 2:]) / 2
    size = np.sqrt(np.maximum((prev[:, 2] - prev[:, 0]) * (prev[:, 3] - prev[:, 1]), 1e-6))
    dist = np.linalg.norm(pc[:, None, :] - cc[None, :, :], axis=2) / size[:, None]
    near = np.where(dist < 0.5, 0.1 * (1 - dist / 0.5), 0.0)
    return np.maximum(iou, near)


def link_detections(detections: dict[int, tuple], *, max_gap: int, min_affinity: float = 0.1,
                    relink_iou: float | None = 0.3, vectors: dict[int, np.ndarray] | None = None,
                    switch_below: float = 0.0, window: int = 8) -> list[RawTrack]:
    """Tracks from ``{frame: (boxes (K,4), landmarks (K,5,2), scores (K,))}`` (frames need not be contiguous).

    A track unmatched for more than ``max_gap`` frames is continued only by a box overlapping its
    last one with IoU >= ``relink_iou``; :func:`fill_track` later splits it at such long gaps.
    ``relink_iou=None``: never continued (``reid.rejoin_tracks`` decides by how the face looks).
    vectors: ``{frame: (K, D)}`` unit appearance vectors of the detections; a detection whose vector has a
    dot product below ``switch_below`` with the mean of the track's last ``window`` vectors does not continue
    it, even in place: a cut from one person to another framed alike.
    """
    tracks: list[RawTrack] = []
    active: list[int] = []
    recent: dict[int, list[np.ndarray]] = {}  # track -> its last vectors
    for f in sorted(detections):
        boxes, lms, scores = detections[f]
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        unmatched = set(range(len(boxes)))
        if active and len(boxes):
            prev = np.stack([tracks[t].boxes[-1] for t in active])
            aff = _affinity(prev, boxes)
            # After a long absence (cut, occlusion) a face is taken back only where it left off.
            stale = np.array([f - tracks[t].frames[-1] - 1 > max_gap for t in active])
            if relink_iou is None:
                aff[stale] = 0.0
            else:
                aff[stale] = np.where(box_iou(prev[stale], boxes) >= relink_iou, aff[stale], 0.0)
            if vectors is not None and f in vectors and switch_below > 0:
                cur = np.asarray(vectors[f], np.float64)
                for ti, t in enumerate(active):
                    if recent.get(t) and aff[ti].any():  # only tracks this frame could still continue
                        mean = np.mean(recent[t], axis=0)
                        sims = cur @ (mean / max(float(np.linalg.norm(mean)), 1e-12))
                        aff[ti, sims < switch_below] = 0.0
            # Greedy: best remaining pair first.
            order = np.dstack(np.unravel_index(np.argsort(-aff, axis=None), aff.shape))[0]
            used_t: set[int] = set()
            for ti, di in order:
                if aff[ti, di] < min_affinity:
                    break
                if ti in used_t or di not in unmatched:
                    continue
                used_t.add(ti)
                unmatched.discard(di)
                tracks[active[ti]].add(f, boxes[di], lms[di], scores[di], di)
                _remember(recent, active[ti], vectors, f, di, window)
        for di in sorted(unmatched):
            t = RawTrack()
            t.add(f, boxes[di], lms[di], scores[di], di)
            tracks.append(t)
            active.append(len(tracks) - 1)
            _remember(recent, len(tracks) - 1, vectors, f, di, window)
    return tracks


def _remember(recent: dict, t: int, vectors, f: int, di: int, window: int) -> None:
    if vectors is not None and f in vectors and di < len(vectors[f]):
        recent.setdefault(t, []).append(np.asarray(vectors[f][di], np.float64))
        del recent[t][:-window]


def fill_track(track: RawTrack, max_gap: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Per-frame landmarks and boxes for a track, split into contiguous segments.

    Gaps of at most ``max_gap`` missing frames are filled by linear interpolation (flagged);
    longer gaps and the track's ``breaks`` split the track, and missing frames there are left out. Returns a list of segments
    ``(frames (n,), landmarks (n,5,2), boxes (n,4), interpolated (n,) bool)``.
    """
    frames = np.asarray(track.frames)
    lms = np.asarray(track.landmarks)
    boxes = np.asarray(track.boxes)
    segments = []
    start = 0
    for i in range(1, len(frames) + 1):
        if i == len(frames) or frames[i] - frames[i - 1] - 1 > max_gap or int(frames[i]) in track.breaks:
            segments.append(_interpolate(frames[start:i], lms[start:i], boxes[start:i]))
            start = i
    return segments


def _interpolate(frames, lms, boxes):
    all_frames = np.arange(frames[0], frames[-1] + 1)
    flat_lm = lms.reshape(len(frames), -1)
    out_lm = np.stack([np.interp(all_frames, frames, flat_lm[:, k]) for k in range(flat_lm.shape[1])], axis=1)
    out_box = np.stack([np.interp(all_frames, frames, boxes[:, k]) for k in range(4)], axis=1)
    interp = ~np.isin(all_frames, frames)
    return all_frames, out_lm.reshape(-1, 5, 2), out_box, interp
