"""Identity tokens for pass 2: reference face -> ArcFace layer4 -> 49 x 1024 tokens.

Mirrors infer.py L257-271: the float pass-1 reference frame is quantised to uint8 by truncation,
aligned by its 5 landmarks (official crop quirk by default), run through ArcFace, then projected.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .arcface import IResNet, load_arcface
from .errors import InputError, NoFaceError
from .faces.align import align_for_arcface
from .id_projector import IDProjector, load_id_projector


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


class ArcFaceDescriber:
    """Face describer (``faces.reid``) from SVFR's own ArcFace: the 512-d embedding, unit length, so a
    person who left the frame joins their earlier track by who they are, not how they look.

    The thresholds are insightface's usual cosine range for one person (Glint360K IResNet-100: the same
    person mostly 0.4-0.8 across pose and light, two people below 0.2); they were not measured on SVFR's
    file here (the real weights are not available to the tests). ``every``: frames between embeddings
    (default 1 on a GPU, 10 on the CPU, where one face costs about 0.2 s).
    """

    name = "arcface"
    join = 0.35
    join_in_place = 0.25
    switch_below = 0.0  # sampled frames: the appearance describer watches every frame for switches

    def __init__(self, arcface: IResNet, every: int | None = None):
        if arcface is None:
            raise InputError("ArcFaceDescriber needs the ArcFace model (insightface_glint360k.pth)")
        self.arcface = arcface
        device = arcface.conv1.weight.device
        self.every = int(every) if every is not None else (1 if device.type == "cuda" else 10)
        if self.every < 1:
            raise InputError(f"every={every}: must be >= 1")

    @torch.no_grad()
    def __call__(self, image_u8: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        lms = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
        rows, ok = [], []
        for lm in lms:
            try:
                rows.append(align_for_arcface(image_u8, lm, crop="corrected").reshape(1, 3, 112, 112))
                ok.append(True)
            except InputError:  # a face mostly off the frame: no vector (zeros), the others still count
                ok.append(False)
        out = np.zeros((len(lms), self.arcface.features.num_features), np.float32)
        if rows:
            w = self.arcface.conv1.weight
            emb, _ = self.arcface(torch.cat(rows).to(w.device, w.dtype), return_features=True)
            out[np.asarray(ok)] = torch.nn.functional.normalize(emb.float(), dim=1).cpu().numpy()
        return out


REID_CHOICES = ("auto", "arcface", "appearance", "off")


def reid_describers(reid: str, arcface: IResNet | None):
    """The ``reid`` option of the restoring entry points -> what ``faces.plan`` takes: "auto" = ArcFace when
    the model set has it (then appearance for short pieces), else appearance; "arcface" insists on it."""
    key = str(reid).strip().lower()
    if key not in REID_CHOICES:
        raise InputError(f"reid must be one of {REID_CHOICES}, got {reid!r}")
    if key == "arcface" and arcface is None:
        raise InputError("reid='arcface' needs the ArcFace model (insightface_glint360k.pth beside the SVFR "
                         "models); use reid='auto' to fall back to appearance")
    if key in ("auto", "arcface") and arcface is not None:
        return [ArcFaceDescriber(arcface)]
    return "off" if key == "off" else "appearance"
