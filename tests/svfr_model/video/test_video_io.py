"""Video IO with PyAV: exact fps, lossless round trip, odd sizes, audio copy, clear errors."""
from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from svfr_model.errors import InputError
from svfr_model.video import read_video, write_video


@pytest.fixture(scope="module")
def carphone_video():
    from testdata import carphone

    return read_video(carphone())


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


def _clip_with_audio(path, n=25, fps=25, seconds=1.0):
    out = av.open(str(path), "w")
    vs = out.add_stream("libx264", rate=fps)
    vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
    au = out.add_stream("aac", rate=44100)
    for i in range(n):
        for p in vs.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), 8 * i, np.uint8), format="rgb24")):
            out.mux(p)
    for p in vs.encode():
        out.mux(p)
    t = np.arange(int(44100 * seconds)) / 44100
    frame = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None],
                                       format="flt", layout="mono")
    frame.sample_rate, frame.pts = 44100, 0
    for p in au.encode(frame):
        out.mux(p)
    for p in au.encode():
        out.mux(p)
    out.close()
    return path


def _audio_packets(path):
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return 0, None
        s = c.streams.audio[0]
        return sum(1 for p in c.demux(s) if p.size), s.codec_context.sample_rate


def test_read_real_clip_frames_and_exact_fps(carphone_video):
    v = carphone_video
    assert v.frames.shape == (120, 144, 176, 3) and v.frames.dtype == np.uint8
    assert v.fps == Fraction(30000, 1001)
    assert v.audio is None
    assert read_video_head(v) == 5


def read_video_head(v):
    from testdata import carphone

    head = read_video(carphone(), max_frames=5)
    assert np.array_equal(head.frames, v.frames[:5])
    return len(head.frames)


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_lossless_round_trip_is_exact(tmp_path, carphone_video, suffix):
    out = write_video(tmp_path / f"x{suffix}", carphone_video.frames[:12], carphone_video.fps, lossless=True)
    back = read_video(out)
    assert back.fps == Fraction(30000, 1001)
    assert np.array_equal(back.frames, carphone_video.frames[:12])


def test_h264_yuv420p_quality_and_fps(tmp_path, carphone_video):
    frames = carphone_video.frames[:20]
    out = write_video(tmp_path / "x.mp4", frames.astype(np.float32) / 255.0, Fraction(24000, 1001))
    back = read_video(out)
    assert back.fps == Fraction(24000, 1001) and len(back.frames) == 20
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and s.codec_context.pix_fmt == "yuv420p"
    assert _psnr(back.frames, frames) > 33  # yuv420p halves chroma resolution: ~35-36 dB on this small colourful clip


@pytest.mark.fault("video files", "odd frame size")
def test_odd_size_is_padded_to_even(tmp_path, carphone_video, caplog):
    frames = np.ascontiguousarray(carphone_video.frames[:6, :143, :175])
    with caplog.at_level("WARNING"):
        out = write_video(tmp_path / "odd.mp4", frames, 25)
    assert "odd" in caplog.text and "176x144" in caplog.text
    back = read_video(out)
    assert back.frames.shape == (6, 144, 176, 3)
    assert _psnr(back.frames[:, :143, :175], frames) > 33  # yuv420p halves chroma resolution: ~35-36 dB on this small colourful clip
    # the padding repeats the edge
    assert np.abs(back.frames[:, :143, 175].astype(int) - frames[:, :, 174].astype(int)).mean() < 6


def test_audio_copied_from_source(tmp_path):
    src = _clip_with_audio(tmp_path / "a.mp4")
    v = read_video(src)
    assert v.audio is not None and v.audio.codec == "aac" and v.audio.sample_rate == 44100
    out = write_video(tmp_path / "b.mp4", 255 - v.frames, v.fps, audio_from=src)
    n_src, sr = _audio_packets(src)
    n_out, sr_out = _audio_packets(out)
    assert n_src > 20 and n_out == n_src and sr_out == sr
    back = read_video(out)
    assert back.fps == 25 and len(back.frames) == 25
    assert _psnr(back.frames, 255 - v.frames) > 33
    # a source without audio: nothing copied, no error
    out2 = write_video(tmp_path / "c.mp4", v.frames, v.fps, audio_from=tmp_path / "b.mp4")
    assert _audio_packets(out2)[0] == n_src
    write_video(tmp_path / "d.mp4", v.frames, v.fps, audio_from=write_video(tmp_path / "e.mp4", v.frames, 25))
    assert _audio_packets(tmp_path / "d.mp4")[0] == 0


@pytest.mark.fault("video files", "unreadable or mismatched videos")
def test_clear_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_video(tmp_path / "missing.mp4")
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video")
    with pytest.raises(InputError, match="cannot be opened as a video"):
        read_video(bad)
    with pytest.raises(InputError, match="fps must be positive"):
        write_video(tmp_path / "x.mp4", np.zeros((2, 16, 16, 3), np.uint8), 0)
    with pytest.raises(InputError, match="output folder"):
        write_video(tmp_path / "nope" / "x.mp4", np.zeros((2, 16, 16, 3), np.uint8), 25)
    with pytest.raises(InputError, match=r"\(N, H, W, 3\)"):
        write_video(tmp_path / "x.mp4", np.zeros((2, 16), np.uint8), 25)
    assert not list(tmp_path.glob("*.partial*"))  # no half-written files left behind


def test_streaming_writer_chunks_and_iter_video(tmp_path, carphone_video):
    from svfr_model.video import VideoWriter, iter_video, probe_video

    frames = carphone_video.frames[:25]
    with VideoWriter(tmp_path / "s.mkv", carphone_video.fps, lossless=True) as w:
        for a in range(0, 25, 10):  # chunks of 10, 10, 5
            w.write(frames[a:a + 10])
        with pytest.raises(InputError, match="all frames of a video must have the same size"):
            w.write(frames[:1, :100])
    chunks = list(iter_video(tmp_path / "s.mkv", chunk=7))
    assert [len(c) for c in chunks] == [7, 7, 7, 4]
    assert np.array_equal(np.concatenate(chunks), frames)
    n, fps, hw = probe_video(tmp_path / "s.mkv")
    assert fps == Fraction(30000, 1001) and hw == (144, 176)
    # a writer that fails mid-way leaves no file behind
    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / "f.mp4", 25) as w:
            w.write(frames[:3])
            raise RuntimeError("boom")
    assert not list(tmp_path.glob("f*"))
