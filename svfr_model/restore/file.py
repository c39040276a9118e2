"""Restore the faces of a video file into another file, streaming: memory does not grow with the length.

Pass 1 decodes the video once for face detection and tracking (only boxes, landmarks and transforms are
kept). Each face track is then restored by ``restore_stream``, which reads its crops from the file chunk by
chunk (one decode sweep per pass) and keeps only latents (4 x S/8 x S/8 floats per frame). Finally one pass
over the frames decodes every track's latents in step, pastes them back and encodes the output, written to
a temporary name in the target folder and renamed when complete. Frame count, timestamps (variable frame
rates too), display rotation and audio are kept.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ..errors import InputError
from .options import RestoreOptions, options_from
from .tracks import StreamedClip, restore_tracks

PASTE_CHUNK = 8  # frames pasted and encoded at a time (1080p float32: 24 MB per frame)


class _DecodedTrack:
    """Track k's restored crops from its pass-2 latents, decoded one decode chunk at a time, in order."""

    def __init__(self, models, latents, decode_chunk: int):
        self.models, self.latents, self.chunk = models, latents, decode_chunk
        self.start, self.frames = -1, None

    def get(self, start: int, stop: int) -> np.ndarray:
        from ..diffusion.passes import decode_restored

        parts = []
        for pos in range(start, stop):
            c = (pos // self.chunk) * self.chunk
            if c != self.start:  # the decoder mixes frames within a chunk: decode at the sink's boundaries
                self.start = c
                self.frames = decode_restored(self.models, self.latents, c, min(c + self.chunk, len(self.latents)),
                                              self.chunk).numpy()
            parts.append(self.frames[pos - c])
        return np.stack(parts)


def restore_file(models, src, dst, options: Optional[RestoreOptions] = None, *, detector=None,
                 mask: Optional[np.ndarray] = None, reference=None, max_frames: Optional[int] = None,
                 no_crop: bool = False, lossless: bool = False, say: Callable[..., Any] = lambda *a: None,
                 progress_for: Callable[[str], Any] = lambda label: None, cancel=None, preview=None,
                 plan=None, **flat) -> Path:
    """Restore ``src`` into ``dst`` (see the module docstring).

    options: a ``RestoreOptions`` (sampling, faces, paste), or its fields as flat keywords (tasks, seed,
    window, ..., faces, mode, size, reid, allow_no_face, color_match, feather, erode). ``mask``: one (H, W)
    inpainting mask in the input frame's pixels. reference: one image, or a list (1 for every face, or one per
    face track). no_crop: the input is a square face clip (resized to ``size``, no detection). lossless:
    lossless RGB output (exact pixels). ``progress_for(label)``: a progress callback for each stage.
    ``plan``: the video's face plan made beforehand by ``plan_faces`` with the same options (elsewhere, e.g.
    on a CPU worker while this one restores another video); without it the detection pass runs here.
    """
    from ..video import VideoWriter, video_info

    opts = options_from(options, flat)
    info = video_info(src)
    h, w = info.size
    if mask is not None and np.shape(mask) != (h, w):
        raise InputError(f"mask is {np.shape(mask)[1]}x{np.shape(mask)[0]} but the video is {w}x{h}: draw the "
                         "mask on a frame of the input video")
    writer = VideoWriter(dst, info.fps, audio_from=src, time_base=info.time_base, rotation=info.rotation,
                         lossless=lossless)
    run = _Run(models, src, opts, detector=detector, mask=mask, references=_references(reference),
               max_frames=max_frames, say=say, progress_for=progress_for, cancel=cancel, preview=preview,
               rotation=info.rotation, stored_size=(h, w))
    try:
        if no_crop:
            _restore_square(run, writer)
        else:
            _restore_faces(run, writer, expected=_expected_frames(info.frames, max_frames), plan=plan)
    except BaseException:
        writer.abort()  # no half-written output, also on Ctrl-C / SIGTERM turned into an exception
        raise
    return writer.close()


@dataclass
class _Run:
    """One file's restore: the models, the input, the options and the callbacks every stage reads."""
    models: Any
    src: Any
    opts: RestoreOptions
    detector: Any
    mask: Optional[np.ndarray]
    references: Optional[list]
    max_frames: Optional[int]
    say: Callable[..., Any]
    progress_for: Callable[[str], Any]
    cancel: Any
    preview: Any
    rotation: int = 0                         # the input's display rotation (degrees counter-clockwise)
    stored_size: tuple = (0, 0)               # (H, W) of the frames as stored

    def restore_tracks(self, clips, record, masks, progress_for_track, **extra) -> list:
        return restore_tracks(self.models, clips, record, self.opts.sampling, references=self.references,
                              masks=masks, detector=self.detector, cancel=self.cancel, preview=self.preview,
                              progress_for_track=progress_for_track, **extra)


def _expected_frames(listed: int, max_frames: Optional[int]) -> Optional[int]:
    """The frame count for progress bars: the header's (0 = unknown), capped by max_frames."""
    if not listed:
        return max_frames
    return min(listed, max_frames) if max_frames else listed


def _searched(expected: Optional[int], crop_mode: str) -> Optional[int]:
    from ..faces.official_crop import OFFICIAL_SAMPLE_EVERY

    if expected is None:
        return None
    return -(-expected // OFFICIAL_SAMPLE_EVERY) if crop_mode == "official" else expected


def _references(reference) -> Optional[list]:
    if reference is None:
        return None
    return list(reference) if isinstance(reference, (list, tuple)) else [reference]


def plan_faces(src, options: RestoreOptions, *, detector, arcface=None, max_frames: Optional[int] = None,
               progress=None, cancel=None):
    """The detection and tracking pass over ``src`` alone: its face plan (a ``FaceCropRecord``: boxes,
    landmarks and transforms, no pixels), which ``restore_file(plan=...)`` takes. ``arcface``: the model
    set's ArcFace, for re-identification with ``reid="auto"``/``"arcface"`` (None: by appearance)."""
    from ..faces.reid import describers_for
    from ..faces.records import upright_turns
    from ..faces.stream import plan_video
    from ..video import iter_frames, video_info

    faces, info = options.faces, video_info(src)
    expected = _expected_frames(info.frames, max_frames)
    # A phone video is stored sideways with a display rotation: faces are found (and framed) on the frames
    # as shown, then the record maps the stored frames, which are cropped, pasted and written as they are.
    turns = upright_turns(info.rotation)
    chunks = iter_frames(src, chunk=16, max_frames=max_frames)
    if turns:
        chunks = ((s, np.rot90(c, turns, axes=(1, 2)), p) for s, c, p in chunks)
    record, _pts = plan_video(chunks, detector, mode=faces.mode, faces=faces.faces, size=faces.size,
                              allow_no_face=faces.allow_no_face, reid=describers_for(faces.reid, arcface),
                              total=_searched(expected, faces.mode), progress=progress, cancel=cancel)
    return record.from_upright(turns, info.size) if turns else record


def _restore_faces(run: _Run, writer, *, expected: Optional[int], plan=None) -> None:
    from ..faces.stream import TrackCrops, lab_stats_video, paste_video, track_mask
    from ..video import FrameReader, iter_frames

    src, max_frames, cancel = run.src, run.max_frames, run.cancel
    size = run.opts.faces.size
    if plan is None:
        record = plan_faces(src, run.opts, detector=run.detector, arcface=getattr(run.models, "arcface", None),
                            max_frames=max_frames, progress=run.progress_for("faces"), cancel=cancel)
    else:
        if plan.size != size or plan.mode != run.opts.faces.mode:
            raise InputError(f"the face plan was made for {plan.mode} crops of {plan.size} px, but this restore "
                             f"uses {run.opts.faces.mode} crops of {size} px: plan with the same options")
        record = plan
    n_tracks = len(record.tracks)
    run.say(f"{record.n_frames} frames, {n_tracks} face track(s)" +
            (f"; skipped: {record.skipped}" if record.skipped else "") +
            (f"; {'; '.join(record.joined)}" if record.joined else ""))
    reader = FrameReader(src, chunk=16, max_frames=max_frames)
    try:
        clips = [StreamedClip(TrackCrops(reader, record, k), len(t.frame_indices), (size, size))
                 for k, t in enumerate(record.tracks)]
        masks = [track_mask(run.mask, record, k) for k in range(n_tracks)] if run.mask is not None else None
        results = run.restore_tracks(clips, record, masks,
                                     lambda k: run.progress_for(f"restore face {k + 1}/{n_tracks}"))
    finally:
        reader.close()
    decode_chunk = run.opts.sampling.decode_chunk
    blend = run.opts.paste.widths(size)
    color_match = run.opts.paste.color_match
    lab = None
    if color_match == "lab":  # its statistics are smoothed over time: measured over the whole video first
        measured = [_DecodedTrack(run.models, r.latents, decode_chunk) for r in results]
        lab = lab_stats_video(iter_frames(src, chunk=PASTE_CHUNK, max_frames=max_frames), record,
                              lambda k, a, b: measured[k].get(a, b), cancel=cancel, **blend)
        del measured
    tracks = [_DecodedTrack(run.models, r.latents, decode_chunk) for r in results]
    paste_video(iter_frames(src, chunk=PASTE_CHUNK, max_frames=max_frames), record,
                lambda k, a, b: tracks[k].get(a, b), writer.write, lab_stats=lab, progress=run.progress_for("paste"),
                cancel=cancel, color_match=color_match, **blend)


def _restore_square(run: _Run, writer) -> None:
    """Square face clips (no detection): frames resized to ``size``, restored and written at that size."""
    from ..video import FrameReader, iter_frames

    src, max_frames, size, mask = run.src, run.max_frames, run.opts.faces.size, run.mask
    pts: list = []
    for _start, _chunk, chunk_pts in iter_frames(src, chunk=16, max_frames=max_frames):
        pts.extend(chunk_pts)  # the count (and timestamps) first: the engine plans its windows on it
    reader = FrameReader(src, chunk=16, max_frames=max_frames)
    h, w = reader.frame(0).shape[:2]
    if h != w:
        reader.close()
        raise InputError(f"--no-crop needs square face clips, but {src} is {w}x{h}: drop --no-crop to detect and "
                         "crop the face, or crop the video to a square around the face first")
    if h != size:
        run.say(f"note: resizing frames {w}x{h} -> {size}x{size} (the model size); the output is written at "
                f"{size}x{size}")

    def source(start: int, stop: int) -> np.ndarray:
        return np.stack([resize_square(reader.frame(i), size, "bicubic") if h != size else reader.frame(i).copy()
                         for i in range(start, stop)])

    def sink(start: int, frames) -> None:
        writer.write(frames.numpy(), pts[start:start + len(frames)])

    if mask is not None and h != size:
        mask = resize_square(mask.astype(np.float32), size, "nearest")
    try:
        run.restore_tracks([StreamedClip(source, len(pts), (size, size), sink=sink)], None,
                           [mask] if mask is not None else None, lambda k: run.progress_for("restore"),
                           reference_mode=run.opts.faces.mode)
    finally:
        reader.close()


def resize_square(arr: np.ndarray, size: int, resample: str) -> np.ndarray:
    """PIL resize (bicubic like infer.py for frames, nearest for masks), arr uint8/float (H, W[, 3])."""
    from PIL import Image

    mode = {"bicubic": Image.BICUBIC, "nearest": Image.NEAREST}[resample]
    if arr.dtype != np.uint8:
        im = Image.fromarray((arr * 255).round().astype(np.uint8))
        return np.asarray(im.resize((size, size), mode)).astype(np.float32) / 255.0
    return np.asarray(Image.fromarray(arr).resize((size, size), mode))


__all__ = ["plan_faces", "restore_file"]
