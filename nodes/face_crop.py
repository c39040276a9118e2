"""SVFRFaceCrop: video frames -> aligned face crops per track + the crop record + a preview."""
from __future__ import annotations

import torch
from comfy_api.latest import io

from . import host
from .sampling_options import advanced
from .types import CATEGORY, SVFRFaceCrops, SVFRFaceDetector, image_to_frames, to_output

MODES = ("tracked", "official")
FACE_CHOICES = ("largest", "all", "index")
NO_FACE = ("error", "pass through")
REID = ("appearance", "off")  # svfr_model.faces.reid.REID_MODES


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
                io.Combo.Input("mode", options=list(MODES), default="tracked",
                               tooltip="tracked: a smoothed box per frame that follows the face. "
                                       "official: one static box per face for the whole clip (official SVFR)."),
                io.Combo.Input("faces", options=list(FACE_CHOICES), default="largest",
                               tooltip="largest: the biggest face only. all: every face track. "
                                       "index: the track given by 'index'."),
                io.Int.Input("index", default=0, min=0, max=63,
                             tooltip="Track to use when faces=index (0 = largest)."),
                io.Int.Input("crop_size", default=512, min=64, max=1024, step=64,
                             tooltip="Crop resolution. SVFR was trained at 512: change only for experiments."),
                io.Combo.Input("if_no_face", options=list(NO_FACE), default="error",
                               tooltip="error: stop with a message. pass through: no crops, and "
                                       "Paste Back returns the frames unchanged."),
                advanced(io.Combo.Input(
                    "reid", options=list(REID), default="appearance", optional=True,
                    tooltip="A face back after leaving the frame joins its earlier track by how it looks, so each "
                            "person is one track (one reference and identity). off: only where it left.")),
            ],
            outputs=[
                io.Image.Output("crops", display_name="crops", tooltip="All face tracks concatenated along the batch, each track contiguous."),
                SVFRFaceCrops.Output("face_crops", display_name="faces",
                                     tooltip="The crop record, for Paste Back / Inpaint Mask / Sampler."),
                io.Image.Output("preview", display_name="preview", tooltip="The frames with the crop boxes drawn (at most 512 px wide/high)."),
            ],
        )

    @classmethod
    def execute(cls, images, detector, mode: str, faces: str, index: int, crop_size: int,
                if_no_face: str, reid: str = "appearance") -> io.NodeOutput:
        from svfr_model.faces.pipeline import crop_faces
        from svfr_model.faces.preview import draw_crop_boxes

        frames = image_to_frames(images, "images")
        result = crop_faces(frames, detector, mode=mode, faces=index if faces == "index" else faces,
                            size=crop_size, allow_no_face=(if_no_face == "pass through"), reid=reid,
                            progress=host.progress_callback(), cancel=host.cancel_check)
        crops = torch.cat([c.float() for c in result.crops]) if result.crops else \
            torch.zeros((0, crop_size, crop_size, 3))
        preview = draw_crop_boxes(frames, result.record)
        return io.NodeOutput(to_output(crops), result.record, to_output(preview))
