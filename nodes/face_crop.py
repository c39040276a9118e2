"""SVFRFaceCrop: video frames -> aligned face crops per track + the crop record + a preview."""
from __future__ import annotations

import numpy as np
import torch
from comfy_api.latest import io

from . import host
from .types import CATEGORY, SVFRFaceCrops, SVFRFaceDetector, image_to_frames, to_output

MODES = ("tracked", "official")
FACE_CHOICES = ("largest", "all", "index")
NO_FACE = ("error", "pass through")
_BOX_COLORS = ((0.1, 1.0, 0.2), (1.0, 0.8, 0.1), (0.2, 0.6, 1.0), (1.0, 0.3, 0.8))


PREVIEW_MAX_SIDE = 512  # the preview is for looking at: small, so a long video is not copied at full size


def draw_crop_boxes(frames: torch.Tensor, record, max_side: int = PREVIEW_MAX_SIDE) -> torch.Tensor:
    """The frames (scaled to at most max_side px) with each crop's outline, one colour per track."""
    import cv2

    n, h, w = int(frames.shape[0]), int(frames.shape[1]), int(frames.shape[2])
    scale = min(1.0, max_side / max(h, w))
    ph, pw = max(1, round(h * scale)), max(1, round(w * scale))
    boxes: dict[int, list] = {}
    s = float(record.size)
    square = np.array([[0, 0], [s, 0], [s, s], [0, s]], dtype=np.float64)
    for ti, track in enumerate(record.tracks):
        for f, M in zip(track.frame_indices, track.transforms):
            inv = cv2.invertAffineTransform(np.asarray(M, dtype=np.float64))
            corners = (square @ inv[:, :2].T + inv[:, 2]) * (pw / w, ph / h)
            boxes.setdefault(int(f), []).append((ti, np.round(corners).astype(np.int32)))
    out = np.empty((n, ph, pw, 3), np.float32)
    for f in range(n):
        img = frames[f].numpy()
        img = np.ascontiguousarray(img if scale == 1.0 else cv2.resize(img, (pw, ph), interpolation=cv2.INTER_AREA))
        for ti, corners in boxes.get(f, ()):
            cv2.polylines(img, [corners], True, _BOX_COLORS[ti % len(_BOX_COLORS)], 1, cv2.LINE_AA)
        out[f] = img
    return torch.from_numpy(out)


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
                "SVFR Paste Back."
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
            ],
            outputs=[
                io.Image.Output("crops", tooltip="All face tracks concatenated along the batch, each track contiguous."),
                SVFRFaceCrops.Output("face_crops", display_name="faces",
                                     tooltip="The crop record, for Paste Back / Inpaint Mask / Sampler."),
                io.Image.Output("preview", tooltip="The frames with the crop boxes drawn (at most 512 px wide/high)."),
            ],
        )

    @classmethod
    def execute(cls, images, detector, mode: str, faces: str, index: int, crop_size: int,
                if_no_face: str) -> io.NodeOutput:
        from svfr_model.faces.pipeline import crop_faces

        frames = image_to_frames(images, "images")
        result = crop_faces(frames, detector, mode=mode, faces=index if faces == "index" else faces,
                            size=crop_size, allow_no_face=(if_no_face == "pass through"),
                            progress=host.progress_callback(), cancel=host.cancel_check)
        crops = torch.cat([c.float() for c in result.crops]) if result.crops else \
            torch.zeros((0, crop_size, crop_size, 3))
        preview = draw_crop_boxes(frames, result.record)
        return io.NodeOutput(to_output(crops), result.record, to_output(preview))
