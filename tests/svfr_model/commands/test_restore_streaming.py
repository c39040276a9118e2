"""``restore`` streams a video file: the same frames as ``--in-memory``, timestamps / rotation / audio kept,
a face that leaves and comes back, and no output file after an interrupted run.

Clips are made here from the astronaut photo (tests/testdata.py); tiny test models, 32 px crops, 1 step.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from svfr_model.commands.cli import main
from testdata import astronaut

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = Path(__file__).resolve().parents[3]
FAST = ["--size", "32", "--steps", "1", "--pass1-steps", "1", "--window", "4", "--overlap", "1",
        "--decode-chunk", "3", "--quiet", "--lossless"]


def _face(side: int = 90) -> np.ndarray:
    return cv2.resize(astronaut()[:400, 40:440], (side, side), interpolation=cv2.INTER_AREA)


def _frames(n: int, *, two: bool = False, absent=range(0)) -> np.ndarray:
    """n frames 112x224: the face at the left moving right by 1 px a frame (and its mirror image at the right:
    a second person); no face on the frames in ``absent``."""
    face = _face()
    out = np.full((n, 112, 224, 3), 60, np.uint8)
    for i in range(n):
        if i in absent:
            continue
        out[i, 10:100, 8 + i % 8:98 + i % 8] = face
        if two:
            out[i, 10:100, 126 - i % 8:216 - i % 8] = face[:, ::-1]
    return out


def _write(path: Path, frames: np.ndarray, *, pts=None, time_base=Fraction(1, 25), rotation: int = 0,
           audio_seconds: float = 0.0) -> Path:
    """Lossless RGB H.264 (exact pixels) with the given timestamps, display rotation and a 440 Hz audio track."""
    out = av.open(str(path), "w")
    vs = out.add_stream("libx264rgb", rate=25, options={"qp": "0", "preset": "ultrafast"})
    vs.width, vs.height, vs.pix_fmt = frames.shape[2], frames.shape[1], "rgb24"
    vs.codec_context.time_base = time_base
    if rotation:
        vs.set_display_rotation(rotation)
    au = out.add_stream("aac", rate=44100) if audio_seconds else None
    for i, f in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
        frame.pts = i if pts is None else pts[i]
        for p in vs.encode(frame):
            out.mux(p)
    for p in vs.encode():
        out.mux(p)
    if au is not None:
        t = np.arange(int(44100 * audio_seconds)) / 44100
        a = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], format="flt",
                                       layout="mono")
        a.sample_rate, a.pts = 44100, 0
        for p in list(au.encode(a)) + list(au.encode()):
            out.mux(p)
    out.close()
    return path


def _decode(path: Path):
    """(frames uint8, [pts seconds], rotation, audio packet count, average fps)"""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames, times, rotation = [], [], 0
        for f in c.decode(v):
            frames.append(f.to_ndarray(format="rgb24"))
            times.append(float(f.pts * f.time_base))
            rotation = f.rotation
        fps = v.average_rate
    with av.open(str(path)) as c:
        n_audio = sum(1 for p in c.demux(c.streams.audio[0]) if p.dts is not None) if c.streams.audio else 0
    return np.stack(frames), times, rotation, n_audio, fps


def _restore(models_dir, src: Path, out: Path, *extra: str) -> np.ndarray:
    rc = main(["restore", str(src), str(out), "--models", str(models_dir), *FAST, *extra])
    assert rc == 0 and out.is_file()
    return _decode(out)[0]


def test_streaming_equals_in_memory_with_two_faces_and_lab_colour_match(tmp_path, test_models_dir):
    frames = _frames(12, two=True)  # more than one 8-frame paste chunk
    src = _write(tmp_path / "two.mp4", frames)
    # colour matching "lab" smooths over time: the streamed run measures the whole video first
    opts = ("--faces", "all", "--color-match", "lab")
    streamed = _restore(test_models_dir, src, tmp_path / "streamed.mp4", *opts)
    in_memory = _restore(test_models_dir, src, tmp_path / "in_memory.mp4", *opts, "--in-memory")
    assert np.array_equal(streamed, in_memory)
    diff = np.abs(streamed.astype(np.int16) - frames.astype(np.int16)).max(-1)
    assert diff[:, 30:80, 30:70].mean() > 8 and diff[:, 30:80, 150:190].mean() > 8  # both faces restored
    assert np.array_equal(streamed[:, 104:], frames[:, 104:])  # far from the faces: untouched


def test_face_that_leaves_and_comes_back(tmp_path, test_models_dir):
    absent = range(10, 26)  # 16 frames: longer than the 12 frames a track is interpolated over
    frames = _frames(34, absent=absent)
    src = _write(tmp_path / "gap.mp4", frames)
    streamed = _restore(test_models_dir, src, tmp_path / "streamed.mp4")
    in_memory = _restore(test_models_dir, src, tmp_path / "in_memory.mp4", "--in-memory")
    assert np.array_equal(streamed, in_memory)
    assert np.array_equal(streamed[10:26], frames[10:26])  # no face: frames bit-identical
    diff = np.abs(streamed.astype(np.int16) - frames.astype(np.int16)).max(-1)[:, 30:80, 30:70].mean((1, 2))
    assert (diff[:10] > 8).all() and (diff[26:] > 8).all(), diff  # restored before and after the gap


def test_timestamps_rotation_and_audio_survive(tmp_path, test_models_dir):
    n = 12
    pts = [0, 40, 80, 150, 190, 230, 330, 370, 410, 450, 490, 600]  # ms: a variable frame rate
    # stored sideways, as a phone does (shown upright by the display rotation): the face is found upright
    sideways = np.ascontiguousarray(np.rot90(_frames(n), -1, axes=(1, 2)))
    src = _write(tmp_path / "vfr.mp4", sideways, pts=pts, time_base=Fraction(1, 1000), rotation=90,
                 audio_seconds=0.6)  # ends before the last frame (0.6 s + 1/25): none of it is cut
    s_frames, s_times, s_rot, s_audio, _ = _decode(src)
    assert s_rot == 90 and s_audio > 20  # the premise
    out = tmp_path / "out.mp4"
    _restore(test_models_dir, src, out)
    o_frames, o_times, o_rot, o_audio, _ = _decode(out)
    assert len(o_frames) == n and o_frames.shape == s_frames.shape
    assert np.allclose(o_times, s_times, atol=1e-3), (o_times, s_times)
    assert o_rot == 90
    assert o_audio == s_audio


def test_constant_frame_rate_and_count_kept(tmp_path, test_models_dir):
    src = _write(tmp_path / "cfr.mp4", _frames(5))
    out = tmp_path / "out.mp4"
    _restore(test_models_dir, src, out)
    frames, times, _, _, fps = _decode(out)
    assert len(frames) == 5 and fps == 25 and np.allclose(times, [i / 25 for i in range(5)], atol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_run_leaves_no_output(tmp_path, test_models_dir, sig):
    src = _write(tmp_path / "long.mp4", _frames(200))
    out = tmp_path / "out.mp4"
    partial = tmp_path / "out.partial.mp4"
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "svfr_model", "restore", str(src), str(out), "--models",
                             str(test_models_dir), *FAST], cwd=REPO, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 600
        # wait until encoded frames are being written to the temporary file
        while not (partial.is_file() and partial.stat().st_size > 0):
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(sig)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not out.exists()
    if sig == signal.SIGTERM:
        assert rc == 143 and not partial.exists()  # cleaned up on the way out
    else:
        assert rc == -signal.SIGKILL  # nothing can clean up: only the temporary name is left


@pytest.mark.parametrize("reid", ["auto", "off"])
def test_person_back_elsewhere_is_one_track_with_largest(tmp_path, test_models_dir, reid):
    """The face leaves the left side for 16 frames and comes back on the right. ``--faces largest`` restores
    one person: with re-identification that is the face before and after; with ``--reid off`` the two
    pieces are two tracks and only the longer one is restored."""
    face = _face()
    frames = np.full((34, 112, 224, 3), 60, np.uint8)
    for i in range(10):
        frames[i, 10:100, 8 + i % 8:98 + i % 8] = face
    for i in range(26, 34):
        frames[i, 10:100, 126 - i % 8:216 - i % 8] = face
    src = _write(tmp_path / "moved.mp4", frames)
    out = _restore(test_models_dir, src, tmp_path / f"out_{reid}.mp4", "--faces", "largest", "--reid", reid)
    diff = np.abs(out.astype(np.int16) - frames.astype(np.int16)).max(-1)
    before = diff[:10, 30:80, 30:70].mean((1, 2))
    after = diff[26:, 30:80, 150:190].mean((1, 2))
    assert (before > 8).all(), before
    if reid == "auto":
        assert (after > 8).all(), after
    else:
        assert np.array_equal(out[26:], frames[26:])  # the second piece was another "face": not selected
