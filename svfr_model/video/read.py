"""Reading frames: one decode loop (``iter_frames``) that every reader uses.

    video = read_video("in.mp4")                      # Video(frames uint8 (N,H,W,3) RGB, fps, audio)
    for start, chunk, pts in iter_frames("in.mp4", chunk=16): ...   # one chunk in memory at a time

The loop pins glibc's mmap threshold first (``heap.py``: frame-sized buffers go back to the system, so a
long video does not grow the process), decodes with frame threads, stops cleanly at ``max_frames``, keeps
what was decoded when a damaged file stops mid-way (logged), and refuses a file that ends before the frame
count its header lists (truncated). ``read_video`` (whole clip), ``iter_video`` (chunks only) and
``FrameReader`` (frames by index) are views of it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import InputError
from .heap import pin_mmap_threshold
from .probe import AudioInfo, _audio_info, _check_decoded, _open, _stream_fps, _video_stream

log = logging.getLogger(__name__)


@dataclass
class Video:
    frames: np.ndarray  # (N, H, W, 3) uint8 RGB
    fps: Fraction | float
    audio: AudioInfo | None = None

    @property
    def size(self) -> tuple[int, int]:
        return int(self.frames.shape[1]), int(self.frames.shape[2])


def iter_frames(path, *, chunk: int = 32, max_frames: int | None = None):
    """Decode ``path`` in order: yields (first index, (m, H, W, 3) uint8 RGB, [pts of each frame]) chunks.

    Only one chunk is in memory at a time. pts are in the stream's time base (``VideoInfo.time_base``);
    a frame without pts gets None.
    """
    import av

    if chunk < 1:
        raise InputError(f"chunk must be >= 1 frame, got {chunk}")
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


def iter_video(path, *, chunk: int = 32, max_frames: int | None = None):
    """``iter_frames`` without the indices and timestamps: (m, H, W, 3) uint8 RGB chunks."""
    for _start, frames, _pts in iter_frames(path, chunk=chunk, max_frames=max_frames):
        yield frames


def read_video(path, *, max_frames: int | None = None) -> Video:
    """Decode all (or the first ``max_frames``) frames as RGB uint8; fps as an exact Fraction."""
    container = _open(path, "video")
    try:
        stream = _video_stream(container, path)
        fps, audio = _stream_fps(stream), _audio_info(container)
    finally:
        container.close()
    chunks = [frames for frames in iter_video(path, chunk=64, max_frames=max_frames)]
    return Video(np.concatenate(chunks) if len(chunks) > 1 else chunks[0], fps, audio)


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
