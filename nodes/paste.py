"""SVFRPasteBack: restored crops -> original frames at their original size, plus the blend mask."""
from __future__ import annotations

from comfy_api.latest import io

from .types import CATEGORY, SVFRFaceCrops, image_to_frames, to_output


class SVFRPasteBack(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SVFRPasteBack",
            display_name="SVFR Paste Back",
            category=CATEGORY,
            description=(
                "Pastes the restored face crops back into the original frames (any size and aspect "
                "ratio) with a feathered edge and optional colour matching."
            ),
            inputs=[
                io.Image.Input("images", tooltip="The original video frames (those given to SVFR Face Crop)."),
                io.Image.Input("restored", tooltip="Restored crops from SVFR Sampler."),
                SVFRFaceCrops.Input("faces", tooltip="The crop record from SVFR Face Crop."),
                io.Int.Input("feather", default=16, min=0, max=256,
                             tooltip="Width in crop pixels of the soft edge between face and background."),
                io.Boolean.Input("color_match", default=True,
                                 tooltip="Match the restored face's colour statistics to the original "
                                         "(avoids a visible colour shift of the whole crop)."),
            ],
            outputs=[
                io.Image.Output("pasted", display_name="images", tooltip="Frames with restored faces, original size."),
                io.Mask.Output("mask", tooltip="Where restored pixels were pasted (1 = restored)."),
            ],
        )

    @classmethod
    def execute(cls, images, restored, faces, feather: int, color_match: bool) -> io.NodeOutput:
        from svfr_model.faces.pipeline import paste_faces

        frames = image_to_frames(images, "images")
        crops = image_to_frames(restored, "restored")
        out, mask = paste_faces(frames, crops, faces, feather=feather, color_match=color_match, return_mask=True)
        return io.NodeOutput(to_output(out), to_output(mask))
