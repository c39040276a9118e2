"""SVFRSampler: the two-pass self-referred refinement over face crops, inside ComfyUI's model management."""
from __future__ import annotations

import torch
from comfy_api.v0_0_2 import io

from . import host
from .sampling_options import (OOM_HINT, check_window, estimate_for, memory_options, preset_input,  # noqa: F401
                               sampling_inputs, sampling_options_from)
from .types import (CATEGORY, SVFRFaceCrops, SVFRMask, SVFRModel, SVFRTask, image_to_frames, mask_to_batch,
                    to_output, track_lengths)
from .wording import speaks_widgets


def _pick(tensor: torch.Tensor | None, start: int, n: int, n_total: int, name: str):
    """Slice a per-frame input to one track; a single frame/mask applies to every track."""
    from svfr_model.errors import InputError

    if tensor is None:
        return None
    if tensor.shape[0] == 1:
        return tensor
    if tensor.shape[0] != n_total:
        raise InputError(f"input '{name}' has {tensor.shape[0]} frames: give 1 or one per crop frame ({n_total})")
    return tensor[start:start + n]


NO_FACE_HINT = ("In ComfyUI: connect the sampler's 'faces' input to the faces output of "
                "SVFR Face Crop (its landmarks are then used), or give a reference with a clear face.")


class SVFRSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SVFRSampler",
            display_name="SVFR Sampler",
            category=CATEGORY,
            description=(
                "Restores face crops with SVFR's self-referred refinement: pass 1 restores the first "
                "window and takes its last frame as the reference (look and identity), pass 2 restores "
                "every frame in overlapping windows conditioned on it. Give a reference image to skip "
                "pass 1 (chain a first sampler's reference, or use a good photo of the person). RAM: crops "
                "in and restored crops out are float32 IMAGE batches, ~3 MB per frame and face each at 512, "
                "beside the full frames of the graph (H x W x 3 x 4 bytes per frame: ~24 MB at 1080p). For "
                "long clips use SVFR Restore Video (streaming): its memory does not grow with the length."
            ),
            inputs=[
                SVFRModel.Input("model", tooltip="From SVFR Model Loader."),
                io.Image.Input("crops", tooltip="Face crops (from SVFR Face Crop), 512x512 frames."),
                SVFRTask.Input("task", tooltip="From SVFR Task: BFR / colorization / inpainting."),
                SVFRMask.Input("mask", optional=True,
                               tooltip="Inpainting region in crop space (from SVFR Inpaint Mask)."),
                io.Image.Input("reference", optional=True,
                               tooltip="A good image of the face: skips pass 1. One image, or one per face track. "
                                       "A photo of another size is face-detected and cropped like the crops."),
                SVFRFaceCrops.Input("faces", optional=True,
                                    tooltip="The crop record: restores each face track on its own "
                                            "(needed when the crops hold several faces)."),
                *sampling_inputs(),
                preset_input(),
            ],
            outputs=[
                io.Image.Output("restored", display_name="restored", tooltip="Restored crops, same frames and order as 'crops'."),
                io.Image.Output("reference_used", display_name="reference", tooltip="The reference frame used, one per face track."),
            ],
        )

    @classmethod
    @speaks_widgets
    def validate_inputs(cls, window: int, overlap: int) -> bool | str:
        return check_window(cls, window, overlap)

    @classmethod
    @speaks_widgets
    def execute(cls, model, crops, task, mask=None, reference=None, faces=None, preset: str = "default",
                **widgets) -> io.NodeOutput:
        from svfr_model.restore.tracks import restore_tracks

        frames = image_to_frames(crops, "crops")
        n_total, size = int(frames.shape[0]), int(frames.shape[1])
        options = sampling_options_from(task, preset=preset, model=model, height=size, width=int(frames.shape[2]),
                                        **widgets)
        lengths = track_lengths(faces, n_total, "crops") if faces is not None else [n_total]
        if n_total == 0:  # a clip without faces passed through by SVFR Face Crop: nothing to restore
            empty = torch.zeros((0, size, int(frames.shape[2]), 3))
            return io.NodeOutput(to_output(empty), to_output(empty))
        refs = list(image_to_frames(reference, "reference")) if reference is not None else None
        masks = mask_to_batch(mask, "mask") if mask is not None else None
        starts = [sum(lengths[:k]) for k in range(len(lengths))]
        clips = [frames[s:s + n] for s, n in zip(starts, lengths)]
        track_masks = [_pick(masks, s, n, n_total, "mask") for s, n in zip(starts, lengths)]

        need = estimate_for(model.models, options, size, int(frames.shape[2]), options.window)
        host.load_for_inference(model, memory_required=need.required, minimum_memory_required=need.minimum)
        progress = host.ProgressOverTracks(lengths)

        def progress_for_track(k: int):
            if k:
                progress.finish_track()
            progress.start_track(k)
            return progress.callback

        try:
            results = restore_tracks(
                model.models, clips, faces, options.replace(dtype=model.dtype, device=model.device),
                references=refs, masks=track_masks, progress_for_track=progress_for_track,
                no_face_hint=NO_FACE_HINT, cancel=host.cancel_check,
                preview=progress.show_latents if progress.previews else None,  # live previews while denoising
            )
        except torch.OutOfMemoryError as exc:  # the engine's message says what; this says where to change it
            raise torch.OutOfMemoryError(f"{exc}\n{OOM_HINT}") from exc
        host.release_cache()
        restored = torch.cat([r.frames for r in results])
        references = torch.cat([r.reference[None] for r in results])
        return io.NodeOutput(to_output(restored), to_output(references))
