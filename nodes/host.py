"""ComfyUI host integration shared by the nodes: model folders, dtypes, ModelPatchers, progress, cancel.

Everything that talks to ``comfy.*`` / ``folder_paths`` lives here so the node modules stay thin and
the engine (``svfr_model``) never imports ComfyUI.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

# model folders live in model_folders.py; re-exported because the nodes reach them through host
from .model_folders import (FOLDER_KEY, ROOT_CHOICE, model_folder_choices, register_model_folder,  # noqa: F401
                            resolve_model_folder, svfr_paths)

from svfr_model.precision import DTYPE_NAMES as _DTYPE_NAMES


def pick_dtype(precision: str) -> str:
    """'auto' asks ComfyUI's model management (honours --force-fp16/--fp32-unet..., fp32 on CPU)."""
    import comfy.model_management as mm

    if precision != "auto":
        return precision
    dtype = mm.unet_dtype(mm.get_torch_device(), supported_dtypes=[torch.float16, torch.bfloat16, torch.float32])
    return _DTYPE_NAMES.get(dtype, "fp32")


@dataclass
class SVFRModelHandle:
    """What SVFR_MODEL carries: the engine's models, their ModelPatchers and the chosen precision."""

    models: Any  # svfr_model.weights.models.SVFRModels
    patchers: list = field(default_factory=list)
    dtype: str = "fp32"
    source: str = ""

    @property
    def device(self) -> torch.device:
        return self.patchers[0].load_device if self.patchers else torch.device("cpu")


class PatchTarget(torch.nn.Module):
    """What a ModelPatcher holds: the engine module as a child.

    ModelPatcher writes bookkeeping attributes onto its model (``device``, ``model_lowvram``, ...);
    diffusers models have a read-only ``device`` property, so they cannot be patched directly. Moving
    this wrapper moves the engine's module in place, so the engine keeps using the same object.
    """

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner

    def get_dtype(self) -> torch.dtype:
        return next(self.inner.parameters()).dtype


def wrap_in_patchers(models: Any) -> list:
    """One ModelPatcher per torch module of the model set, so ComfyUI can load and evict them."""
    import comfy.model_management as mm
    import comfy.model_patcher

    load, offload = mm.get_torch_device(), mm.unet_offload_device()
    patchers = []
    for name in ("unet", "vae", "id_projector", "arcface"):
        module = getattr(models, name, None)
        if isinstance(module, torch.nn.Module):
            patchers.append(comfy.model_patcher.ModelPatcher(PatchTarget(module), load_device=load,
                                                             offload_device=offload))
    return patchers


def load_for_inference(handle: SVFRModelHandle, memory_required: int = 0,
                       minimum_memory_required: int | None = None) -> None:
    """Ask ComfyUI to put the models on the compute device (it evicts other models if needed).

    force_full_load: the SVFR modules are plain diffusers/torch layers, not comfy.ops, so ComfyUI's
    partial --lowvram loading would leave some layers on the offload device (documented fallback).
    memory_required: activation bytes the run needs beyond the weights (svfr_model.diffusion.memory), so ComfyUI
    frees other models first.
    """
    import comfy.model_management as mm

    mm.load_models_gpu(handle.patchers, memory_required=memory_required,
                       minimum_memory_required=minimum_memory_required, force_full_load=True)


def release_cache() -> None:
    import comfy.model_management as mm

    mm.soft_empty_cache()


def cancel_check() -> bool:
    """Engine cancel hook: raises ComfyUI's InterruptProcessingException when the user cancels.

    Never caught here: ComfyUI itself turns it into 'execution_interrupted'.
    """
    import comfy.model_management as mm

    mm.throw_exception_if_processing_interrupted()
    return False


def previews_enabled() -> bool:
    """ComfyUI's --preview-method: 'none' (its default) turns every preview off; auto/latent2rgb/taesd on
    (SVFR's denoising previews are always the linear latent -> RGB map, ComfyUI's own TAESD fallback)."""
    from comfy.cli_args import LatentPreviewMethod, args

    return args.preview_method != LatentPreviewMethod.NoPreviews


def _preview_tuple(preview: Any):
    """Engine preview (tensor/array (H,W,3) 0..1, or PIL) -> what ComfyUI's progress hook sends."""
    if preview is None:
        return None
    try:
        from PIL import Image
        import numpy as np
        from comfy.cli_args import args

        if isinstance(preview, torch.Tensor):
            preview = preview.detach().float().cpu().numpy()
        if isinstance(preview, np.ndarray):
            arr = preview
            if arr.ndim == 4:
                arr = arr[-1]
            if arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[-1] != 3:
                arr = arr.transpose(1, 2, 0)
            if arr.dtype != np.uint8:
                arr = (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
            preview = Image.fromarray(arr)
        if isinstance(preview, Image.Image):
            return ("JPEG", preview, args.preview_size)
    except (ValueError, TypeError):  # a malformed preview must never break a run
        return None
    return None


class ProgressOverTracks:
    """One comfy.utils.ProgressBar over several engine runs (one per face track).

    The engine reports (done, total) per run; later tracks are estimated from frame counts until they
    start, so the bar ends exactly at the sum of the real totals.
    """

    def __init__(self, track_frames: list[int]):
        import comfy.utils

        self.track_frames = [max(1, int(n)) for n in track_frames] or [1]
        self.track = 0
        self.offset = 0  # sum of finished tracks' totals
        self.current_total = 0
        self.value, self.total = 0, 1
        self.bar = comfy.utils.ProgressBar(1)
        self.previews = previews_enabled()

    def start_track(self, k: int) -> None:
        self.track, self.current_total = k, 0

    def finish_track(self) -> None:
        self.offset += self.current_total

    def callback(self, done: int, total: int, preview: Any = None) -> None:
        self.current_total = int(total)
        later = sum(self.track_frames[self.track + 1:])
        estimate_later = int(round(total * later / self.track_frames[self.track]))
        self.value, self.total = self.offset + int(done), self.offset + int(total) + estimate_later
        self.bar.update_absolute(self.value, self.total, _preview_tuple(preview) if self.previews else None)

    def show_latents(self, x0) -> None:
        """Engine preview hook: the window's predicted latents as an image, at the current progress."""
        from svfr_model.diffusion.preview import window_preview

        if self.previews:
            self.bar.update_absolute(self.value, self.total, _preview_tuple(window_preview(x0)))


def progress_callback() -> Callable[[int, int], None]:
    """progress(done, total) for engine steps that report plain counts (face detection, cropping)."""
    import comfy.utils

    bar = comfy.utils.ProgressBar(1)

    def update(done: int, total: int, preview: Any = None) -> None:
        bar.update_absolute(int(done), int(total), _preview_tuple(preview))

    return update
