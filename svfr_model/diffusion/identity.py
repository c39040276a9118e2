"""Identity tokens for pass 2: reference face -> ArcFace layer4 -> 49 x 1024 tokens.

Mirrors infer.py L257-271: the float pass-1 reference frame is quantised to uint8 by truncation,
aligned by its 5 landmarks (official crop quirk by default), run through ArcFace, then projected.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..networks.arcface import IResNet
from ..errors import InputError, NoFaceError, SVFRWarning, WeightsError
from ..faces.align import align_for_arcface
from ..networks.id_projector import IDProjector
from ..weights.models import load_arcface, load_id_projector


def quantize_reference(frame: torch.Tensor) -> np.ndarray:
    """(3, H, W) float in about [-1, 1] -> (H, W, 3) uint8 RGB, exactly as infer.py does:
    ``((x * 0.5 + 0.5).clamp(0, 1) * 255)`` then ``astype(uint8)`` (truncation, not rounding)."""
    if not isinstance(frame, torch.Tensor):
        frame = torch.as_tensor(np.asarray(frame))
    if frame.ndim != 3 or frame.shape[0] != 3:
        raise InputError(f"reference frame must be (3, H, W), got shape {tuple(frame.shape)}")
    if not torch.isfinite(frame).all():
        raise InputError("reference frame contains NaN or inf; the first pass diverged (try another seed)")
    x = ((frame.detach().float().cpu() * 0.5 + 0.5).clamp(0, 1) * 255).permute(1, 2, 0)
    return x.numpy().astype(np.uint8)


class IdentityEncoder:
    """Turns a reference face into the (49, 1024) identity tokens SVFR's UNet attends to."""

    def __init__(self, arcface: IResNet | None, id_projector: IDProjector):
        self.arcface = arcface
        self.id_projector = id_projector

    @classmethod
    def from_files(cls, arcface_path: str | Path | None, id_linear_path: str | Path,
                   dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> "IdentityEncoder":
        """Load both networks strictly. ``arcface_path=None`` allows only ``tokens_from_feature``."""
        arcface = load_arcface(arcface_path, dtype).to(device) if arcface_path is not None else None
        return cls(arcface, load_id_projector(id_linear_path, dtype).to(device))

    @torch.no_grad()
    def tokens_from_feature(self, feature: torch.Tensor) -> torch.Tensor:
        """ArcFace layer4 map (1, 512, 7, 7) -> tokens (49, 1024), float32 on the projector's device."""
        feature = torch.as_tensor(feature)
        if feature.ndim == 3:
            feature = feature.unsqueeze(0)
        if feature.ndim != 4 or feature.shape[0] != 1:
            raise InputError(f"identity feature must be (1, 512, 7, 7), got shape {tuple(feature.shape)}")
        w = self.id_projector.project1024.weight
        return self.id_projector(feature.to(w.device, w.dtype))[0].float()

    @torch.no_grad()
    def arcface_input(self, image_rgb_uint8, landmarks, crop: str = "official") -> torch.Tensor:
        return align_for_arcface(image_rgb_uint8, landmarks, crop=crop)

    @torch.no_grad()
    def tokens_from_image(self, image_rgb_uint8, landmarks, crop: str = "official") -> torch.Tensor:
        """RGB uint8 face image (H, W, 3) + its 5 landmarks -> tokens (49, 1024)."""
        if self.arcface is None:
            raise InputError("no ArcFace model loaded: pass insightface_glint360k.pth to use a reference image, "
                             "or supply identity tokens directly")
        if landmarks is None:
            raise NoFaceError("no landmarks for the reference face: detect the face first (faces.detect) or "
                              "pass identity tokens directly")
        x = self.arcface_input(image_rgb_uint8, landmarks, crop)
        w = self.arcface.conv1.weight
        feature = self.arcface(x.to(w.device, w.dtype))
        return self.tokens_from_feature(feature)

    def tokens_from_reference_frame(self, frame: torch.Tensor, landmarks, crop: str = "official") -> torch.Tensor:
        """Float pass-1 frame (3, H, W) in [-1, 1] -> tokens, with the official uint8 quantisation first."""
        return self.tokens_from_image(quantize_reference(frame), landmarks, crop)


def _largest_face_landmarks(detections) -> Optional[np.ndarray]:
    if detections is None or len(detections) == 0:
        return None
    boxes = np.asarray(detections.boxes, dtype=np.float64)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return np.asarray(detections.landmarks, dtype=np.float64)[int(np.argmax(areas))]


def identity_tokens(models, ref_u8: np.ndarray, *, landmarks=None, detector=None,
                    crop: str = "official", what: str = "the reference frame",
                    fallback_u8: Optional[np.ndarray] = None) -> torch.Tensor:
    """ArcFace tokens (49, 1024) of a reference image (H, W, 3) uint8 via H2's IdentityEncoder.

    Landmarks: given, else the largest face the detector finds in ``ref_u8``. ``fallback_u8``: an image
    with the same face geometry (the LQ input frame the pass-1 reference was restored from) whose
    landmarks are used when none is found in the reference itself (official code crashes there).
    """
    if models.arcface is None:
        raise WeightsError(
            f"identity tokens are needed for {what} but ArcFace is not loaded: put insightface_glint360k.pth at "
            f"{models.arcface_path} (from the SVFR release), or pass id_tokens=... directly")
    if landmarks is None:
        if detector is None:
            from ..faces.detect import load_detector

            detector = load_detector("retinaface")
        landmarks = _largest_face_landmarks(detector.detect(ref_u8))
        if landmarks is None and fallback_u8 is not None:
            if callable(fallback_u8):  # a streamed clip reads that frame again only now
                fallback_u8 = fallback_u8()
            landmarks = _largest_face_landmarks(detector.detect(fallback_u8))
            if landmarks is not None:
                warnings.warn(SVFRWarning(f"no face found in {what}; using the landmarks of the input frame it was "
                                          "restored from (same geometry)"), stacklevel=3)
        if landmarks is None:
            raise NoFaceError(
                f"no face found in {what} ({ref_u8.shape[1]}x{ref_u8.shape[0]}): SVFR needs a face for its identity "
                "tokens. Pass a reference image with a clear face (reference=...), its 5 landmarks "
                "(reference_landmarks=...), or id_tokens=...")
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (5, 2) or not np.isfinite(lm).all():
        raise InputError(f"reference_landmarks must be 5 (x, y) points, shape (5, 2), got {lm.shape}")
    encoder = IdentityEncoder(models.arcface, models.id_projector)
    return encoder.tokens_from_image(ref_u8, lm, crop=crop).float().cpu()
