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


def read_video(path, *, max_frames: int | None = None) -> Video:
    """Decode all (or the first ``max_frames``) frames as RGB uint8; fps as an exact Fraction."""
    import av

    container = _open(path, "video")
    try:
        stream = _video_stream(container, path)
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
        if max_frames is None or len(frames) < max_frames:
            _check_decoded(path, stream, len(frames))
    finally:
        container.close()
    return Video(np.stack(frames), fps, audio)


def iter_video(path, *, chunk: int = 32):
    """Decode ``path`` lazily: yields (m, H, W, 3) uint8 RGB arrays of up to ``chunk`` frames."""
    container = _open(path, "video")
    try:
        stream = _video_stream(container, path)
        buf, decoded = [], 0
        for frame in container.decode(stream):
            buf.append(frame.to_ndarray(format="rgb24"))
            decoded += 1
            if len(buf) >= chunk:
                yield np.stack(buf)
                buf = []
        if buf:
            yield np.stack(buf)
        _check_decoded(path, stream, decoded)
    finally:
        container.close()


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


def iter_frames(path, *, chunk: int = 32, max_frames: int | None = None):
    """Decode ``path`` in order: yields (first index, (m, H, W, 3) uint8 RGB, [pts of each frame]) chunks.

    Only one chunk is in memory at a time. pts are in the stream's time base (``VideoInfo.time_base``);
    a frame without pts gets None.
    """
    import av

    from .host_memory import pin_mmap_threshold

    pin_mmap_threshold()  # frame-sized buffers freed back to the system: memory flat over a long video
    container = _open(path, "video")
    try:
        stream = _video_stream(container, path)
        buf, pts, start = [], [], 0
        try:
            for frame in container.decode(stream):
                buf.append(frame.to_ndarray(format="rgb24"))
                pts.append(frame.pts)
                if len(buf) >= chunk or (max_frames is not None and start + len(buf) >= max_frames):
                    yield start, np.stack(buf), pts
                    start += len(buf)
                    buf, pts = [], []
                    if max_frames is not None and start >= max_frames:
                        return
        except av.error.FFmpegError as exc:
            if start + len(buf) == 0:
                raise InputError(f"video {str(path)!r} could not be decoded ({exc}); the file may be "
                                 "damaged or use an unsupported codec") from exc
            log.warning("decoding %s stopped after %d frames: %s", path, start + len(buf), exc)
        decoded = start + len(buf)
        if buf:
            yield start, np.stack(buf), pts
        _check_decoded(path, stream, decoded)  # no frames, or fewer than the header lists: truncated
    finally:
        container.close()


class FrameReader:
    """Frames of a video file by index, decoding forward; an index behind the position reopens the file.

    For passes that read the frames in order (crop, paste back): ``reader.get([10, 11, 12])`` decodes up to
    frame 12 and keeps only the current chunk, so memory does not grow with the video.
    """

    def __init__(self, path, *, chunk: int = 16, max_frames: int | None = None):
        self.path, self.chunk, self.max_frames = path, int(chunk), max_frames
        self._it = None
        self._start, self._frames = 0, np.zeros((0, 1, 1, 3), np.uint8)

    def _restart(self) -> None:
        self.close()
        self._it = iter_frames(self.path, chunk=self.chunk, max_frames=self.max_frames)
        self._start, self._frames = 0, np.zeros((0, 1, 1, 3), np.uint8)

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as (H, W, 3) uint8 RGB (a view into the current chunk)."""
        if self._it is None or index < self._start:
            self._restart()
        while index >= self._start + len(self._frames):
            try:
                self._start, self._frames, _ = next(self._it)
            except StopIteration:
                raise InputError(f"{str(self.path)!r} has no frame {index} (it ended after "
                                 f"{self._start + len(self._frames)} frames); was the file changed?") from None
        return self._frames[index - self._start]

    def get(self, indices) -> np.ndarray:
        """Frames at ascending ``indices`` as (m, H, W, 3) uint8."""
        return np.stack([self.frame(int(i)).copy() for i in indices])

    def close(self) -> None:
        if self._it is not None:
            self._it.close()
            self._it = None


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
