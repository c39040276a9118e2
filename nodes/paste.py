"""SVFRPasteBack: restored crops -> original frames at their original size, plus the blend mask."""
from __future__ import annotations

from comfy_api.v0_0_2 import io

from .face_options import color_match_input, erode_input, paste_options_from
from .types import CATEGORY, SVFRFaceCrops, image_to_frames, split_by_tracks, to_output
from .wording import speaks_widgets


class SVFRPasteBack(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SVFRPasteBack",
            display_name="SVFR Paste Back",
            category=CATEGORY,
            description=(
                "Pastes the restored face crops back into the original frames (any size and aspect "
                "ratio) with a feathered edge and optional colour matching. Frames without a face "
                "come back unchanged. RAM: the output is a new float32 IMAGE batch as large as the input "
                "frames, H x W x 3 x 4 bytes per frame (1080p: ~24 MB, so one minute at 30 fps is ~45 GB), "
                "plus the mask (H x W x 4 bytes per frame). For long clips use SVFR Restore Video "
                "(streaming): its memory does not grow with the video's length."
            ),
            inputs=[
                io.Image.Input("images", tooltip="The original video frames (those given to SVFR Face Crop)."),
                io.Image.Input("restored", tooltip="Restored crops from SVFR Sampler."),
                SVFRFaceCrops.Input("faces", tooltip="The crop record from SVFR Face Crop."),
                io.Int.Input("feather", default=32, min=0, max=256,
                             tooltip="Width in crop pixels (of 512) of the soft edge between face and background."),
                color_match_input(),
                erode_input(),
            ],
            outputs=[
                io.Image.Output("pasted", display_name="images", tooltip="Frames with restored faces, original size."),
                io.Mask.Output("mask", display_name="mask", tooltip="Where restored pixels were pasted (1 = restored)."),
            ],
        )

    @classmethod
    @speaks_widgets
    def execute(cls, images, restored, faces, feather: int, color_match: str, erode: int = 24) -> io.NodeOutput:
        from svfr_model.faces import paste_faces

        frames = image_to_frames(images, "images")
        per_track = split_by_tracks(image_to_frames(restored, "restored"), faces, "restored")
        opts = paste_options_from(feather, erode, color_match)
        out, mask = paste_faces(frames, per_track, faces, color_match=opts.color_match, return_mask=True,
                                **opts.widths(faces.size))
        return io.NodeOutput(to_output(out), to_output(mask))
