"""SVFRSampler on the tiny models: equals a direct restore_video call, progress, interrupt, SRR chaining, tracks.

Runs are few and tiny (3 crops of 64x64, 1 step per pass): the machine's CPU is shared.
"""
from __future__ import annotations

import copy

import pytest
import torch


pytestmark = pytest.mark.comfy
SIZE = 64  # = conftest.SAMPLER_CROP_SIZE: the tiny parity UNet runs at 64x64 crops
ARGS = dict(seed=5, steps=1, pass1_steps=1, guidance_min=1.5, guidance_max=2.5, window=2, overlap=1,
            noise_aug=0.0, i2i_strength=1.0, decode_chunk=2)
TASK = torch.tensor([1.0, 0.0, 0.0])


def _hook(calls):
    return lambda value, total, preview, node_id=None: calls.append((value, total, preview))


def _direct(handle, crops, record, **extra):
    """The engine called directly with the node's arguments (reference landmarks from the record)."""
    from svfr_model.diffusion.passes import restore_video

    seen = []
    # the tiny random model's reference holds no detectable face: the node falls back to the record's
    # landmarks of the pass-1 reference frame, as used here
    lm = record.tracks[0].landmarks[min(ARGS["window"], len(crops)) - 1]
    result = restore_video(handle.models, crops, tasks=[1, 0, 0], reference_landmarks=lm,
                           dtype=handle.dtype, device=handle.device,
                           progress=lambda d, t, p: seen.append((d, t)), **ARGS, **extra)
    return result, seen


def _run_with_method(node_classes, svfr_handle, crops, record, method: str):
    """One node run under ``--preview-method method``; returns (result, progress hook calls)."""
    import comfy.utils
    from comfy.cli_args import LatentPreviewMethod, args

    calls = []
    saved, saved_method = comfy.utils.PROGRESS_BAR_HOOK, args.preview_method
    comfy.utils.set_progress_bar_global_hook(_hook(calls))
    args.preview_method = LatentPreviewMethod(method)
    try:
        out = node_classes["SVFRSampler"].execute(model=svfr_handle, crops=crops, task=TASK, faces=record, **ARGS)
    finally:
        comfy.utils.set_progress_bar_global_hook(saved)
        args.preview_method = saved_method
    return out.result, calls


@pytest.fixture(scope="module")
def base_run(comfy, node_classes, svfr_handle, crops_and_record):
    crops, record = crops_and_record
    result, calls = _run_with_method(node_classes, svfr_handle, crops, record, "auto")
    direct, seen = _direct(svfr_handle, crops, record)
    return result, calls, direct, seen


def test_node_equals_direct_engine_call(base_run, crops_and_record):
    crops, _ = crops_and_record
    (restored, reference), _, direct, _ = base_run
    assert restored.shape == crops.shape and reference.shape == (1, SIZE, SIZE, 3)
    assert torch.equal(restored, direct.frames) and torch.equal(reference[0], direct.reference)
    assert (restored - crops).abs().mean() > 0.01  # the model did something


def test_progress_covers_every_call_of_both_passes_with_previews(base_run):
    _, calls, _, seen = base_run
    total = seen[-1][1]
    # the denoising previews repeat the current value; the bar itself moves once per engine tick
    values = [v for i, (v, _, _) in enumerate(calls) if i == 0 or v != calls[i - 1][0]]
    assert values == list(range(1, total + 1)) and calls[-1][:2] == (total, total)
    assert all(t == total for _, t, _ in calls)  # one track: the total is exact from the start
    decoded = [p for _, _, p in calls if p is not None and p[1].size == (SIZE, SIZE)]
    assert decoded and decoded[0][0] == "JPEG"  # the last decoded frame of each VAE chunk


@pytest.mark.slow  # three more tiny runs (engine, latent2rgb, none)
def test_denoising_previews_follow_the_preview_method(node_classes, svfr_handle, crops_and_record, base_run):
    """auto/latent2rgb: the window's predicted latents as an 8x8 (latent-size) image every few UNet calls,
    equal to the linear map of the engine's hook output; none: no preview at all, same result."""
    from svfr_model.diffusion.passes import restore_video
    from svfr_model.diffusion.preview import window_preview
    from svfr_model.diffusion.sampler import PREVIEW_EVERY

    crops, record = crops_and_record
    latent = SIZE // 8
    hooked = []
    lm = record.tracks[0].landmarks[min(ARGS["window"], len(crops)) - 1]
    restore_video(svfr_handle.models, crops, tasks=[1, 0, 0], reference_landmarks=lm, dtype=svfr_handle.dtype,
                  device=svfr_handle.device, preview=hooked.append, **ARGS)
    assert hooked and all(x.shape == (ARGS["window"], 4, latent, latent) for x in hooked)
    for method, result, calls in (("auto", base_run[0], base_run[1]),
                                  ("latent2rgb", *_run_with_method(node_classes, svfr_handle, crops, record,
                                                                   "latent2rgb"))):
        assert torch.equal(result[0], base_run[2].frames)
        live = [p for _, _, p in calls if p is not None and p[1].size == (latent, latent)]
        assert len(live) == len(hooked), method
        for (fmt, image, _), x0 in zip(live, hooked):
            want = (window_preview(x0).numpy() * 255).round()
            got = torch.tensor(list(image.getdata()), dtype=torch.float32).reshape(latent, latent, 3).numpy()
            assert fmt == "JPEG" and abs(got - want).mean() < 2.0, method  # same pixels up to 8-bit rounding
    n_calls = base_run[3][-1][1] - len([p for p in base_run[1] if p[2] is not None and p[2][1].size == (SIZE, SIZE)])
    assert len(hooked) < n_calls and len(hooked) >= n_calls // PREVIEW_EVERY  # every few calls, not each
    result, calls = _run_with_method(node_classes, svfr_handle, crops, record, "none")
    assert torch.equal(result[0], base_run[2].frames)
    assert [p for _, _, p in calls if p is not None] == []
    assert [v for v, _, _ in calls] == list(range(1, base_run[3][-1][1] + 1))


@pytest.mark.fault("cancel and interrupt", "ComfyUI interrupt mid-run")
def test_interrupt_stops_mid_run_and_the_next_run_works(comfy, node_classes, svfr_handle, crops_and_record,
                                                        base_run):
    mm = comfy
    import comfy.utils

    crops, record = crops_and_record
    ticks = []

    def interrupt_at_third(value, total, preview, node_id=None):
        ticks.append(value)
        if value == 3:
            mm.interrupt_current_processing(True)

    saved = comfy.utils.PROGRESS_BAR_HOOK
    comfy.utils.set_progress_bar_global_hook(interrupt_at_third)
    try:
        with pytest.raises(mm.InterruptProcessingException):
            node_classes["SVFRSampler"].execute(model=svfr_handle, crops=crops, task=TASK, faces=record, **ARGS)
    finally:
        comfy.utils.set_progress_bar_global_hook(saved)
    assert ticks[-1] == 3 < base_run[3][-1][1]  # stopped right after the third tick, before the end
    assert not mm.processing_interrupted()  # the flag was consumed: the next prompt can run
    again = node_classes["SVFRSampler"].execute(model=svfr_handle, crops=crops, task=TASK, faces=record, **ARGS)
    assert torch.equal(again.result[0], base_run[2].frames)


def test_explicit_reference_skips_pass_one(comfy, node_classes, svfr_handle, crops_and_record, base_run):
    """SRR chaining: a first sampler's reference output drives a second sampler (pass 1 skipped)."""
    import comfy.utils

    crops, record = crops_and_record
    ref = base_run[0][1]
    calls = []
    saved = comfy.utils.PROGRESS_BAR_HOOK
    comfy.utils.set_progress_bar_global_hook(_hook(calls))
    try:
        restored, ref_used = node_classes["SVFRSampler"].execute(
            model=svfr_handle, crops=crops, task=TASK, faces=record, reference=ref, **ARGS).result
    finally:
        comfy.utils.set_progress_bar_global_hook(saved)
    # the engine uses the reference as 8-bit pixels, as the official code does
    assert torch.allclose(ref_used, (ref * 255).round() / 255, atol=1e-6)
    direct, seen = _direct(svfr_handle, crops, record, reference=ref[0])
    assert torch.equal(restored, direct.frames)
    assert calls[-1][1] == seen[-1][1] < base_run[3][-1][1]  # fewer calls: no pass 1


@pytest.mark.slow  # > 30 s in the fresh-clone run (72 CPU-s with the shared base run)
def test_each_face_track_is_restored_on_its_own(comfy, node_classes, svfr_handle, crops_and_record, base_run):
    import comfy.utils

    crops, record = crops_and_record
    two = copy.deepcopy(record)
    two.tracks = [record.tracks[0], copy.deepcopy(record.tracks[0])]
    calls = []
    saved = comfy.utils.PROGRESS_BAR_HOOK
    comfy.utils.set_progress_bar_global_hook(_hook(calls))
    try:
        both, refs = node_classes["SVFRSampler"].execute(model=svfr_handle, crops=torch.cat([crops, crops]),
                                                         task=TASK, faces=two, **ARGS).result
    finally:
        comfy.utils.set_progress_bar_global_hook(saved)
    n = crops.shape[0]
    single, ref1 = base_run[0]
    assert torch.equal(both[:n], single) and torch.equal(both[n:], single)
    assert refs.shape[0] == 2 and torch.equal(refs[1], ref1[0])
    # one bar over both tracks: the second track is estimated from the first until it runs
    one = base_run[3][-1][1]
    assert calls[0][1] == 2 * one and calls[-1][:2] == (2 * one, 2 * one)
    assert [v for v, _, _ in calls] == list(range(1, 2 * one + 1))


def test_inpainting_mask_reaches_the_engine(node_classes, svfr_handle, crops_and_record, base_run):
    """Frame-space mask -> SVFR Inpaint Mask -> sampler == the engine with the warped mask."""
    crops, record = crops_and_record
    h, w = record.frame_size
    frame_mask = torch.zeros((h, w))
    frame_mask[: h // 3] = 1.0  # top third of the frame: the hair in the crops
    masks = node_classes["SVFRInpaintMask"].execute(mask=frame_mask, space="frame", faces=record).result[0]
    assert 0.05 < float((masks >= 0.5).float().mean()) < 0.95
    task = torch.tensor([1.0, 0.0, 1.0])
    restored, _ = node_classes["SVFRSampler"].execute(model=svfr_handle, crops=crops, task=task, faces=record,
                                                      mask=masks, **ARGS).result
    from svfr_model.diffusion.passes import restore_video

    lm = record.tracks[0].landmarks[min(ARGS["window"], len(crops)) - 1]
    direct = restore_video(svfr_handle.models, crops, tasks=[1, 0, 1], mask=masks, reference_landmarks=lm,
                           dtype=svfr_handle.dtype, device=svfr_handle.device, **ARGS)
    assert torch.equal(restored, direct.frames)
    assert not torch.equal(restored, base_run[0][0])  # the painted region changed the result


@pytest.mark.fault("graph wiring", "crops not matching the record")
def test_crops_not_matching_the_record_are_refused(node_classes, svfr_handle, crops_and_record):
    from svfr_model.errors import InputError

    crops, record = crops_and_record
    with pytest.raises(InputError, match="same SVFR Face Crop"):
        node_classes["SVFRSampler"].execute(model=svfr_handle, crops=crops[:2], task=TASK, faces=record, **ARGS)


def test_no_crops_pass_through_empty(node_classes, svfr_handle):
    empty = torch.zeros((0, SIZE, SIZE, 3))
    restored, ref = node_classes["SVFRSampler"].execute(model=svfr_handle, crops=empty, task=TASK, **ARGS).result
    assert restored.shape == (0, SIZE, SIZE, 3) and ref.shape[0] == 0


def test_validation_refuses_overlap_not_below_window(node_classes):
    validate = node_classes["SVFRSampler"].validate_inputs
    assert "must be smaller than 'window' (4)" in validate(window=4, overlap=4)
    assert validate(window=1, overlap=0) == "'window' must be an integer in [2, 64], got 1"  # ComfyUI skips min/max
    assert validate(window=16, overlap=3) is True and validate(window=None, overlap=3) is True


def test_reference_without_a_face_and_no_record_says_what_to_connect(node_classes, svfr_handle, crops_and_record):
    from svfr_model.errors import NoFaceError

    crops, _ = crops_and_record
    flat = torch.full((1, SIZE, SIZE, 3), 0.5)  # no face: detection fails before any denoising
    with pytest.raises(NoFaceError, match="connect the sampler's 'faces' input"):
        node_classes["SVFRSampler"].execute(model=svfr_handle, crops=crops, task=TASK, reference=flat, **ARGS)
