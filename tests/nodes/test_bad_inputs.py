"""Node inputs with NaN/inf or on the 0..255 scale: a node error naming the input and the fix, before any work.

ComfyUI IMAGE and MASK values are float 0..1; before, 0..255 data was clamped (a white picture) and a NaN mask
reached the sampler as a bare "NaN" message.
"""
from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.comfy
ARGS = dict(seed=5, steps=1, pass1_steps=1, guidance_min=2.0, guidance_max=2.0, window=2, overlap=1,
            noise_aug=0.0, i2i_strength=1.0, decode_chunk=2)
TASK = torch.tensor([1.0, 0.0, 1.0])  # BFR + inpainting: the mask input is used


def _nan_at(t: torch.Tensor, value=float("nan")) -> torch.Tensor:
    t = t.clone()
    t.view(-1)[t.numel() // 2] = value
    return t


@pytest.mark.fault("pixels and masks", "IMAGE on the 0..255 scale")
def test_face_crop_refuses_0_255_images(node_classes):
    from svfr_model.errors import InputError

    images = torch.rand((2, 64, 96, 3)) * 255
    # refused before any detection: the detector is never used (None would fail otherwise)
    with pytest.raises(InputError, match=r"^input 'images' looks like 0\.\.255 values .*divide by 255"):
        node_classes["SVFRFaceCrop"].execute(images=images, detector=None, mode="tracked", faces="largest",
                                             index=0, crop_size=64, if_no_face="error")


@pytest.mark.fault("pixels and masks", "MASK with NaN or inf")
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_inpaint_mask_refuses_nan_or_inf(node_classes, bad):
    from svfr_model.errors import InputError

    mask = _nan_at(torch.zeros((3, 64, 64)), bad)
    for space in ("crop", "frame"):  # crop space used to pass the mask through unchecked
        with pytest.raises(InputError, match="^input 'mask' contains NaN or inf values; fix the node"):
            node_classes["SVFRInpaintMask"].execute(mask=mask, space=space)


@pytest.mark.fault("pixels and masks", "MASK on the 0..255 scale")
def test_inpaint_mask_refuses_0_255_and_keeps_good_masks(node_classes):
    from svfr_model.errors import InputError

    node = node_classes["SVFRInpaintMask"]
    with pytest.raises(InputError, match=r"^input 'mask' looks like 0\.\.255 values \(max 255\)"):
        node.execute(mask=torch.full((64, 64), 255.0), space="crop")
    good = torch.rand((3, 64, 64))
    assert torch.equal(node.execute(mask=good, space="crop").result[0], good)


@pytest.mark.fault("pixels and masks", "bad crops, mask or reference values on the Sampler")
def test_sampler_names_crops_mask_and_reference(node_classes, svfr_handle, crops_and_record):
    from svfr_model.errors import InputError

    crops, record = crops_and_record
    sampler = node_classes["SVFRSampler"]
    run = dict(model=svfr_handle, task=TASK, faces=record, **ARGS)
    with pytest.raises(InputError, match=r"^input 'crops' looks like 0\.\.255"):
        sampler.execute(crops=crops * 255, **run)
    with pytest.raises(InputError, match="^input 'mask' contains NaN or inf"):
        sampler.execute(crops=crops, mask=_nan_at(torch.zeros((3, 64, 64))), **run)
    with pytest.raises(InputError, match=r"^input 'reference' looks like 0\.\.255"):
        sampler.execute(crops=crops, reference=crops[:1] * 255, **run)


@pytest.mark.fault("pixels and masks", "restored crops on the 0..255 scale, NaN frames")
def test_paste_back_refuses_0_255_restored_crops(node_classes, crops_and_record):
    from svfr_model.errors import InputError

    crops, record = crops_and_record
    frames = torch.full((3, *record.frame_size, 3), 0.3)
    with pytest.raises(InputError, match=r"^input 'restored' looks like 0\.\.255"):
        node_classes["SVFRPasteBack"].execute(images=frames, restored=crops * 255, faces=record, feather=32,
                                              color_match="none", erode=24)
    with pytest.raises(InputError, match="^input 'images' contains NaN"):
        node_classes["SVFRPasteBack"].execute(images=_nan_at(frames), restored=crops, faces=record, feather=32,
                                              color_match="none", erode=24)
