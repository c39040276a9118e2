"""Read and write videos with PyAV: exact frame rate, audio copied, odd sizes padded to even.

    video = read_video("in.mp4")                      # Video(frames uint8 (N,H,W,3) RGB, fps, audio)
    write_video("out.mp4", frames, video.fps, audio_from="in.mp4")
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import InputError

log = logging.getLogger(__name__)


@dataclass
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int


@dataclass
class Video:
    frames: np.ndarray  # (N, H, W, 3) uint8 RGB
    fps: Fraction | float
    audio: AudioInfo | None = None

    @property
    def size(self) -> tuple[int, int]:
        return int(self.frames.shape[1]), int(self.frames.shape[2])


def _open(path, what: str):
    import av

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} {str(p)!r} does not exist (or is not a file); check the path")
    try:
        return av.open(str(p))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise InputError(f"{what} {str(p)!r} cannot be opened as a video ({exc}); "
                         "use a common format such as MP4 (H.264), MKV or MOV") from exc


def _stream_fps(stream) -> Fraction | float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate.numerator, rate.denominator)
    return 25.0


def read_video(path, *, max_frames: int | None = None) -> Video:
    """Decode all (or the first ``max_frames``) frames as RGB uint8; fps as an exact Fraction."""
    import av

    container = _open(path, "video")
    try:
        if not container.streams.video:
            raise InputError(f"{str(path)!r} has no video stream (is it an audio file or an image?)")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = _stream_fps(stream)
        audio = None
        if container.streams.audio:
            a = container.streams.audio[0]
            audio = AudioInfo(a.codec_context.name, int(a.codec_context.sample_rate or 0),
                              int(getattr(a.codec_context, "channels", 0) or a.codec_context.layout.nb_channels))
        frames = []
        try:
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
                if max_frames is not None and len(frames) >= max_frames:
                    break
        except av.error.FFmpegError as exc:
            if not frames:
                raise InputError(f"video {str(path)!r} could not be decoded ({exc}); the file may be "
                                 "damaged or use an unsupported codec") from exc
            log.warning("decoding %s stopped after %d frames: %s", path, len(frames), exc)
    finally:
        container.close()
    if not frames:
        raise InputError(f"video {str(path)!r} contains no decodable frames")
    return Video(np.stack(frames), fps, audio)


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


def write_video(path, frames, fps, *, audio_from=None, crf: int = 18, lossless: bool = False) -> Path:
    """Write RGB frames (uint8 or float 0..1) as H.264 with exactly ``fps``.

    yuv420p (plays everywhere); odd widths/heights are padded by one repeated edge pixel (logged),
    because yuv420p needs even sizes. ``lossless=True`` writes RGB losslessly (libx264rgb, qp 0;
    for round-trip tests and intermediate files, not for players). ``audio_from``: a video whose
    first audio stream is copied into the output (re-encoded to AAC if the container refuses it).
    """
    import av

    arr = _to_uint8(frames)
    n, h, w = arr.shape[:3]
    rate = _fps_fraction(fps)
    ph, pw = h % 2, w % 2
    if (ph or pw) and not lossless:
        log.warning("frame size %dx%d is odd; padding to %dx%d for H.264 yuv420p", w, h, w + pw, h + ph)
        arr = np.pad(arr, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
        h, w = h + ph, w + pw
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise InputError(f"output folder {str(path.parent)!r} does not exist; create it first")
    tmp = path.with_name(path.stem + ".partial" + path.suffix)
    out = av.open(str(tmp), mode="w")
    try:
        if lossless:
            stream = out.add_stream("libx264rgb", rate=rate, options={"qp": "0", "preset": "veryfast"})
            stream.pix_fmt = "rgb24"
        else:
            stream = out.add_stream("libx264", rate=rate, options={"crf": str(int(crf)), "preset": "medium"})
            stream.pix_fmt = "yuv420p"
        stream.width, stream.height = w, h
        stream.codec_context.time_base = Fraction(rate.denominator, rate.numerator)
        audio_in = audio_stream = None
        if audio_from is not None:
            audio_in = _open(audio_from, "audio source")
            if audio_in.streams.audio:
                audio_stream = out.add_stream_from_template(audio_in.streams.audio[0])
            else:
                audio_in.close()
                audio_in = None
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr[i]), format="rgb24")
            frame.pts = i  # in codec time base 1/fps: frame i at i/fps exactly
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if audio_in is not None:
            src = audio_in.streams.audio[0]
            end = n / rate  # seconds of video: audio beyond it is dropped
            for packet in audio_in.demux(src):
                if packet.dts is None:
                    continue
                if packet.pts is not None and packet.time_base is not None and packet.pts * packet.time_base > end:
                    break
                packet.stream = audio_stream
                out.mux(packet)
            audio_in.close()
    except BaseException:
        out.close()
        tmp.unlink(missing_ok=True)
        raise
    out.close()
    os.replace(tmp, path)
    return path
