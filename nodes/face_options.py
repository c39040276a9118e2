"""Face and paste-back widgets shared by SVFR Face Crop, SVFR Restore Video and SVFR Paste Back.

Each choice list comes from the engine (``svfr_model.faces.options``, ``svfr_model.faces.reid``), so a new
choice there reaches every node; ``face_options_from`` / ``paste_options_from`` turn the widget values into
the engine's option objects (blend widths are in pixels of a 512 crop, as the widgets say).
"""
from __future__ import annotations

from comfy_api.v0_0_2 import io
from svfr_model.faces.options import (COLOR_MATCH_CHOICES, FACE_CHOICES, MODES, NO_FACE_CHOICES, FaceOptions,
                                      PasteOptions, faces_choice)
from svfr_model.faces.reid import REID_CHOICES, REID_WITHOUT_MODEL

from .sampling_options import advanced

ALLOW_NO_FACE = NO_FACE_CHOICES[1]  # "pass through"


def mode_input(tooltip: str) -> io.Combo.Input:
    return io.Combo.Input("mode", options=list(MODES), default="tracked", tooltip=tooltip)


def face_inputs(mode_tooltip: str, no_face_tooltip: str) -> list:
    """mode, faces, index, crop_size, if_no_face: the face step's widgets, in this order."""
    return [
        mode_input(mode_tooltip),
        io.Combo.Input("faces", options=list(FACE_CHOICES), default="largest",
                       tooltip="largest: the biggest face only. all: every face track. "
                               "index: the track given by 'index'."),
        io.Int.Input("index", default=0, min=0, max=63, tooltip="Track to use when faces=index (0 = largest)."),
        io.Int.Input("crop_size", default=512, min=64, max=1024, step=64,
                     tooltip="Crop resolution. SVFR was trained at 512: change only for experiments."),
        io.Combo.Input("if_no_face", options=list(NO_FACE_CHOICES), default="error", tooltip=no_face_tooltip),
    ]


def feather_input() -> io.Int.Input:
    return io.Int.Input("feather", default=32, min=0, max=256,
                        tooltip="Soft edge width in crop pixels (of 512) between face and background.")


def erode_input() -> io.Int.Input:
    return io.Int.Input("erode", default=24, min=0, max=256,
                        tooltip="Crop border (in crop pixels of 512) left untouched before the feather.")


def color_match_input() -> io.Combo.Input:
    return io.Combo.Input("color_match", options=list(COLOR_MATCH_CHOICES), default="lab",
                          tooltip="Match the restored face's colours to the original: lab (mean/std in Lab), "
                                  "wavelet (low frequencies), or none.")


def reid_input(with_model: bool) -> io.Combo.Input:
    """The re-identification widget (advanced, optional: old API prompts stay valid). Face Crop has no SVFR
    model, so it offers only what needs none."""
    if with_model:
        return advanced(io.Combo.Input(
            "reid", options=list(REID_CHOICES), default="auto", optional=True,
            tooltip="A face back after leaving the frame joins its earlier track, so each person is restored "
                    "with one reference and identity. auto: by ArcFace when the model has it, else by "
                    "appearance; off: only where it left."))
    return advanced(io.Combo.Input(
        "reid", options=list(REID_WITHOUT_MODEL), default="appearance", optional=True,
        tooltip="A face back after leaving the frame joins its earlier track by how it looks, so each person is "
                "one track (one reference and identity). off: only where it left."))


def face_options_from(mode: str, faces: str, index: int, crop_size: int, if_no_face: str,
                      reid: str = "auto") -> FaceOptions:
    return FaceOptions(mode=mode, faces=faces_choice(faces, index), size=crop_size, reid=reid,
                       allow_no_face=(if_no_face == ALLOW_NO_FACE))


def paste_options_from(feather: int, erode: int, color_match: str) -> PasteOptions:
    return PasteOptions(color_match=color_match, feather=feather, erode=erode)
