"""SVFRInpaintMask: a ComfyUI MASK (frame or crop space) -> crop-space inpainting masks (SVFR_MASK)."""
from __future__ import annotations

import torch
from comfy_api.v0_0_2 import io

from .types import CATEGORY, SVFRFaceCrops, SVFRMask, mask_to_batch
from .wording import speaks_widgets

SPACES = ("frame", "crop")


class SVFRInpaintMask(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SVFRInpaintMask",
            display_name="SVFR Inpaint Mask",
            category=CATEGORY,
            description=(
                "Turns a mask (1 = region to fill) into the crop-space masks the SVFR sampler "
                "inpaints. A mask drawn on the original frames is warped into every face crop."
            ),
            inputs=[
                io.Mask.Input("mask", tooltip="1 = fill. One mask for all frames, or one per frame."),
                io.Combo.Input("space", options=list(SPACES), default="frame",
                               tooltip="frame: drawn on the original video frames (needs 'faces'). "
                                       "crop: already in face-crop coordinates."),
                SVFRFaceCrops.Input("faces", optional=True,
                                    tooltip="The crop record from SVFR Face Crop (needed for space=frame)."),
            ],
            outputs=[SVFRMask.Output("crop_mask", display_name="mask", tooltip="Crop-space masks, one per crop frame (or one for all).")],
        )

    @classmethod
    @speaks_widgets
    def execute(cls, mask, space: str, faces=None) -> io.NodeOutput:
        from svfr_model.errors import InputError

        masks = mask_to_batch(mask, "mask")
        if faces is None:
            if space == "crop":  # used as is; the sampler checks it against the crops
                return io.NodeOutput(masks)
            raise InputError("SVFR Inpaint Mask: space=frame needs the 'faces' input (the crop record "
                             "from SVFR Face Crop); or set space=crop for a mask drawn on the crops.")
        from svfr_model.faces.masks import warp_mask_to_crops

        per_track = warp_mask_to_crops(masks, faces, space=space)
        if not per_track:  # no face tracks (pass-through clip): nothing to inpaint
            return io.NodeOutput(torch.zeros((0, faces.size, faces.size)))
        return io.NodeOutput(torch.cat([m.float() for m in per_track]))
