"""Restore every face track of a crop record with ``restore_video``: the one loop the node and the CLI share.

Per track: its reference (given, or pass 1's own), the landmarks of that reference (from the record for
pass 1, from the photo crop for a framed photo), its mask, and one progress callback.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

from ..diffusion.options import SamplingOptions
from ..diffusion.passes import restore_stream, restore_video, sampling_options
from ..errors import InputError, NoFaceError


@dataclass
class StreamedClip:
    """A track's crops read on demand (``diffusion.passes.restore_stream``) instead of a tensor in memory.

    source(start, stop) -> crops [start, stop); sink(start, restored) or None to keep the pass-2 latents
    (``result.latents``, decoded later with ``diffusion.passes.decode_restored``).
    """
    source: Callable[[int, int], Any]
    num_frames: int
    size: tuple[int, int]  # (H, W) of the crops
    sink: Optional[Callable[[int, Any], None]] = None

    def __len__(self) -> int:
        return self.num_frames


def _clip_size(clip) -> tuple[int, int]:
    return tuple(clip.size) if isinstance(clip, StreamedClip) else (int(clip.shape[1]), int(clip.shape[2]))


@functools.lru_cache(maxsize=1)
def default_detector():
    """The embedded RetinaFace, loaded once per process and only when a photo must be framed."""
    from ..faces.detect import load_detector

    return load_detector("retinaface")


def reference_for_track(references: Sequence | None, k: int, n_tracks: int):
    """Track k's entry of ``references``: one entry for every track, or one per track."""
    if references is None:
        return None
    if len(references) == 1:
        return references[0]
    if len(references) != n_tracks:
        raise InputError(
            f"input 'reference' has {len(references)} images: give 1 (used for every face) "
            f"or one per face track ({n_tracks})."
        )
    return references[k]


def _as_float_image(img) -> torch.Tensor:
    """(H, W, 3) float 0..1 tensor from a tensor or a numpy array (uint8 or float)."""
    if isinstance(img, np.ndarray):
        return torch.from_numpy(img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else
                                np.ascontiguousarray(img, dtype=np.float32))
    return img


def prepare_references(references: Sequence | None, crop_h: int, crop_w: int, n_tracks: int, *,
                       mode: str = "tracked", detector=None) -> list | None:
    """Each reference as (image at crop size, its landmarks or None).

    An image of the crops' size is used as is (a first run's reference, or a photo already cropped):
    the engine finds its face. Any other size is a photo: its largest face is detected, aligned and
    cropped like the video crops (``mode``), because the model reads the reference latent as if it were
    framed like its input crops. A wrong count is refused before any detection.
    """
    if references is None:
        return None
    reference_for_track([None] * len(references), 0, n_tracks)
    if crop_h != crop_w:  # not face crops: nothing to frame a photo like (restore_video names the size)
        return [(_as_float_image(img), None) for img in references]
    from ..faces.reference import crop_reference

    out = []
    for img in references:
        if tuple(img.shape[:2]) == (crop_h, crop_w):
            out.append((_as_float_image(img), None))
        else:
            crop, landmarks = crop_reference(img, detector if detector is not None else default_detector(),
                                             size=crop_h, mode=mode)
            out.append((torch.from_numpy(crop), landmarks))
    return out


def pass1_landmarks(record, k: int, n: int, window: int, size: int):
    """Landmarks of the pass-1 reference frame (the last of the first window), from the crop record.

    The crops are aligned, so the face in the restored frame sits where the record says: no detection
    on a still-noisy restored frame. Without a record the engine detects the face itself.
    """
    if record is None:
        return None
    landmarks = record.tracks[k].landmarks[min(window, n) - 1]
    return landmarks * (size / float(record.size))


def restore_tracks(models, crops: Sequence[torch.Tensor], record=None, options: Optional[SamplingOptions] = None, *,
                   references: Sequence | None = None, masks: Sequence | None = None, detector=None,
                   progress_for_track: Optional[Callable[[int], Any]] = None, reference_mode: str | None = None,
                   no_face_hint: str | None = None, progress=None, cancel=None, preview=None,
                   **sampling) -> list:
    """Restore each track's crops; returns one ``RestoreResult`` per track, in order.

    crops: one (N_k, S, S, 3) float tensor or ``StreamedClip`` per track. record: the crop record (``crop_faces(...).record``)
    or None (a single clip of face crops). options: the ``SamplingOptions`` of every track (or its fields as
    keywords: tasks, seed, steps, window, ...). references: images of any size, 1 for all tracks or 1 per track.
    masks: one mask (or None) per track. detector: frames photo references (default: embedded RetinaFace).
    progress_for_track(k): the progress callback for track k (called when track k starts; else ``progress``).
    reference_mode: how a photo reference is framed, "tracked" or "official" (default: the record's mode,
        else "tracked").
    no_face_hint: appended to the NoFaceError raised when a reference has no face and no record helps.
    cancel, preview: as ``restore_video``.
    """
    opts = sampling_options(options, sampling)
    n_tracks = len(crops)
    if record is not None and len(record.tracks) != n_tracks:
        raise InputError(f"the crop record has {len(record.tracks)} face tracks but {n_tracks} crop clips were "
                         "given: use the crops and the record of the same face crop run")
    if masks is not None and len(masks) != n_tracks:
        raise InputError(f"{len(masks)} masks for {n_tracks} face tracks: give one mask (or None) per track")
    if n_tracks == 0:
        return []
    crop_h, crop_w = _clip_size(crops[0])
    mode = reference_mode or (record.mode if record is not None else "tracked")
    given = prepare_references(references, crop_h, crop_w, n_tracks, mode=mode, detector=detector)

    results = []
    for k, clip in enumerate(crops):
        ref, ref_landmarks = reference_for_track(given, k, n_tracks) or (None, None)
        kwargs = dict(progress=progress_for_track(k) if progress_for_track is not None else progress, cancel=cancel,
                      preview=preview)
        mask = masks[k] if masks is not None else None
        if isinstance(clip, StreamedClip):
            run = functools.partial(restore_stream, models, clip.source, clip.num_frames, opts, sink=clip.sink,
                                    mask=mask, reference=ref, **kwargs)
        else:
            run = functools.partial(restore_video, models, clip, opts, mask=mask, reference=ref, **kwargs)
        landmarks = pass1_landmarks(record, k, len(clip), opts.window, crop_h)
        try:
            # a crop-sized reference is searched for its face (it may be framed differently);
            # a photo cropped here brings its landmarks
            result = run(reference_landmarks=landmarks if ref is None else ref_landmarks)
        except NoFaceError as exc:
            if landmarks is None:
                if no_face_hint:
                    raise NoFaceError(f"{exc}\n{no_face_hint}") from None
                raise
            # e.g. a first run's still-degraded reference: it is aligned like the crops
            # (raised before any denoising, so the retry costs nothing)
            result = run(reference_landmarks=landmarks)
        results.append(result)
    return results


__all__ = ["restore_tracks", "StreamedClip", "prepare_references", "reference_for_track", "pass1_landmarks", "default_detector"]
