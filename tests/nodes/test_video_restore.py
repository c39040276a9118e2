"""SVFRVideoRestore: VIDEO in, file-backed VIDEO out; the frames of restore_file, one progress bar, Cancel.

One tiny clip (8 frames of a moving real face with audio), 64 px crops, 1 step per pass (shared CPU).
"""
from __future__ import annotations

import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch

pytestmark = pytest.mark.comfy
ARGS = dict(mode="tracked", faces="largest", index=0, crop_size=64, if_no_face="error", seed=5, steps=1,
            pass1_steps=1, guidance_min=2.0, guidance_max=2.0, window=4, overlap=1, decode_chunk=4, feather=32,
            erode=24, color_match="none", noise_aug=0.0, i2i_strength=1.0)


@pytest.fixture(scope="module")
def face_video(tmp_path_factory) -> Path:
    import cv2
    from testdata import astronaut

    from svfr_model.video import write_video

    face = cv2.resize(astronaut()[:400, 40:440], (120, 120), interpolation=cv2.INTER_AREA)
    frames = np.full((8, 144, 192, 3), 50, np.uint8)
    for i in range(8):
        frames[i, 12:132, 20 + 3 * i:140 + 3 * i] = face
    folder = tmp_path_factory.mktemp("video")
    silent = write_video(folder / "silent.mp4", frames, 25)
    # the same frames with an audio track: a second stream copied from a generated tone
    out = av.open(str(folder / "face.mp4"), "w")
    with av.open(str(silent)) as src:
        vin = src.streams.video[0]
        vout = out.add_stream_from_template(vin)
        au = out.add_stream("aac", rate=44100)
        for packet in src.demux(vin):
            if packet.dts is not None:
                packet.stream = vout
                out.mux(packet)
    t = np.arange(int(44100 * 0.3)) / 44100
    tone = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], format="flt",
                                      layout="mono")
    tone.sample_rate, tone.pts = 44100, 0
    for p in list(au.encode(tone)) + list(au.encode()):
        out.mux(p)
    out.close()
    return folder / "face.mp4"


def _decode(path):
    with av.open(str(path)) as c:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
        fps = c.streams.video[0].average_rate
    with av.open(str(path)) as c:
        n_audio = sum(1 for p in c.demux(c.streams.audio[0]) if p.dts is not None) if c.streams.audio else 0
    return frames, fps, n_audio


@pytest.fixture(scope="module")
def detector(node_classes):
    return node_classes["SVFRFaceDetectorLoader"].execute(detector="retinaface (embedded)").result[0]


@pytest.mark.slow
def test_restores_a_video_as_restore_file_does(node_classes, svfr_handle, detector, face_video, tmp_path):
    import comfy.utils
    from comfy_api.v0_0_2 import InputImpl

    from svfr_model.restore.file import restore_file
    memory_options = sys.modules[node_classes["SVFRVideoRestore"].__module__].memory_options  # the node's own

    calls = []
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview, node_id=None: calls.append((value, total)))
    try:
        out = node_classes["SVFRVideoRestore"].execute(model=svfr_handle, detector=detector,
                                                       task=torch.tensor([1.0, 0.0, 0.0]),
                                                       video=InputImpl.VideoFromFile(str(face_video)),
                                                       **ARGS).result[0]
    finally:
        comfy.utils.set_progress_bar_global_hook(None)
    assert isinstance(out, InputImpl.VideoFromFile)
    got, fps, n_audio = _decode(out.get_stream_source())
    src, src_fps, src_audio = _decode(face_video)
    assert got.shape == src.shape and fps == src_fps == 25 and n_audio == src_audio > 5
    want_path = tmp_path / "direct.mp4"
    restore_file(svfr_handle.models, face_video, want_path, detector=detector, faces="largest", size=64,
                 feather=32, erode=24, color_match="none", tasks=[1, 0, 0], seed=5, steps=1,
                 pass1_steps=1, window=4, overlap=1, noise_aug=0.0, i2i_strength=1.0,
                 **memory_options("default", 4), dtype=svfr_handle.dtype, device=svfr_handle.device)
    assert np.array_equal(got, _decode(want_path)[0])
    assert np.abs(got.astype(int) - src.astype(int)).max(-1)[:, 40:100, 60:120].mean() > 8  # the face changed
    values = [v for v, _ in calls]
    assert values == sorted(values) and calls[-1] == (1000, 1000) and len(calls) > 10  # one bar, to the end


@pytest.mark.fault("cancel and interrupt", "cancel leaves no file")
def test_cancel_stops_the_run_and_leaves_no_file(node_classes, svfr_handle, detector, face_video):
    import comfy.model_management as mm
    import folder_paths
    from comfy_api.v0_0_2 import InputImpl

    before = set(Path(folder_paths.get_temp_directory()).glob("svfr_restored_*"))
    mm.interrupt_current_processing(True)
    try:
        with pytest.raises(mm.InterruptProcessingException):
            node_classes["SVFRVideoRestore"].execute(model=svfr_handle, detector=detector,
                                                     task=torch.tensor([1.0, 0.0, 0.0]),
                                                     video=InputImpl.VideoFromFile(str(face_video)), **ARGS)
    finally:
        mm.interrupt_current_processing(False)
    assert set(Path(folder_paths.get_temp_directory()).glob("svfr_restored_*")) == before
