"""The custom socket types the SVFR nodes pass between each other, and IMAGE/MASK helpers."""
from __future__ import annotations

import torch
from comfy_api.v0_0_2 import io

CATEGORY = "SVFR"

# The value carried by each type (all plain Python objects, see the node that outputs them):
SVFRModel = io.Custom("SVFR_MODEL")  # nodes.host.SVFRModelHandle
SVFRFaceDetector = io.Custom("SVFR_FACE_DETECTOR")  # engine detector (svfr_model.faces.detect)
SVFRFaceCrops = io.Custom("SVFR_FACE_CROPS")  # engine FaceCropRecord (for paste back)
SVFRTask = io.Custom("SVFR_TASK")  # torch.Tensor (3,) float32 of 0/1: [BFR, colorization, inpainting]
SVFRMask = io.Custom("SVFR_MASK")  # torch.Tensor (N, H, W) float 0..1 in crop space, 1 = fill


def image_to_frames(image: torch.Tensor, name: str) -> torch.Tensor:
    """ComfyUI IMAGE [B,H,W,C] -> float32 CPU frames (N,H,W,3) in 0..1, with a clear error."""
    from svfr_model.errors import InputError
    from svfr_model.value_checks import check_unit_values

    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[-1] not in (3, 4):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise InputError(f"input '{name}' must be an IMAGE batch [frames, height, width, 3]; got {shape}")
    # No copy when the IMAGE already is float32 RGB on the CPU (the usual case): a video batch can be
    # many GB, and the engine reads it frame by frame.
    if image.shape[-1] == 4:
        image = image[..., :3]
    check_unit_values(image, f"input '{name}'", "IMAGE values")  # one read-only pass, no copy
    return image.detach().to("cpu", torch.float32)


def mask_to_batch(mask: torch.Tensor, name: str) -> torch.Tensor:
    """ComfyUI MASK [B,H,W] or [H,W] -> float32 CPU (B,H,W) in 0..1."""
    from svfr_model.errors import InputError
    from svfr_model.value_checks import check_unit_values

    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3):
        shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise InputError(f"input '{name}' must be a MASK [frames, height, width]; got {shape}")
    if mask.ndim == 2:
        mask = mask[None]
    check_unit_values(mask, f"input '{name}'", "MASK values")
    return mask.detach().to("cpu", torch.float32)  # no copy: the engine thresholds / clips as it reads


def to_output(t: torch.Tensor) -> torch.Tensor:
    """Place an output tensor where ComfyUI expects intermediates (CPU unless --gpu-only)."""
    import comfy.model_management as mm

    return t.to(mm.intermediate_device(), torch.float32)


def track_lengths(faces, n_frames: int, name: str) -> list[int]:
    """Frames per face track of a crop record, checked against a concatenated IMAGE/MASK batch."""
    from svfr_model.errors import InputError

    lengths = [len(t.frame_indices) for t in faces.tracks]
    if sum(lengths) != n_frames:
        raise InputError(
            f"input '{name}' has {n_frames} frames but 'faces' describes {sum(lengths)} "
            f"({len(lengths)} face tracks): connect outputs made from the same SVFR Face Crop."
        )
    return lengths


def split_by_tracks(batch: torch.Tensor, faces, name: str) -> list[torch.Tensor]:
    """Concatenated crops (all tracks along the batch) -> one tensor per track, in record order."""
    lengths = track_lengths(faces, int(batch.shape[0]), name)
    return list(torch.split(batch, lengths)) if lengths else []
