"""Detector-independent pieces: the Detections record, input normalisation and the max_side downscale."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import InputError

# Detectors need a few pixels of face; anything smaller than this cannot hold one.
MIN_IMAGE_SIDE = 8


@dataclass
class Detections:
    """Faces found in one image, best first.

    boxes:     (K, 4) float32, x1, y1, x2, y2 in pixels of the input image (continuous coordinates:
               pixel i spans [i, i+1)). Not clipped: a face cut by the border may reach past it.
    landmarks: (K, 5, 2) float32 x, y in ArcFace order: image-left eye, image-right eye, nose,
               image-left mouth corner, image-right mouth corner.
    scores:    (K,) float32, sorted descending.
    """

    boxes: np.ndarray
    landmarks: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), np.zeros((0,), np.float32))

    @classmethod
    def from_arrays(cls, boxes, landmarks, scores) -> "Detections":
        """Build from unsorted arrays: cast to float32 and sort by score (descending, stable)."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        landmarks = np.asarray(landmarks, np.float32).reshape(-1, 5, 2)
        scores = np.asarray(scores, np.float32).reshape(-1)
        if not (len(boxes) == len(landmarks) == len(scores)):
            raise ValueError(f"inconsistent detection arrays: {len(boxes)} boxes, "
                             f"{len(landmarks)} landmark sets, {len(scores)} scores")
        order = np.argsort(-scores, kind="stable")
        return cls(boxes[order], landmarks[order], scores[order])

    def scaled(self, sx: float, sy: float) -> "Detections":
        """Coordinates multiplied by (sx, sy): maps detections made on a resized image back."""
        s2 = np.array([sx, sy], np.float32)
        return Detections(self.boxes * np.tile(s2, 2), self.landmarks * s2, self.scores.copy())

    def select(self, index) -> "Detections":
        """Subset by an index array / boolean mask, keeping the order given."""
        return Detections(self.boxes[index].reshape(-1, 4), self.landmarks[index].reshape(-1, 5, 2),
                          self.scores[index].reshape(-1))

    def areas(self) -> np.ndarray:
        wh = np.clip(self.boxes[:, 2:] - self.boxes[:, :2], 0, None)
        return wh[:, 0] * wh[:, 1]


def as_rgb_uint8(image, name: str = "image") -> np.ndarray:
    """Return ``image`` as a contiguous (H, W, 3) uint8 RGB array.

    Accepts (H, W, 3) RGB, (H, W) / (H, W, 1) grayscale and (H, W, 4) RGBA (alpha dropped: detectors
    look at colour only). uint8 is used as is; float arrays must hold values in [0, 1] (ComfyUI images).
    """
    if not isinstance(image, np.ndarray):
        if hasattr(image, "detach") and hasattr(image, "cpu"):  # a torch tensor
            image = image.detach().cpu().numpy()
        else:
            raise InputError(f"{name} must be a numpy array (H, W, 3) uint8 RGB, got {type(image).__name__}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise InputError(f"{name} has shape {tuple(image.shape)}; expected (H, W, 3) RGB, (H, W) or (H, W, 1) "
                         "grayscale, or (H, W, 4) RGBA. For a batch of frames call detect() once per frame.")
    if image.dtype == np.uint8:
        pass
    elif np.issubdtype(image.dtype, np.floating):
        lo, hi = (float(image.min()), float(image.max())) if image.size else (0.0, 0.0)
        if not np.isfinite([lo, hi]).all() or lo < 0.0 or hi > 1.0:
            raise InputError(f"{name} is {image.dtype} with values in [{lo:g}, {hi:g}]; float images must be in "
                             "[0, 1] (or pass uint8 0..255)")
        image = np.rint(image * 255.0).astype(np.uint8)
    else:
        raise InputError(f"{name} has dtype {image.dtype}; pass uint8 (0..255) or float in [0, 1]")
    c = image.shape[2]
    if c == 1:
        image = np.repeat(image, 3, axis=2)
    elif c == 4:
        image = image[:, :, :3]
    return np.ascontiguousarray(image)


def check_threshold(threshold) -> float:
    """The score threshold as a float in [0, 1), or InputError."""
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        t = float("nan")
    if not 0.0 <= t < 1.0:
        raise InputError(f"detection threshold {threshold!r} must be a number in [0, 1); 0.5 is the usual value")
    return t


def downscale(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float, float]:
    """Shrink ``image`` so its longer side is <= ``max_side`` (never enlarges).

    Returns (image, sx, sy) where multiplying coordinates on the returned image by (sx, sy) gives
    coordinates on the input image.
    """
    h, w = image.shape[:2]
    if max_side is None or max(h, w) <= max_side:
        return image, 1.0, 1.0
    if int(max_side) < MIN_IMAGE_SIDE:
        raise InputError(f"max_side={max_side} is too small; use None or a value >= {MIN_IMAGE_SIDE} (e.g. 320)")
    import cv2

    r = float(max_side) / max(h, w)
    nw, nh = max(1, round(w * r)), max(1, round(h * r))
    small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return small, w / nw, h / nh
