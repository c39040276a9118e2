"""Streaming restore: the engine over a chunk source gives restore_video's frames exactly; the face pipeline
and the CLI stream a video file (frames, fps, timestamps, rotation and audio kept; no partial output).

Tiny test models, small crops, 1-2 steps (2 shared CPU cores).
"""
from __future__ import annotations

import pytest
import torch

from svfr_model.errors import InputError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ENGINE = dict(tasks="bfr,inpainting", seed=3, steps=2, pass1_steps=1, window=4, overlap=1, decode_chunk=3,
              encode_chunk=3)


@pytest.fixture(scope="module")
def models(test_models_dir):
    from svfr_model.weights.models import load_svfr_models

    return load_svfr_models(test_models_dir, dtype="fp32", device="cpu")


def _clip(n=7, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, size, size, 3), generator=g)


def _masks(n=7, size=32):
    m = torch.zeros((n, size, size))
    for i in range(n):
        m[i, 4 + i:12 + i, 6:20] = 1.0  # a different hole on every frame
    return m


class _Source:
    """A chunk source over an in-memory clip that records what the engine asked for."""

    def __init__(self, frames):
        self.frames, self.calls = frames, []

    def __call__(self, start, stop):
        self.calls.append((start, stop))
        return self.frames[start:stop].numpy()  # numpy on purpose: any array type is accepted


def test_stream_gives_restore_video_frames_bit_for_bit(models):
    from svfr_model.diffusion.passes import restore_stream, restore_video

    frames, masks = _clip(), _masks()
    want = restore_video(models, frames, mask=masks, id_tokens=None, **ENGINE, reference_landmarks=_LANDMARKS)
    src, got, starts = _Source(frames), torch.full_like(frames, -1.0), []

    def sink(start, chunk):
        starts.append(start)
        got[start:start + len(chunk)] = chunk

    res = restore_stream(models, src, len(frames), sink=sink, mask=lambda a, b: masks[a:b],
                         reference_landmarks=_LANDMARKS, **ENGINE)
    assert torch.equal(got, want.frames)
    assert torch.equal(res.reference, want.reference) and torch.equal(res.id_tokens, want.id_tokens)
    assert res.frames is None and starts == [0, 3, 6]  # in order, decode_chunk at a time
    assert float((want.frames - frames).abs().mean()) > 0.01  # the premise: the frames were changed
    # the clip is never asked for whole: the size probe, pass 1's window, pass 2's encode chunks
    assert max(b - a for a, b in src.calls) == 3 and src.calls[0] == (0, 1) and (6, 7) in src.calls


def test_stream_without_sink_keeps_latents_that_decode_to_the_same_frames(models):
    from svfr_model.diffusion.passes import decode_restored, restore_stream, restore_video

    frames = _clip(n=5, seed=1)
    kw = dict(ENGINE, tasks="bfr", id_tokens=torch.zeros(49, 1024))
    want = restore_video(models, frames, **kw).frames
    res = restore_stream(models, _Source(frames), 5, **kw)
    assert res.latents.shape == (5, 4, 4, 4)
    torch.testing.assert_close(decode_restored(models, res.latents, 0, 5, 3), want, rtol=0, atol=0)
    # any range decodes at the sink's chunk boundaries, so a middle slice is the same frames too
    torch.testing.assert_close(decode_restored(models, res.latents, 2, 4, 3), want[2:4], rtol=0, atol=0)


def test_stream_refuses_bad_sources(models):
    from svfr_model.diffusion.passes import restore_stream

    frames = _clip(n=4)
    with pytest.raises(InputError, match="callable"):
        restore_stream(models, frames, 4, **ENGINE)
    with pytest.raises(InputError, match="expected 3 frames"):  # a source that returns the wrong chunk
        restore_stream(models, lambda a, b: frames[:2], 4, id_tokens=torch.zeros(49, 1024),
                       **dict(ENGINE, tasks="bfr"))
    with pytest.raises(InputError, match="multiples of 8"):
        restore_stream(models, lambda a, b: torch.zeros((b - a, 20, 16, 3)), 4, **ENGINE)


# landmarks of the pass-1 reference (random frames have no face): centre of a 32 px crop
_LANDMARKS = [[11.0, 13.0], [21.0, 13.0], [16.0, 18.0], [12.0, 23.0], [20.0, 23.0]]


def test_iter_frames_and_frame_reader_read_a_file_in_order(tmp_path):
    import numpy as np

    from svfr_model.video import FrameReader, iter_frames, video_info, write_video

    frames = np.stack([np.full((16, 24, 3), 10 * i, np.uint8) for i in range(10)])
    path = write_video(tmp_path / "ramp.mkv", frames, 25, lossless=True)
    chunks = list(iter_frames(path, chunk=4))
    assert [c[0] for c in chunks] == [0, 4, 8] and [len(c[1]) for c in chunks] == [4, 4, 2]
    assert np.array_equal(np.concatenate([c[1] for c in chunks]), frames)
    pts = [p for c in chunks for p in c[2]]
    info = video_info(path)
    assert info.size == (16, 24) and info.rotation == 0 and info.fps == 25
    assert np.allclose([float(p * info.time_base) for p in pts], np.arange(10) / 25, atol=1e-3)
    assert [len(c[1]) for c in iter_frames(path, chunk=4, max_frames=5)] == [4, 1]
    reader = FrameReader(path, chunk=3)
    assert np.array_equal(reader.get([2, 7]), frames[[2, 7]])
    assert np.array_equal(reader.frame(1), frames[1])  # behind the position: the file is reopened
    with pytest.raises(InputError, match="no frame 10"):
        reader.frame(10)
    reader.close()
