"""SVFRVideoRestore: core VIDEO in, VIDEO out, streamed from file to file (memory does not grow with length).

The same detection, tracking, restoration and paste-back as the modular graph (Face Crop -> Sampler ->
Paste Back), run by ``svfr_model.restore.file`` straight from the input file to a temporary output file;
the output is a file-backed VIDEO, so Save Video and other VIDEO consumers read it from disk.
"""
from __future__ import annotations

import os
import uuid

import torch

from comfy_api.v0_0_2 import io

from . import host
from .face_options import (color_match_input, erode_input, face_inputs, face_options_from, feather_input,
                           paste_options_from, reid_input)
from .sampling_options import (OOM_HINT, check_window, estimate_for, memory_options, preset_input,  # noqa: F401
                               sampling_inputs, sampling_options_from)
from .types import CATEGORY, SVFRFaceDetector, SVFRModel, SVFRTask, image_to_frames, mask_to_batch
from .wording import speaks_widgets



class StagedProgress:
    """One ComfyUI progress bar over the stages of a streamed run: detection, each face track, paste-back.

    Detection and paste-back take 10 % each, the tracks share the rest equally once their number is known.
    """

    STEPS = 1000

    def __init__(self):
        import comfy.utils

        self.bar = comfy.utils.ProgressBar(self.STEPS)
        self.previews = host.previews_enabled()
        self.span = (0.0, 0.1)
        self.value = 0

    def stage(self, label: str):
        if label == "faces":
            self.span = (0.0, 0.1)
        elif label == "paste":
            self.span = (0.9, 1.0)
        else:  # "restore face k/K" or "restore"
            k, n = (int(v) for v in label.split()[-1].split("/")) if "/" in label else (1, 1)
            width = 0.8 / n
            self.span = (0.1 + (k - 1) * width, 0.1 + k * width)
        return self.update

    def update(self, done: int, total, preview=None) -> None:
        if not total:
            return
        a, b = self.span
        self.value = int(self.STEPS * (a + (b - a) * min(done / total, 1.0)))
        self.bar.update_absolute(self.value, self.STEPS,
                                 host._preview_tuple(preview) if self.previews and preview is not None else None)

    def show_latents(self, x0) -> None:
        """Engine preview hook: the window's predicted latents as an image, at the current progress."""
        from svfr_model.diffusion.preview import window_preview

        self.bar.update_absolute(self.value, self.STEPS, host._preview_tuple(window_preview(x0)))


def _input_path(video) -> str:
    """A file path for the VIDEO input: its own file, else a temporary copy (in-memory or generated video)."""
    import folder_paths

    source = video.get_stream_source() if hasattr(video, "get_stream_source") else None
    if isinstance(source, str) and os.path.isfile(source):
        return source
    path = os.path.join(folder_paths.get_temp_directory(), f"svfr_input_{uuid.uuid4().hex}.mp4")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    video.save_to(path)
    return path


class SVFRVideoRestore(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SVFRVideoRestore",
            display_name="SVFR Restore Video (streaming)",
            category=CATEGORY,
            description=(
                "Restores the faces of a whole video, reading it from its file and writing a new file chunk "
                "by chunk, so memory does not grow with the video's length: face detection and tracking, "
                "SVFR's two-pass restoration of every face track, paste-back. Fps, timestamps, rotation and "
                "audio are kept. The same options as Face Crop -> Sampler -> Paste Back."
            ),
            inputs=[
                SVFRModel.Input("model", tooltip="From SVFR Model Loader."),
                SVFRFaceDetector.Input("detector", tooltip="From SVFR Face Detector Loader."),
                SVFRTask.Input("task", tooltip="From SVFR Task: BFR / colorization / inpainting."),
                io.Video.Input("video", tooltip="The video (core Load Video); any size and length."),
                io.Mask.Input("mask", optional=True,
                              tooltip="Inpainting region drawn on the video frame (one mask for all frames)."),
                io.Image.Input("reference", optional=True,
                               tooltip="A good image of the face: skips pass 1. One image, or one per face track."),
                *face_inputs(mode_tooltip="tracked: a smoothed box per frame. official: one static box per face.",
                             no_face_tooltip="error: stop with a message. pass through: the video comes back "
                                             "unchanged."),
                *sampling_inputs(),
                feather_input(),
                erode_input(),
                color_match_input(),
                preset_input(),
                reid_input(with_model=True),
            ],
            outputs=[
                io.Video.Output("restored_video", display_name="video",
                                tooltip="The restored video (a file in ComfyUI's temp folder), for Save Video."),
            ],
        )

    @classmethod
    @speaks_widgets
    def validate_inputs(cls, window: int, overlap: int) -> bool | str:
        return check_window(cls, window, overlap)

    @classmethod
    @speaks_widgets
    def execute(cls, model, detector, task, video, mask=None, reference=None, preset: str = "default",
                reid: str = "auto", **widgets) -> io.NodeOutput:
        import folder_paths
        from comfy_api.v0_0_2 import InputImpl
        from svfr_model.errors import InputError
        from svfr_model.restore.file import restore_file
        from svfr_model.restore.options import RestoreOptions

        face = {k: widgets.pop(k) for k in ("mode", "faces", "index", "crop_size", "if_no_face")}
        paste = {k: widgets.pop(k) for k in ("feather", "erode", "color_match")}
        size = int(face["crop_size"])
        options = RestoreOptions(sampling=sampling_options_from(task, preset=preset, model=model, height=size,
                                                                width=size, **widgets),
                                 faces=face_options_from(reid=reid, **face), paste=paste_options_from(**paste))
        frame_mask = None
        if mask is not None:
            masks = mask_to_batch(mask, "mask")
            if masks.shape[0] != 1:
                raise InputError(f"input 'mask' has {masks.shape[0]} frames: the streaming node takes one mask for "
                                 "all frames (use the modular graph with SVFR Inpaint Mask for per-frame masks)")
            frame_mask = masks[0].numpy()
        refs = [r.numpy() for r in image_to_frames(reference, "reference")] if reference is not None else None
        out_dir = folder_paths.get_temp_directory()
        os.makedirs(out_dir, exist_ok=True)
        dst = os.path.join(out_dir, f"svfr_restored_{uuid.uuid4().hex}.mp4")
        need = estimate_for(model.models, options.sampling, size, size, options.sampling.window)
        host.load_for_inference(model, memory_required=need.required, minimum_memory_required=need.minimum)
        progress = StagedProgress()
        options = RestoreOptions(sampling=options.sampling.replace(dtype=model.dtype, device=model.device),
                                 faces=options.faces, paste=options.paste)
        try:
            restore_file(model.models, _input_path(video), dst, options, detector=detector, mask=frame_mask,
                         reference=refs, progress_for=progress.stage, cancel=host.cancel_check,
                         preview=progress.show_latents if progress.previews else None)
        except torch.OutOfMemoryError as exc:  # the engine's message says what; this says where to change it
            raise torch.OutOfMemoryError(f"{exc}\n{OOM_HINT}") from exc
        host.release_cache()
        return io.NodeOutput(InputImpl.VideoFromFile(dst))


__all__ = ["SVFRVideoRestore", "StagedProgress"]
