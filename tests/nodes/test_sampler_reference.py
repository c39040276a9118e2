"""SVFRSampler with a user's photo of any size as reference: cropped like the crops, pass 1 skipped.

Tiny models at 64x64 crops, 1 step per pass (the CPU is shared).
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from testdata import astronaut

pytestmark = pytest.mark.comfy
SIZE = 64
ARGS = dict(seed=5, steps=1, pass1_steps=1, guidance_min=1.5, guidance_max=2.5, window=2, overlap=1,
            noise_aug=0.0, i2i_strength=1.0, decode_chunk=2)
TASK = torch.tensor([1.0, 0.0, 0.0])


def _count_calls(comfy_utils, fn):
    calls = []
    saved = comfy_utils.PROGRESS_BAR_HOOK
    comfy_utils.set_progress_bar_global_hook(lambda v, t, p, node_id=None: calls.append((v, t)))
    try:
        return fn(), calls
    finally:
        comfy_utils.set_progress_bar_global_hook(saved)


@pytest.fixture(scope="module")
def portrait():
    """An arbitrary-size portrait as LoadImage gives it: (1, 420, 300, 3) float 0..1."""
    photo = cv2.resize(astronaut(), (300, 420), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(photo.astype(np.float32) / 255.0)[None]


def test_photo_of_any_size_is_cropped_like_the_crops_and_skips_pass_one(comfy, node_classes, svfr_handle,
                                                                        crops_and_record, portrait):
    import comfy.utils

    from svfr_model.faces.detect import load_detector
    from svfr_model.faces.reference import crop_reference
    from svfr_model.diffusion.passes import restore_video

    crops, record = crops_and_record
    sampler = node_classes["SVFRSampler"]
    (restored, ref_used), calls = _count_calls(comfy.utils, lambda: sampler.execute(
        model=svfr_handle, crops=crops, task=TASK, faces=record, reference=portrait, **ARGS).result)
    _, calls_pass1 = _count_calls(comfy.utils, lambda: sampler.execute(
        model=svfr_handle, crops=crops, task=TASK, faces=record, **ARGS))

    crop, landmarks = crop_reference(portrait[0], load_detector(), size=SIZE, mode=record.mode)
    direct = restore_video(svfr_handle.models, crops, tasks=[1, 0, 0], reference=crop,
                           reference_landmarks=landmarks, dtype=svfr_handle.dtype, device=svfr_handle.device,
                           **ARGS)
    assert restored.shape == crops.shape and ref_used.shape == (1, SIZE, SIZE, 3)
    assert torch.equal(restored, direct.frames)
    # the reference used is the photo's face crop (as 8-bit pixels), not the photo squashed to 64x64
    assert torch.allclose(ref_used[0], (torch.from_numpy(crop) * 255).round() / 255, atol=1e-6)
    # it shows the face framed like the video's crops (same person; the photo is stretched 300x420, so
    # not identical): much closer to the first crop than the photo squashed to 64x64 is (0.14 vs 0.35)
    squashed = torch.from_numpy(cv2.resize(portrait[0].numpy(), (SIZE, SIZE), interpolation=cv2.INTER_AREA))
    assert float((ref_used[0] - crops[0]).abs().mean()) < 0.5 * float((squashed - crops[0]).abs().mean())
    assert calls[-1][1] < calls_pass1[-1][1]  # fewer UNet calls: no pass 1


def test_photo_without_a_record_is_cropped_in_tracked_mode(node_classes, svfr_handle, crops_and_record, portrait):
    crops, record = crops_and_record
    with_record = node_classes["SVFRSampler"].execute(
        model=svfr_handle, crops=crops, task=TASK, faces=record, reference=portrait, **ARGS).result
    without = node_classes["SVFRSampler"].execute(
        model=svfr_handle, crops=crops, task=TASK, reference=portrait, **ARGS).result
    assert torch.equal(with_record[0], without[0]) and torch.equal(with_record[1], without[1])


def test_crop_sized_reference_is_used_as_is(node_classes, svfr_handle, crops_and_record, monkeypatch):
    """The chaining case (a first sampler's reference): no detection or re-crop on the node side."""
    import svfr_model.faces.reference as reference_mod

    crops, record = crops_and_record

    def must_not_run(*a, **k):
        raise AssertionError("crop_reference called for a crop-sized reference")

    monkeypatch.setattr(reference_mod, "crop_reference", must_not_run)
    ref = crops[1:2]
    _, ref_used = node_classes["SVFRSampler"].execute(
        model=svfr_handle, crops=crops, task=TASK, faces=record, reference=ref, **ARGS).result
    assert torch.allclose(ref_used, (ref * 255).round() / 255, atol=1e-6)


@pytest.mark.fault("faces", "a reference photo without a face")
def test_photo_without_a_face_names_the_reference_input(node_classes, svfr_handle, crops_and_record):
    from svfr_model.errors import NoFaceError

    crops, record = crops_and_record
    flat = torch.full((1, 200, 150, 3), 0.5)
    with pytest.raises(NoFaceError, match="no face found in the reference image"):
        node_classes["SVFRSampler"].execute(model=svfr_handle, crops=crops, task=TASK, faces=record,
                                            reference=flat, **ARGS)


@pytest.mark.fault("graph wiring", "a wrong number of references")
def test_wrong_number_of_references_is_refused_before_any_detection(node_classes, svfr_handle, crops_and_record,
                                                                     portrait, monkeypatch):
    import svfr_model.faces.reference as reference_mod
    from svfr_model.errors import InputError

    crops, record = crops_and_record
    monkeypatch.setattr(reference_mod, "crop_reference",
                        lambda *a, **k: (_ for _ in ()).throw(AssertionError("detection ran")))
    with pytest.raises(InputError, match="'reference' has 3 images: give 1"):
        node_classes["SVFRSampler"].execute(model=svfr_handle, crops=crops, task=TASK, faces=record,
                                            reference=portrait.repeat(3, 1, 1, 1), **ARGS)
