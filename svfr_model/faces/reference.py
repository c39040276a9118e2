"""A user's reference photo (any size) framed exactly like the video's face crops.

SVFR conditions pass 2 on the reference frame's latent (UNet channels 8-11), so the reference must
show the face where the crops show it. A photo is treated as a one-frame video and goes through the
same detection, framing and warp as :func:`crop_faces` (``plan_from_detections`` / ``crop_frame``),
so both framings cannot drift apart.

    crop, landmarks = crop_reference(photo, load_detector(), size=512)
    restore_video(models, crops, reference=crop, reference_landmarks=landmarks)
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError, NoFaceError
from .crop import crop_frame
from .frames import FrameSource
from .options import MODES
from .plan import DEFAULT_MIN_FACE, detect_faces, plan_from_detections

REFERENCE_MAX_SIDE = 640  # the detector runs on a copy this size (as crop_faces' default); None = full size


def _reference_source(image, name: str) -> FrameSource:
    if hasattr(image, "shape") and len(image.shape) == 4:
        if image.shape[0] != 1:
            raise InputError(f"{name} must be one image, got a batch of {image.shape[0]}; pass one image at a time")
    elif not (hasattr(image, "shape") and len(image.shape) == 3 and image.shape[-1] in (1, 3, 4)):
        shape = tuple(image.shape) if hasattr(image, "shape") else type(image).__name__
        raise InputError(f"{name} must be one (H, W, 3) RGB image (float 0..1 or uint8), got {shape}")
    return FrameSource(image, name)


def _face_index(face) -> int:
    """'largest' -> 0; an index counts faces from the largest (0 = largest)."""
    if isinstance(face, str) and face.strip().lower() == "largest":
        return 0
    if isinstance(face, (int, np.integer)) and not isinstance(face, bool) and face >= 0:
        return int(face)
    raise InputError(f"face must be 'largest' or a face index >= 0 (0 = largest), got {face!r}")


def locate_reference(image, detector, *, size: int = 512, mode: str = "tracked", face="largest",
                     max_side: int | None = REFERENCE_MAX_SIDE, min_face: float = DEFAULT_MIN_FACE,
                     name: str = "reference") -> tuple[np.ndarray, np.ndarray]:
    """The photo->crop transform (2, 3) and the 5 landmarks (5, 2) in crop pixels, without warping.

    mode "tracked": the 5-point framing of tracked crops; "official": SVFR's box around the face.
    face: "largest" or an index into the faces sorted by box area (0 = largest). For "official"
    the truly largest face is taken (not the official code's max-face quirk: a photo has no video
    union box to stay consistent with).
    """
    if detector is None or not hasattr(detector, "detect"):
        raise InputError("detector must be a face detector (svfr_model.faces.detect.load_detector())")
    if mode not in MODES:
        raise InputError(f"mode must be one of {MODES}, got {mode!r}")
    idx = _face_index(face)
    src = _reference_source(image, name)
    found = detect_faces([src], detector, mode=mode, max_side=max_side)
    try:
        record = plan_from_detections(found, mode=mode, faces=idx, size=size, smoothing=0.0, min_face=min_face)
    except NoFaceError:
        raise NoFaceError(
            f"no face found in the {name} image ({src.w}x{src.h}, faces of at least {min_face:g} px searched). "
            f"Give a {name} photo where the face is clearly visible and roughly frontal, or leave the {name} "
            "input empty to take the reference from the video (pass 1)."
        ) from None
    except InputError as exc:
        if "track(s) found" not in str(exc):
            raise
        boxes = found.detections[0][0] if 0 in found.detections else np.zeros((0, 4))
        n = int((np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= min_face).sum())
        raise InputError(f"face={idx}: the {name} image shows {n} face(s) (0 = largest); pick an index "
                         f"below {n} or use 'largest'") from None
    track = record.tracks[0]
    return track.transforms[0].copy(), track.landmarks[0].copy()


def crop_reference(image, detector, *, size: int = 512, mode: str = "tracked", face="largest",
                   max_side: int | None = REFERENCE_MAX_SIDE, min_face: float = DEFAULT_MIN_FACE,
                   name: str = "reference") -> tuple[np.ndarray, np.ndarray]:
    """Detect, align and crop the face of one photo like :func:`crop_faces` crops a video.

    image: (H, W, 3) (or (1, H, W, 3)) float 0..1 or uint8, numpy or torch; gray / RGBA accepted.
    Returns (crop (size, size, 3) float32 0..1, landmarks (5, 2) float64 in crop pixels, detector
    convention). Raises NoFaceError naming the input (``name``) when no face is found.
    """
    M, landmarks = locate_reference(image, detector, size=size, mode=mode, face=face, max_side=max_side,
                                    min_face=min_face, name=name)
    src = _reference_source(image, name)
    crop = crop_frame(src.native_rgb(0), M, int(size), mode)
    return np.ascontiguousarray(crop, dtype=np.float32), landmarks


__all__ = ["crop_reference", "locate_reference", "REFERENCE_MAX_SIDE"]
