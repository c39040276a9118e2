"""SVFRFaceCrop: video frames -> aligned face crops per track + the crop record + a preview."""
from __future__ import annotations

import torch
from comfy_api.v0_0_2 import io

from . import host
from .face_options import face_inputs, face_options_from, reid_input
from .types import CATEGORY, SVFRFaceCrops, SVFRFaceDetector, image_to_frames, to_output
from .wording import speaks_widgets



class SVFRFaceCrop(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SVFRFaceCrop",
            display_name="SVFR Face Crop",
            category=CATEGORY,
            description=(
                "Finds the faces in the video, follows each over time and cuts square crops at the "
                "model resolution. The record output remembers where each crop came from, for "
                "SVFR Paste Back. RAM: the frames come in as an IMAGE batch, float32, H x W x 3 x 4 bytes "
                "per frame (1080p: ~24 MB, so one minute at 30 fps is ~45 GB), and the crops add ~3 MB "
                "per frame and face at 512. For long clips use SVFR Restore Video (streaming): its memory "
                "does not grow with the video's length."
            ),
            inputs=[
                io.Image.Input("images", tooltip="The video frames (any size and aspect ratio)."),
                SVFRFaceDetector.Input("detector", tooltip="From SVFR Face Detector Loader."),
                *face_inputs(mode_tooltip="tracked: a smoothed box per frame that follows the face. "
                                          "official: one static box per face for the whole clip (official SVFR).",
                             no_face_tooltip="error: stop with a message. pass through: no crops, and "
                                             "Paste Back returns the frames unchanged."),
                reid_input(with_model=False),
            ],
            outputs=[
                io.Image.Output("crops", display_name="crops", tooltip="All face tracks concatenated along the batch, each track contiguous."),
                SVFRFaceCrops.Output("face_crops", display_name="faces",
                                     tooltip="The crop record, for Paste Back / Inpaint Mask / Sampler."),
                io.Image.Output("preview", display_name="preview", tooltip="The frames with the crop boxes drawn (at most 512 px wide/high)."),
            ],
        )

    @classmethod
    @speaks_widgets
    def execute(cls, images, detector, mode: str, faces: str, index: int, crop_size: int,
                if_no_face: str, reid: str = "appearance") -> io.NodeOutput:
        from svfr_model.faces import crop_faces
        from svfr_model.faces.preview import draw_crop_boxes

        opts = face_options_from(mode, faces, index, crop_size, if_no_face, reid)
        frames = image_to_frames(images, "images")
        result = crop_faces(frames, detector, mode=opts.mode, faces=opts.faces, size=opts.size,
                            allow_no_face=opts.allow_no_face, reid=opts.reid, progress=host.progress_callback(),
                            cancel=host.cancel_check)
        crops = torch.cat([c.float() for c in result.crops]) if result.crops else \
            torch.zeros((0, crop_size, crop_size, 3))
        preview = draw_crop_boxes(frames, result.record)
        return io.NodeOutput(to_output(crops), result.record, to_output(preview))
