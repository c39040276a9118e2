"""The nodes word engine errors and warnings with their widgets, and show warnings on the page (issue 19).

The Python API and CLI side of the same cases: tests/svfr_model/test_worded_errors.py. Tiny models, 64 px
crops, 1 step per pass.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = [pytest.mark.comfy, pytest.mark.usefixtures("one_torch_thread")]
SAMPLING = dict(seed=5, steps=1, pass1_steps=1, guidance_min=2.0, guidance_max=2.0, window=16, overlap=3,
                noise_aug=0.0, i2i_strength=1.0, decode_chunk=16)
FACE = dict(mode="tracked", faces="largest", index=0, crop_size=64, if_no_face="error")
PASTE = dict(feather=32, erode=24, color_match="none")
BFR = torch.tensor([1.0, 0.0, 0.0])


@pytest.fixture(scope="module")
def detector(node_classes):
    return node_classes["SVFRFaceDetectorLoader"].execute(detector="retinaface (embedded)").result[0]


def _video(tmp_path, frames: np.ndarray):
    from comfy_api.latest import InputImpl

    from svfr_model.video import write_video

    return InputImpl.VideoFromFile(str(write_video(tmp_path / "clip.mp4", frames, 25)))


def _face_frames(n: int) -> np.ndarray:
    import cv2
    from testdata import astronaut

    face = cv2.resize(astronaut()[:400, 40:440], (96, 96), interpolation=cv2.INTER_AREA)
    return np.repeat(face[None], n, 0)


class FakeServer:
    def __init__(self):
        self.texts = []

    def send_progress_text(self, text, node_id, sid=None):
        self.texts.append((node_id, text))


@pytest.fixture
def page(monkeypatch):
    """A stand-in for the PromptServer and a running node "7": what the page would be sent."""
    import sys
    import types

    from comfy_execution.utils import CurrentNodeContext

    fake = FakeServer()
    monkeypatch.setitem(sys.modules, "server", types.SimpleNamespace(PromptServer=types.SimpleNamespace(instance=fake)))
    with CurrentNodeContext("prompt", "7"):
        yield fake


@pytest.mark.fault("options and widgets", "window not above overlap (widget words)")
@pytest.mark.parametrize("node_id", ["SVFRSampler", "SVFRVideoRestore"])
def test_window_overlap_refused_in_widget_words(node_classes, node_id):
    node = node_classes[node_id]
    text = node.validate_inputs(window=4, overlap=5)
    assert text == "'overlap' must be smaller than 'window' (4), got 5; lower 'overlap' or raise 'window'"
    # ComfyUI shows it once per input validate_inputs takes, "<input> - <text>": both read whole
    assert f"window - {text}".startswith("window - 'overlap' must be smaller than 'window' (4)")
    assert node.validate_inputs(window=80, overlap=5) == "'window' must be an integer in [2, 64], got 80"
    assert node.validate_inputs(window=4, overlap=3) is True and node.validate_inputs(None, 5) is True


def test_face_crop_no_face_names_if_no_face(node_classes, detector):
    from svfr_model.errors import NoFaceError

    with pytest.raises(NoFaceError) as info:
        node_classes["SVFRFaceCrop"].execute(images=torch.full((2, 64, 64, 3), 0.4), detector=detector, **FACE)
    text = str(info.value)
    assert text.endswith("set 'if_no_face' = 'pass through' to return the frames untouched")
    assert "allow_no_face" not in text and "max_side" not in text and "min_face" not in text
    assert info.value.options == ("max_side", "min_face", "allow_no_face")  # the facts travel unchanged


def test_video_restore_no_face_names_if_no_face(node_classes, svfr_handle, detector, tmp_path):
    from svfr_model.errors import NoFaceError

    video = _video(tmp_path, np.full((2, 64, 64, 3), 90, np.uint8))
    run = dict(model=svfr_handle, detector=detector, task=BFR, video=video, **SAMPLING, **PASTE)
    with pytest.raises(NoFaceError, match="set 'if_no_face' = 'pass through' to return the frames untouched$"):
        node_classes["SVFRVideoRestore"].execute(**run, **FACE)
    out = node_classes["SVFRVideoRestore"].execute(**run, **{**FACE, "if_no_face": "pass through"})
    assert out.result[0].get_stream_source()


def test_face_index_past_the_tracks_names_faces_and_index(node_classes, detector):
    from svfr_model.errors import InputError

    frames = torch.from_numpy(_face_frames(3)).float() / 255
    with pytest.raises(InputError) as info:
        node_classes["SVFRFaceCrop"].execute(images=frames, detector=detector, **{**FACE, "faces": "index",
                                                                                  "index": 2})
    assert str(info.value).startswith("'faces' = 'index' with 'index' = 2: only 1 face track(s) found")
    assert str(info.value).endswith("'faces' = 'all' restores every face")


def test_one_frame_at_crop_size_64(node_classes, svfr_handle, crops_and_record, detector, tmp_path):
    """The issue's case: torch's "Expected more than 1 value per channel when training" from the tiny UNet's
    1x1 level. Now both restoring nodes return a frame."""
    crops, _record = crops_and_record
    out = node_classes["SVFRSampler"].execute(model=svfr_handle, crops=crops[:1], task=BFR, **SAMPLING)
    assert out.result[0].shape == (1, 64, 64, 3)
    video = _video(tmp_path, _face_frames(1))
    out = node_classes["SVFRVideoRestore"].execute(model=svfr_handle, detector=detector, task=BFR, video=video,
                                                   **FACE, **SAMPLING, **PASTE)
    assert out.result[0].get_components().images.shape[0] == 1


@pytest.mark.fault("graph wiring", "inpainting without a mask (warning on the page)")
def test_inpainting_without_mask_reaches_the_page(node_classes, svfr_handle, crops_and_record, page):
    crops, record = crops_and_record
    out = node_classes["SVFRSampler"].execute(model=svfr_handle, crops=crops[:2], task=torch.tensor([1.0, 0, 1.0]),
                                              **SAMPLING)
    want = ("inpainting task without a 'mask': nothing is painted (as in the official code); give a 'mask' "
            "marking the region to fill")
    # (the tiny model's pass-1 frame holds no detectable face: that notice comes too)
    assert list(out.ui) == ["svfr_notices"] and out.ui["svfr_notices"][0] == want
    assert len(page.texts) == 1 and page.texts[0][0] == "7" and page.texts[0][1].startswith(f"⚠ {want}\n")


@pytest.mark.fault("graph wiring", "colour match on a gray video (warning on the page)")
def test_colour_match_skipped_on_a_gray_video_is_shown(node_classes, crops_and_record, page):
    crops, record = crops_and_record
    gray = torch.full((3, *record.frame_size, 3), 0.3)
    out = node_classes["SVFRPasteBack"].execute(images=gray, restored=crops, faces=record, feather=32,
                                                color_match="lab", erode=24)
    assert out.ui["svfr_notices"] == ["'color_match' skipped: the video is grayscale, and matching the restored "
                                      "faces to it would take their colour away (colorization)"]
    assert page.texts and "'color_match' skipped" in page.texts[0][1]


@pytest.mark.fault("faces", "a face lost for many frames (warning on the page)")
def test_face_lost_for_many_frames_is_shown(node_classes, detector, page):
    face = _face_frames(1)[0]
    frames = np.full((26, 96, 96, 3), 60, np.uint8)
    frames[:3] = face
    frames[23:] = face  # gone for 20 frames in the middle: more than the 12 bridged
    out = node_classes["SVFRFaceCrop"].execute(images=torch.from_numpy(frames).float() / 255, detector=detector,
                                               **FACE)
    notes = out.ui["svfr_notices"]
    assert notes == ["face track 0 was not found in frames 3-22 (20 frames, more than the 12 bridged): they are "
                     "left unrestored"]  # the hint names max_side/min_face: the node has neither, so it is left out


@pytest.mark.fault("memory", "a preset slow on this card (warning on the page)")
def test_a_preset_slow_on_this_card_is_shown(node_classes, svfr_handle, crops_and_record, monkeypatch, page):
    import sys

    crops, record = crops_and_record
    sampler = node_classes["SVFRSampler"]
    options = sys.modules[sampler.__module__.rsplit(".", 1)[0] + ".sampling_options"]
    monkeypatch.setattr(options, "comfy_free_bytes", lambda model: 1 << 30)  # a card with 1 GiB free
    out = sampler.execute(model=svfr_handle, crops=crops[:2], task=BFR, preset="high_vram", **SAMPLING)
    note = out.ui["svfr_notices"][0]
    assert note.startswith("'preset' = 'high_vram' needs about ") and "1.0 GiB free on this card" in note
    assert note.endswith("'preset' = 'low_vram' needs the least")
