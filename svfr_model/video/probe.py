"""Opening a video file and reading what it says about itself (streams, rate, rotation, size, audio).

Every reader and the writer open files here, so a missing, empty, truncated or non-video file gets the
same clear error wherever it enters.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import InputError


@dataclass
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int


@dataclass
class VideoInfo:
    """What a streamed copy of a video must keep: frame rate, time base (variable frame rates keep their
    pts), display rotation, size, the header's frame count (0 when unknown) and the audio stream."""
    fps: Fraction | float
    time_base: Fraction | None
    rotation: int  # degrees counter-clockwise, as PyAV's VideoFrame.rotation (display matrix)
    size: tuple[int, int]  # (H, W) of the decoded frames
    frames: int
    audio: AudioInfo | None


def _open(path, what: str):
    import av

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} {str(p)!r} does not exist (or is not a file); check the path")
    if p.stat().st_size == 0:
        raise InputError(f"{what} {str(p)!r} is empty (0 bytes); the copy, download or export that made it "
                         "did not finish: make it again")
    try:
        return av.open(str(p))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise InputError(f"{what} {str(p)!r} cannot be opened as a video ({exc}); it may be truncated (an "
                         "unfinished download or export: make it again) or not a video; use a common format "
                         "such as MP4 (H.264), MKV or MOV") from exc


def _check_decoded(path, stream, decoded: int) -> None:
    """After decoding to the end: a stream without frames, or fewer frames than the header lists (an MP4
    with its index first that was cut short decodes its first frames and then just ends), is an error."""
    listed = int(stream.frames or 0)  # 0: the container does not say
    if decoded == 0:
        raise InputError(f"video {str(path)!r} has a video stream but no decodable frames; re-export it")
    if decoded < listed:
        raise InputError(f"video {str(path)!r} ends after {decoded} of the {listed} frames its header lists: the "
                         "file is truncated (an unfinished download, copy or export); make it again")


def _video_stream(container, path):
    """The first video stream, decoded with frame threads; a clear error when there is none."""
    if not container.streams.video:
        raise InputError(f"{str(path)!r} has no video stream (is it an audio file or an image?)")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return stream


def _stream_fps(stream) -> Fraction | float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate.numerator, rate.denominator)
    return 25.0


def _audio_info(container) -> AudioInfo | None:
    if not container.streams.audio:
        return None
    a = container.streams.audio[0].codec_context
    return AudioInfo(a.name, int(a.sample_rate or 0), int(getattr(a, "channels", 0) or a.layout.nb_channels))


def video_info(path) -> VideoInfo:
    """Probe ``path``, decoding only its first frame (for the rotation and the decoded size)."""
    import av

    container = _open(path, "video")
    try:
        stream = _video_stream(container, path)
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError as exc:
            raise InputError(f"video {str(path)!r} could not be decoded ({exc}); the file may be damaged or use "
                             "an unsupported codec") from exc
        if first is None:
            raise InputError(f"video {str(path)!r} contains no decodable frames")
        tb = stream.time_base
        return VideoInfo(_stream_fps(stream), Fraction(tb.numerator, tb.denominator) if tb else None,
                         int(getattr(first, "rotation", 0) or 0) % 360, (first.height, first.width),
                         int(stream.frames or 0), _audio_info(container))
    finally:
        container.close()


def probe_video(path) -> tuple[int, Fraction | float, tuple[int, int]]:
    """(frame count from the stream header or 0, fps, (H, W)) without decoding the frames."""
    container = _open(path, "video")
    try:
        if not container.streams.video:
            raise InputError(f"{str(path)!r} has no video stream (is it an audio file or an image?)")
        s = container.streams.video[0]
        return int(s.frames or 0), _stream_fps(s), (int(s.codec_context.height), int(s.codec_context.width))
    finally:
        container.close()
