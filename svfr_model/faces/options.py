"""The face step's choices and options, defined once for the engine, the CLI and the nodes.

``FaceOptions``: which faces are found and how they are framed. ``PasteOptions``: how restored crops go
back. Blend widths are given in pixels of a 512 crop (the model size, and the unit of the nodes' widgets)
and scaled with the crop size here, the one place that does it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from ..errors import OptionError
from .color import COLOR_MODES
from .masks import DEFAULT_ERODE, DEFAULT_FEATHER
from .reid import REID_CHOICES

MODES = ("tracked", "official")
FACE_CHOICES = ("largest", "all", "index")   # "index": the track given by a number (0 = largest)
NO_FACE_CHOICES = ("error", "pass through")  # a clip without a usable face: stop, or return it unchanged
COLOR_MATCH_CHOICES = ("lab", "wavelet", "none")  # the widgets' order; the same set as color.COLOR_MODES
BLEND_UNIT = 512  # crop size the blend widths are given for

assert set(COLOR_MATCH_CHOICES) == set(COLOR_MODES)


def blend_widths(size: int, feather: float | None = None, erode: float | None = None) -> dict:
    """Feather and erode (given for a 512 crop; None: the defaults) in pixels of a ``size`` crop."""
    scale = size / float(BLEND_UNIT)
    return {"feather": (DEFAULT_FEATHER if feather is None else float(feather)) * scale,
            "erode": (DEFAULT_ERODE if erode is None else float(erode)) * scale}


def faces_choice(faces: str, index: int = 0):
    """The widget pair (faces, index) -> what ``crop_faces`` takes: "largest", "all" or the track index."""
    return int(index) if faces == "index" else faces


@dataclass(frozen=True)
class FaceOptions:
    mode: str = "tracked"                 # MODES
    faces: Union[str, int] = "largest"    # "largest", "all" or a track index (0 = largest)
    size: int = 512                       # crop size (SVFR was trained at 512)
    reid: str = "auto"                    # faces.reid.REID_CHOICES
    allow_no_face: bool = False           # a clip without a face comes back unchanged instead of an error

    def __post_init__(self):
        if self.mode not in MODES:
            raise OptionError("mode", self.mode, f"must be one of {', '.join(MODES)}")
        faces = self.faces
        if isinstance(faces, str) and faces.strip().isdigit():
            faces = int(faces)
        if isinstance(faces, bool) or not (faces in ("largest", "all") or isinstance(faces, int) and faces >= 0):
            raise OptionError("faces", self.faces, "must be 'largest', 'all' or a face index >= 0")
        object.__setattr__(self, "faces", faces)
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 16 or self.size % 8:
            raise OptionError("size", self.size, "must be a multiple of 8 of at least 16 pixels (SVFR uses 512)")
        if not isinstance(self.reid, str) or self.reid.strip().lower() not in REID_CHOICES:
            raise OptionError("reid", self.reid, f"must be one of {', '.join(REID_CHOICES)}")
        object.__setattr__(self, "allow_no_face", bool(self.allow_no_face))


@dataclass(frozen=True)
class PasteOptions:
    color_match: str = "none"             # COLOR_MATCH_CHOICES
    feather: float | None = None          # soft edge, pixels of a 512 crop (None: DEFAULT_FEATHER)
    erode: float | None = None            # untouched crop border, pixels of a 512 crop (None: DEFAULT_ERODE)

    def __post_init__(self):
        if self.color_match not in COLOR_MODES:
            raise OptionError("color_match", self.color_match, f"must be one of {', '.join(COLOR_MATCH_CHOICES)}")
        for name in ("feather", "erode"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 4096):
                raise OptionError(name, v, "must be a width in pixels >= 0")
        widths = blend_widths(BLEND_UNIT, self.feather, self.erode)
        if widths["feather"] + widths["erode"] >= BLEND_UNIT / 2:  # the same at every crop size: both scale
            raise OptionError("feather", None, f"+ {{erode}} = {widths['feather'] + widths['erode']:g} must be below "
                              f"{BLEND_UNIT // 2} (pixels of a {BLEND_UNIT} crop): the blend would leave nothing of "
                              "the crop to paste", related=("erode",), hints=("lower {feather} or {erode}",))

    def widths(self, size: int) -> dict:
        """``feather`` and ``erode`` for crops of ``size`` pixels (keywords of ``paste_faces``)."""
        return blend_widths(size, self.feather, self.erode)


__all__ = ["MODES", "FACE_CHOICES", "NO_FACE_CHOICES", "COLOR_MATCH_CHOICES", "BLEND_UNIT", "blend_widths",
           "faces_choice", "FaceOptions", "PasteOptions"]
