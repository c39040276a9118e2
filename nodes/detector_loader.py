"""SVFRFaceDetectorLoader: embedded RetinaFace (default), yoloface TorchScript, or an insightface pack."""
from __future__ import annotations

import os

from comfy_api.v0_0_2 import io

from . import host
from .types import CATEGORY, SVFRFaceDetector
from .wording import speaks_widgets

EMBEDDED = "retinaface (embedded)"
_MAX_DEPTH = 3  # how deep to look for yoloface files below each folder


def _yoloface_dirs() -> list[str]:
    import folder_paths

    return host.svfr_paths() + [os.path.join(folder_paths.models_dir, "face_align")]


def _insightface_dirs() -> list[str]:
    import folder_paths

    dirs = [os.path.join(folder_paths.models_dir, "insightface", "models")]
    if "insightface" in folder_paths.folder_names_and_paths:  # registered by other packs / yaml
        dirs += [os.path.join(p, "models") for p in folder_paths.get_folder_paths("insightface")]
    return list(dict.fromkeys(dirs))


def _yoloface_files() -> dict[str, str]:
    """'yoloface/<relative path>' -> absolute path, for every yoloface*.pt below the search folders."""
    found: dict[str, str] = {}
    for base in _yoloface_dirs():
        if not os.path.isdir(base):
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            if dirpath[len(base):].count(os.sep) >= _MAX_DEPTH:
                dirnames[:] = []
            for f in sorted(filenames):
                if f.lower().startswith("yoloface") and f.lower().endswith(".pt"):
                    rel = os.path.relpath(os.path.join(dirpath, f), base).replace(os.sep, "/")
                    found.setdefault(f"yoloface/{rel}", os.path.join(dirpath, f))
    return found


def _insightface_packs() -> dict[str, str]:
    """'insightface/<pack>' -> folder, for every model pack folder holding .onnx files."""
    found: dict[str, str] = {}
    for base in _insightface_dirs():
        if not os.path.isdir(base):
            continue
        for name in sorted(os.listdir(base)):
            sub = os.path.join(base, name)
            if os.path.isdir(sub) and any(f.endswith(".onnx") for f in os.listdir(sub)):
                found.setdefault(f"insightface/{name}", sub)
    return found


def detector_choices() -> list[str]:
    return [EMBEDDED] + sorted(_yoloface_files()) + sorted(_insightface_packs())


def resolve_detector(choice: str) -> tuple[str, str | None]:
    """Combo choice -> (engine kind, path or None)."""
    from svfr_model.errors import WeightsError

    if choice == EMBEDDED:
        return "retinaface", None
    table = {**{k: ("yoloface", v) for k, v in _yoloface_files().items()},
             **{k: ("insightface", v) for k, v in _insightface_packs().items()}}
    if choice not in table:
        raise WeightsError(
            f"detector '{choice}' not found. yoloface: put yoloface_v5m.pt in models/svfr or "
            "models/face_align; insightface: a pack folder in models/insightface/models/. "
            "Then refresh the node list (press 'r')."
        )
    return table[choice]


class SVFRFaceDetectorLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SVFRFaceDetectorLoader",
            display_name="SVFR Face Detector Loader",
            category=CATEGORY,
            description=(
                "Loads the face detector used to find, track and align faces. The embedded "
                "RetinaFace needs no download; the official yoloface_v5m.pt and insightface packs "
                "are picked up from the model folders."
            ),
            inputs=[
                io.Combo.Input(
                    "detector", options=detector_choices(), default=EMBEDDED,
                    tooltip="retinaface (embedded): ships with the pack. yoloface/...: the official "
                            "SVFR detector (models/svfr or models/face_align). insightface/...: a pack "
                            "in models/insightface/models/.",
                ),
            ],
            outputs=[SVFRFaceDetector.Output("face_detector", display_name="detector", tooltip="The face detector.")],
        )

    @classmethod
    @speaks_widgets
    def execute(cls, detector: str) -> io.NodeOutput:
        from svfr_model.faces.detect import load_detector

        kind, path = resolve_detector(detector)
        # Detection runs on the CPU (onnxruntime / small TorchScript): keeps the GPU for the UNet.
        return io.NodeOutput(load_detector(kind, path=path, device="cpu"))
