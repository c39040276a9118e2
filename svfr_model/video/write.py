"""Writing videos with PyAV: H.264 at an exact frame rate or the input's own timestamps, rotation and audio
copied, odd sizes padded to even; the file appears under its name only when complete.

    write_video("out.mp4", frames, video.fps, audio_from="in.mp4")
"""
from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import InputError
from .probe import _open

log = logging.getLogger(__name__)


def _to_uint8(frames) -> np.ndarray:
    if hasattr(frames, "detach"):
        frames = frames.detach().cpu().numpy()
    arr = np.asarray(frames)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3, 4):
        raise InputError(f"frames must be (N, H, W, 3) RGB, got shape {tuple(arr.shape)}")
    if arr.dtype != np.uint8:
        arr = (np.clip(arr.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    elif arr.shape[-1] == 4:
        arr = arr[..., :3]
    return arr


def _fps_fraction(fps) -> Fraction:
    try:
        f = Fraction(fps).limit_denominator(1_000_000) if not isinstance(fps, Fraction) else fps
    except (TypeError, ValueError) as exc:
        raise InputError(f"fps must be a positive number, got {fps!r}") from exc
    if f <= 0:
        raise InputError(f"fps must be positive, got {fps!r}")
    return f


class VideoWriter:
    """Streaming H.264 writer: ``with VideoWriter(path, fps) as w: w.write(frames_chunk)``.

    yuv420p (plays everywhere); odd widths/heights are padded by one repeated edge pixel (logged),
    because yuv420p needs even sizes. ``lossless=True`` writes RGB losslessly (libx264rgb, qp 0;
    for round-trip tests and intermediate files, not for players). ``audio_from``: a video whose
    first audio stream is copied (packets, no re-encode) when the writer closes. The file appears
    under its name only when closed without error.
    """

    def __init__(self, path, fps, *, audio_from=None, crf: int = 18, lossless: bool = False,
                 time_base: Fraction | None = None, rotation: int = 0):
        import av

        self.path = Path(path)
        if not self.path.parent.exists():
            raise InputError(f"output folder {str(self.path.parent)!r} does not exist; create it first")
        self.rate = _fps_fraction(fps)
        self.crf, self.lossless, self.audio_from = int(crf), bool(lossless), audio_from
        # time_base + write(pts=...): the input's own timestamps (variable frame rate kept); else frame i at i/fps
        self.time_base = Fraction(time_base) if time_base is not None else None
        self.rotation = int(rotation) % 360
        self.last_pts: int | None = None
        if audio_from is not None:
            _open(audio_from, "audio source").close()  # fail now, not after encoding everything
        self.tmp = self.path.with_name(self.path.stem + ".partial" + self.path.suffix)
        self.out = av.open(str(self.tmp), mode="w")
        self.stream = None
        self.audio_in = self.audio_out = None
        self.count = 0
        self.size: tuple[int, int] | None = None

    def _open_stream(self, h: int, w: int) -> None:
        if self.lossless:
            st = self.out.add_stream("libx264rgb", rate=self.rate, options={"qp": "0", "preset": "veryfast"})
            st.pix_fmt = "rgb24"
        else:
            st = self.out.add_stream("libx264", rate=self.rate, options={"crf": str(self.crf), "preset": "medium"})
            st.pix_fmt = "yuv420p"
        st.width, st.height = w, h
        st.codec_context.time_base = self.time_base or Fraction(self.rate.denominator, self.rate.numerator)
        if self.rotation:
            st.set_display_rotation(self.rotation)  # the display matrix: players rotate as for the input
        self.stream = st
        if self.audio_from is not None:
            # Every stream must exist before the first packet is muxed (the header is written then).
            self.audio_in = _open(self.audio_from, "audio source")
            if self.audio_in.streams.audio:
                self.audio_out = self.out.add_stream_from_template(self.audio_in.streams.audio[0])

    def write(self, frames, pts=None) -> None:
        """Append frames; ``pts``: one timestamp per frame in ``time_base`` (needs time_base), else i/fps."""
        import av

        arr = _to_uint8(frames)
        if pts is not None and (self.time_base is None or len(pts) != arr.shape[0]):
            raise InputError("pts need the writer's time_base and one value per frame")
        h, w = arr.shape[1:3]
        if self.size is None:
            self.size = (h, w)
            ph, pw = h % 2, w % 2
            if (ph or pw) and not self.lossless:
                log.warning("frame size %dx%d is odd; padding to %dx%d for H.264 yuv420p", w, h, w + pw, h + ph)
            self._open_stream(h + ph * (not self.lossless), w + pw * (not self.lossless))
        elif (h, w) != self.size:
            raise InputError(f"frame {self.count} is {w}x{h} but the video is {self.size[1]}x{self.size[0]}; "
                             "all frames of a video must have the same size")
        ph, pw = self.stream.height - h, self.stream.width - w
        if ph or pw:
            arr = np.pad(arr, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
        for i in range(arr.shape[0]):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr[i]), format="rgb24")
            if pts is not None and pts[i] is not None:
                frame.pts = int(pts[i])
            elif self.time_base is not None:  # frame i at i/fps, expressed in the given time base
                frame.pts = round(self.count / (self.rate * self.time_base))
            else:
                frame.pts = self.count  # in codec time base 1/fps: frame i at i/fps exactly
            self.last_pts = frame.pts
            self.count += 1
            for packet in self.stream.encode(frame):
                self.out.mux(packet)

    def _copy_audio(self) -> None:
        if self.audio_out is None:
            return
        src = self.audio_in.streams.audio[0]
        end = self.count / self.rate  # seconds of video: audio beyond it is dropped
        if self.time_base is not None and self.last_pts is not None:
            end = self.last_pts * self.time_base + 1 / self.rate
        for packet in self.audio_in.demux(src):
            if packet.dts is None:
                continue
            if packet.pts is not None and packet.time_base is not None and packet.pts * packet.time_base > end:
                break
            packet.stream = self.audio_out
            self.out.mux(packet)

    def close(self) -> Path:
        if self.stream is None:
            self.abort()
            raise InputError(f"no frames were written to {str(self.path)!r}")
        try:
            for packet in self.stream.encode():
                self.out.mux(packet)
            self._copy_audio()
        except BaseException:
            self.abort()
            raise
        self.out.close()
        self._close_audio()
        os.replace(self.tmp, self.path)
        return self.path

    def _close_audio(self) -> None:
        if self.audio_in is not None:
            self.audio_in.close()
            self.audio_in = None

    def abort(self) -> None:
        self._close_audio()
        try:
            self.out.close()
        except Exception:  # noqa: BLE001 - closing a half-written file may fail; it is deleted anyway
            pass
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_video(path, frames, fps, *, audio_from=None, crf: int = 18, lossless: bool = False) -> Path:
    """Write RGB frames (uint8 or float 0..1) as H.264 with exactly ``fps`` (see :class:`VideoWriter`)."""
    arr = _to_uint8(frames)
    writer = VideoWriter(path, fps, audio_from=audio_from, crf=crf, lossless=lossless)
    try:
        writer.write(arr)
    except BaseException:
        writer.abort()
        raise
    return writer.close()
