"""Pass 2b of the face pipeline: paste restored crops back into the frames (blend mask, colour match)."""
from __future__ import annotations

import numpy as np
import torch

import warnings

from ..errors import InputError, SVFRWarning
from . import framing
from .arrays import as_unit_float
from .color import COLOR_MODES, apply_lab, is_grayscale, lab_stats, match_color
from .crop import crop_frame
from .frames import FrameSource
from .masks import DEFAULT_ERODE, DEFAULT_FEATHER, paste_mask
from .paste import paste_one
from .records import FaceCropRecord, frame_index

COLOR_SMOOTHING = 3.0  # frames (sigma) over which colour-match statistics are smoothed


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


def _raw_lab_stats(src: "FrameSource", arrs, record, masks_for) -> list[np.ndarray]:
    """Per track and frame the Lab statistics (restored mean/std, original mean/std) of every crop."""
    stats = [np.zeros((len(t.frame_indices), 4, 3)) for t in record.tracks]
    by_frame = frame_index(record)
    for f in sorted(by_frame):
        frame = src.float_rgb(f)
        for ti, k in by_frame[f]:
            crop = np.ascontiguousarray(arrs[ti][k], dtype=np.float32)
            s = crop.shape[0]
            M = _scaled_transform(record.tracks[ti].transforms[k], record.size, s)
            stats[ti][k] = lab_stats(crop, crop_frame(frame, M, s, record.mode), masks_for(s))
    return stats


def smooth_lab_stats(record, stats: list[np.ndarray]) -> list[np.ndarray]:
    """The per-frame Lab statistics of every track, smoothed over time.

    Matching each frame on its own would copy the original's frame-to-frame colour noise (LQ
    compression, flicker) into the restored face; the zero-lag smoother keeps real changes.
    """
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


def chunk_lab_stats(frames, restored, record: FaceCropRecord, *, feather: float = DEFAULT_FEATHER,
                    erode: float = DEFAULT_ERODE, mask_shape: str = "square") -> list[np.ndarray]:
    """Unsmoothed Lab statistics of a chunk (frames, restored crops and its ``record_slice`` record), to be
    gathered for the whole video and smoothed with :func:`smooth_lab_stats` (streamed paste-back)."""
    arrs = [_as_crop_array(r, f"restored[{i}]") for i, r in enumerate(restored)]
    masks = {}
    return _raw_lab_stats(FrameSource(frames), arrs, record,
                          lambda s: _mask_for(masks, s, record, erode, feather, mask_shape))


def _gray_source(src: FrameSource, face_frames: list[int]) -> bool:
    """Whether the frames with faces are gray (three of them, spread: a fade from black is not a gray video)."""
    frame = np.empty((src.h, src.w, 3), np.float32)
    for f in face_frames[::max(1, len(face_frames) // 3)][:3]:
        src.float_rgb_into(f, frame)
        if not is_grayscale(frame):
            return False
    return True


def paste_faces(frames, restored, record: FaceCropRecord, *, feather: float = DEFAULT_FEATHER,
                erode: float = DEFAULT_ERODE, color_match: str = "none", mask_shape: str = "square",
                return_mask: bool = False, lab_stats: list | None = None):
    """Compose restored crops back into the frames; returns (N, H, W, 3) float32 [, mask (N, H, W)].

    restored: one (n_i, S, S, 3) sequence per record track, in the record's order (S may differ
    from record.size: the transform is rescaled). feather / erode: blend ramp width and untouched
    border, in crop pixels at the record's crop size. color_match: "none", "lab" or "wavelet".
    Frames or pixels no track covers are returned bit-identical. lab_stats: the smoothed statistics per
    track (``smooth_lab_stats``), when the frames are one chunk of a longer video; default: from these frames.
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
    by_frame = frame_index(record)
    if color_match != "none" and by_frame and _gray_source(src, sorted(by_frame)):
        # matching to a gray original would take the restored (colorized) faces' colour away
        warnings.warn(SVFRWarning("{color_match} skipped: the video is grayscale, and matching the restored faces "
                                  "to it would take their colour away (colorization)"), stacklevel=2)
        color_match, lab_stats = "none", None
    masks = {}
    out = np.empty((src.n, src.h, src.w, 3), np.float32)
    out_mask = np.zeros((src.n, src.h, src.w), np.float32) if return_mask else None
    lab = None
    if color_match == "lab" and lab_stats is not None:
        lab = list(lab_stats)
        if [len(x) for x in lab] != [len(t.frame_indices) for t in record.tracks]:
            raise InputError("lab_stats must hold one (n_i, 4, 3) array per track, n_i = the track's frames")
    elif color_match == "lab":
        lab = smooth_lab_stats(record, _raw_lab_stats(
            src, arrs, record, masks_for=lambda s: _mask_for(masks, s, record, erode, feather, mask_shape)))
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
