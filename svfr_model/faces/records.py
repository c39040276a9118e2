"""The crop record: what the detect/track pass hands to the crop and paste-back passes (JSON-serialisable)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import InputError


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


def upright_turns(rotation: int) -> int:
    """Quarter turns (np.rot90's k, counter-clockwise) that show a stored frame upright, for a display rotation
    of ``rotation`` degrees counter-clockwise (PyAV's VideoFrame.rotation); other angles are not supported."""
    rotation = int(rotation) % 360
    if rotation % 90:
        raise InputError(f"display rotation of {rotation} degrees: only multiples of 90 are supported")
    return rotation // 90


def stored_to_upright(turns: int, stored_size: tuple[int, int]) -> np.ndarray:
    """(3, 3) affine from stored pixel indices (x, y) to those of ``np.rot90(frame, turns)``."""
    h, w = stored_size
    out = np.eye(3)
    for _ in range(turns % 4):  # one counter-clockwise quarter turn: (x, y) -> (y, w - 1 - x), then h, w swap
        out = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, w - 1.0], [0.0, 0.0, 1.0]]) @ out
        h, w = w, h
    return out


@dataclass
class FaceCropRecord:
    """Everything paste-back needs: frame size, crop size, per-track frames and transforms."""
    frame_size: tuple[int, int]
    n_frames: int
    size: int
    mode: str
    tracks: list[FaceTrack] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    joined: list[str] = field(default_factory=list)  # track pieces of one person re-joined after an absence

    def from_upright(self, turns: int, stored_size: tuple[int, int]) -> "FaceCropRecord":
        """This record, planned on frames turned upright (``np.rot90(frame, turns)``), for the stored frames:
        each frame->crop transform composed with the turn, so the crops come out upright and paste back
        into the frames as stored."""
        turn = stored_to_upright(turns, stored_size)
        tracks = [FaceTrack(t.frame_indices, np.einsum("nij,jk->nik", np.concatenate(
                      [t.transforms, np.tile([[[0.0, 0.0, 1.0]]], (len(t.transforms), 1, 1))], 1), turn)[:, :2],
                            t.landmarks, t.interpolated) for t in self.tracks]
        return FaceCropRecord(tuple(stored_size), self.n_frames, self.size, self.mode, tracks, list(self.skipped),
                              list(self.joined))

    def to_json(self) -> str:
        return json.dumps({"format": "svfr-face-crops", "version": 1,
                           "frame_size": list(self.frame_size), "n_frames": self.n_frames, "size": self.size,
                           "mode": self.mode, "skipped": list(self.skipped), "joined": list(self.joined),
                           "tracks": [t.to_dict() for t in self.tracks]})

    @classmethod
    def from_json(cls, text: str) -> "FaceCropRecord":
        try:
            d = json.loads(text)
            if d.get("format") != "svfr-face-crops":
                raise ValueError("not a face crop record")
            return cls(tuple(int(v) for v in d["frame_size"]), int(d["n_frames"]), int(d["size"]), str(d["mode"]),
                       [FaceTrack.from_dict(t) for t in d["tracks"]], list(d.get("skipped", [])),
                       list(d.get("joined", [])))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"face crop record is not valid ({exc}); pass the JSON written by crop_faces "
                             "/ `python -m svfr_model crop`") from exc


@dataclass
class FaceCrops:
    crops: list[torch.Tensor]  # one (n_i, size, size, 3) float32 0..1 per track
    record: FaceCropRecord


def frame_index(record: FaceCropRecord) -> dict[int, list[tuple[int, int]]]:
    """frame -> [(track, position in track)]"""
    by_frame: dict[int, list[tuple[int, int]]] = {}
    for ti, tr in enumerate(record.tracks):
        for k, f in enumerate(tr.frame_indices):
            by_frame.setdefault(int(f), []).append((ti, k))
    return by_frame


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
