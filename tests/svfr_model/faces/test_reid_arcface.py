"""ArcFace as the face describer for re-joining tracks (faces.reid.ArcFaceDescriber, faces.reid.describers_for)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from svfr_model.networks.arcface import IResNet
from svfr_model.errors import InputError
from svfr_model.faces.align import SVFR_TEMPLATE_256, align_for_arcface
from svfr_model.faces.plan import detect_faces
from svfr_model.faces.reid import ArcFaceDescriber, describers_for
from testdata import carphone, read_video_rgb


def _tiny_arcface() -> IResNet:
    torch.manual_seed(0)
    model = IResNet(layers=(1, 1, 1, 1), widths=(8, 8, 16, 16), num_features=32).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so the embedding head is exercised
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model


def test_embeddings_are_arcface_head_outputs_in_unit_length():
    model = _tiny_arcface()
    describe = ArcFaceDescriber(model, every=1)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(300, 320, 3), dtype=np.uint8)
    lms = np.stack([SVFR_TEMPLATE_256 * 0.5 + 10, SVFR_TEMPLATE_256 * 0.6 + 120])
    out = describe(img, lms)
    assert out.shape == (2, 32) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    with torch.no_grad():  # the 512-d (here 32-d) embedding of the aligned ArcFace crop, normalised
        emb, _ = model(align_for_arcface(img, lms[1], crop="corrected"), return_features=True)
    np.testing.assert_allclose(out[1], torch.nn.functional.normalize(emb, dim=1)[0].numpy(), atol=1e-5)
    assert float(out[0] @ out[1]) < 0.999  # two different faces, two vectors


def test_face_off_the_frame_gives_a_zero_row_and_the_others_still_count():
    describe = ArcFaceDescriber(_tiny_arcface(), every=1)
    img = np.full((200, 200, 3), 128, np.uint8)
    good = SVFR_TEMPLATE_256 * 0.5 + 20
    far = good + 1000  # coordinates of another frame size
    out = describe(img, np.stack([good, far]))
    assert np.linalg.norm(out[0]) == pytest.approx(1.0, abs=1e-5) and not out[1].any()


def test_sampling_default_and_errors():
    model = _tiny_arcface()
    assert ArcFaceDescriber(model).every == 10  # on the CPU one face costs ~0.2 s with the real network
    with pytest.raises(InputError, match="every"):
        ArcFaceDescriber(model, every=0)
    with pytest.raises(InputError, match="needs the ArcFace model"):
        ArcFaceDescriber(None)


def test_reid_option_resolution():
    model = _tiny_arcface()
    def names(reid, arcface):
        return [d.name for d in describers_for(reid, arcface)]

    assert names("auto", None) == ["appearance"]
    assert names("appearance", model) == ["appearance"]
    assert names("off", model) == []
    got = describers_for("auto", model)
    assert names("auto", model) == ["arcface", "appearance"] and isinstance(got[0], ArcFaceDescriber)
    with pytest.raises(InputError, match="insightface_glint360k"):
        describers_for("arcface", None)
    with pytest.raises(InputError, match="reid must be one of"):
        describers_for("face", model)


def test_detection_pass_samples_arcface_and_describes_every_face_by_appearance():
    from svfr_model.faces.detect import load_detector

    frames = np.stack(read_video_rgb(carphone(), max_frames=23))
    found = detect_faces([frames], load_detector(), reid=[ArcFaceDescriber(_tiny_arcface(), every=5)])
    assert [d.name for d in found.describers] == ["arcface", "appearance"]
    assert sorted(found.descriptors["arcface"]) == [0, 5, 10, 15, 20]
    assert sorted(found.descriptors["appearance"]) == list(range(23))
    for f, rows in found.descriptors["arcface"].items():
        assert rows.shape == (len(found.detections[f][0]), 32) and rows.dtype == np.float16
        np.testing.assert_allclose(np.linalg.norm(rows.astype(np.float32), axis=1), 1.0, atol=2e-3)


def test_sampling_counts_searched_frames_with_detect_every():
    from svfr_model.faces.detect import load_detector

    frames = np.stack(read_video_rgb(carphone(), max_frames=23))
    found = detect_faces([frames], load_detector(), detect_every=2,
                         reid=[ArcFaceDescriber(_tiny_arcface(), every=5)])
    assert sorted(found.descriptors["arcface"]) == [0, 10, 20]  # every 5th of the frames searched (0, 2, 4, ...)
    assert sorted(found.descriptors["appearance"]) == list(range(0, 23, 2))  # 22 is also the last frame
