"""Bad inputs the engine refuses with an error naming the input and the fix (not a clamp, not a traceback).

Frames on the 0..255 scale, NaN/inf masks, and video files that are cut short, empty, frame-less or
audio-only (made here with PyAV in a tmp dir), through the readers and the command line.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from svfr_model.errors import InputError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ----------------------------------------------------------------------- value range of frames and masks

def _frames(n=2, size=16, seed=0):
    return torch.rand((n, size, size, 3), generator=torch.Generator().manual_seed(seed))


@pytest.mark.fault("pixels and masks", "frames on the 0..255 scale")
@pytest.mark.parametrize("scale, dtype", [(255.0, torch.float32), (255.0, torch.float16), (3.0, torch.float64)])
def test_frames_on_the_0_255_scale_are_refused(scale, dtype):
    from svfr_model.diffusion.passes import restore_video

    frames = (_frames() * scale).to(dtype)
    # restore_video checks the frames before it touches the models
    with pytest.raises(InputError, match=r"frames looks like 0\.\.255 values .*divide by 255"):
        restore_video(None, frames)


def test_frames_slightly_above_one_and_uint8_are_accepted():
    from svfr_model.diffusion.passes import check_frames, to_uint8

    over = _frames() * 1.2 - 0.1  # ringing of a resampler: a little outside 0..1 is clamped, as before
    assert torch.equal(check_frames(over), over)
    u8 = (_frames() * 255).to(torch.uint8)
    assert torch.equal(to_uint8(check_frames(u8)), u8)


@pytest.mark.fault("pixels and masks", "reference on the 0..255 scale")
def test_reference_on_the_0_255_scale_names_the_reference():
    from svfr_model.diffusion.passes import check_frames

    with pytest.raises(InputError, match=r"^reference looks like 0\.\.255"):
        check_frames(_frames(1)[0] * 255, "reference")


@pytest.mark.fault("pixels and masks", "mask with NaN or inf (engine)")
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_or_inf_mask_is_refused_by_the_engine(bad):
    from svfr_model.diffusion.passes import check_mask

    m = torch.zeros((2, 16, 16))
    m[1, 3, 4] = bad
    with pytest.raises(InputError, match="mask contains NaN or inf values; fix the node"):
        check_mask(m, 2, 16, 16)


@pytest.mark.fault("pixels and masks", "mask on the 0..255 scale (engine)")
def test_mask_on_the_0_255_scale_is_refused_and_uint8_masks_still_work():
    from svfr_model.diffusion.passes import check_mask

    m = torch.zeros((1, 16, 16))
    m[0, :8] = 255.0
    with pytest.raises(InputError, match=r"mask looks like 0\.\.255 values \(max 255\).*divide by 255"):
        check_mask(m, 2, 16, 16)
    got = check_mask(m.to(torch.uint8), 2, 16, 16)  # uint8 keeps its own scale: >= 128 paints
    assert got.dtype == torch.bool and int(got.sum()) == 8 * 16


class _Record:
    """The two fields warp_mask_to_crops reads before any warping."""

    frame_size = (32, 48)
    size = 16
    n_frames = 2
    tracks = []


@pytest.mark.parametrize("space, shape", [("frame", (32, 48)), ("crop", (16, 16))])
def test_nan_mask_is_refused_before_warping(space, shape):
    from svfr_model.faces.masks import warp_mask_to_crops

    m = np.zeros(shape, np.float32)
    m[0, 0] = np.nan
    with pytest.raises(InputError, match="^mask contains NaN or inf"):
        warp_mask_to_crops(m, _Record(), space=space)
    with pytest.raises(InputError, match=r"^mask looks like 0\.\.255"):
        warp_mask_to_crops(np.full(shape, 200.0, np.float32), _Record(), space=space)


@pytest.mark.fault("pixels and masks", "restored crops on the 0..255 scale (engine)")
def test_restored_crops_on_the_0_255_scale_are_refused():
    from svfr_model.faces.arrays import as_unit_float

    crops = _frames(2, 8).numpy()
    assert np.array_equal(as_unit_float(crops), crops)
    assert np.allclose(as_unit_float((crops * 255).round().astype(np.uint8)), crops, atol=0.5 / 255)
    with pytest.raises(InputError, match=r"restored crops looks like 0\.\.255"):
        as_unit_float(crops * 255, "restored crops")


# ----------------------------------------------------------------------------------- damaged video files

@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """A good 12-frame clip and its broken variants, all made with PyAV here."""
    import av

    from svfr_model.video import write_video

    d = tmp_path_factory.mktemp("videos")
    frames = (np.random.default_rng(0).random((12, 64, 64, 3)) * 255).astype(np.uint8)
    write_video(d / "good.mp4", frames, 25)  # index (moov) at the end, as most encoders write it
    data = (d / "good.mp4").read_bytes()
    (d / "cut_index_at_end.mp4").write_bytes(data[: len(data) // 2])

    # the index first (faststart, as web/phone exports): a cut copy still opens and decodes a few frames
    c = av.open(str(d / "faststart.mp4"), "w", options={"movflags": "faststart"})
    s = c.add_stream("libx264", rate=25)
    s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
    for f in frames:
        for packet in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
            c.mux(packet)
    for packet in s.encode():
        c.mux(packet)
    c.close()
    data = (d / "faststart.mp4").read_bytes()
    (d / "cut_index_first.mp4").write_bytes(data[: len(data) // 2])

    (d / "empty.mp4").write_bytes(b"")

    def audio_frames(stream):
        for i in range(5):
            fr = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            fr.sample_rate, fr.pts = 16000, i * 1024
            yield from stream.encode(fr)
        yield from stream.encode()

    c = av.open(str(d / "audio_only.m4a"), "w")
    a = c.add_stream("aac", rate=16000)
    for packet in audio_frames(a):
        c.mux(packet)
    c.close()

    # a video stream without a single frame (Matroska keeps the empty track; MP4 drops it)
    c = av.open(str(d / "no_frames.mkv"), "w")
    v = c.add_stream("libx264", rate=25)
    v.width, v.height, v.pix_fmt = 64, 64, "yuv420p"
    a = c.add_stream("aac", rate=16000)
    for packet in audio_frames(a):
        c.mux(packet)
    c.close()
    return d


BROKEN = [
    ("cut_index_at_end.mp4", r"cannot be opened as a video .*may be truncated"),
    ("cut_index_first.mp4", r"ends after \d of the 12 frames its header lists: the file is truncated"),
    ("empty.mp4", r"is empty \(0 bytes\)"),
    ("audio_only.m4a", r"has no video stream"),
    ("no_frames.mkv", r"no decodable frames"),
]


@pytest.mark.fault("video files", "truncated video, text file named .mp4, missing file")
@pytest.mark.parametrize("name, match", BROKEN)
def test_readers_name_the_file_and_what_is_wrong(videos, name, match):
    from svfr_model.video import iter_video, read_video

    path = str(videos / name)
    with pytest.raises(InputError, match=match) as err:
        read_video(path)
    assert path in str(err.value)
    with pytest.raises(InputError, match=match):
        for _ in iter_video(path, chunk=4):
            pass


def test_the_good_clip_reads_whole_and_max_frames_is_not_truncation(videos):
    from svfr_model.video import iter_video, read_video

    assert read_video(videos / "good.mp4").frames.shape == (12, 64, 64, 3)
    assert read_video(videos / "faststart.mp4", max_frames=5).frames.shape == (5, 64, 64, 3)
    assert [len(c) for c in iter_video(videos / "faststart.mp4", chunk=5)] == [5, 5, 2]


@pytest.mark.fault("command line", "an error printed, not a traceback")
@pytest.mark.parametrize("command", ["crop", "restore"])
@pytest.mark.parametrize("name, match", BROKEN)
def test_cli_prints_the_error_not_a_traceback(videos, tmp_path, capsys, test_models_dir, command, name, match):
    from svfr_model.commands.cli import main

    args = {"crop": ["crop", str(videos / name), "--out", str(tmp_path / "out")],
            "restore": ["restore", str(videos / name), str(tmp_path / "out.mp4"), "--models", str(test_models_dir)]}
    rc = main(args[command])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "error: " in err and "Traceback" not in err  # (restore prints progress before it)
    assert str(videos / name) in err
    import re
    assert re.search(match, err), err
