"""SVFR's own detector: yoloface_v5m.pt (YOLOv5-face, TorchScript), as the official code runs it.

Official behaviour (svfr_spec.md 5.1): short side resized to 416 and both sides rounded up to a multiple
of 32 (no letterbox), RGB / 255, ``model(img, grids)`` with (x, y) cell grids for strides 8/16/32; the
output rows [cx, cy, w, h, obj, 10 landmark coords, cls] are already in resized-image pixels.
Post-processing: obj > conf, conf = obj * cls > conf, NMS IoU 0.45, at most 300 faces, then coordinates
scaled by (w0 / w1, h0 / h1).

A TorchScript file is a program: it only runs code that was compiled into it, but that code comes from
whoever made the file. Load files you trust (the one from the SVFR release).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ...errors import WeightsError
from .base import MIN_IMAGE_SIDE, Detections, as_rgb_uint8, check_threshold, downscale
from .nms import nms

SHORT_SIDE = 416
STRIDES = (8, 16, 32)
NMS_IOU = 0.45
MAX_DET = 300
WHERE = "models/face_align/yoloface_v5m.pt (from the SVFR release)"


def input_size(h0: int, w0: int) -> tuple[int, int]:
    """(h1, w1) the network runs at: short side 416, both rounded up to a multiple of 32 (official)."""
    r = SHORT_SIDE / min(h0, w0)
    return int(h0 * r + 31) // 32 * 32, int(w0 * r + 31) // 32 * 32


def postprocess(pred: np.ndarray, conf_threshold: float, iou_threshold: float = NMS_IOU) -> Detections:
    """Rows (N, 16) in network pixels -> Detections in network pixels (non_max_suppression_face, nc = 1)."""
    pred = np.asarray(pred, np.float32).reshape(-1, 16)
    pred = pred[pred[:, 4] > conf_threshold]
    conf = pred[:, 4] * pred[:, 15]
    pred, conf = pred[conf > conf_threshold], conf[conf > conf_threshold]
    if len(pred) == 0:
        return Detections.empty()
    xy, wh = pred[:, :2], pred[:, 2:4]
    boxes = np.concatenate([xy - wh / 2, xy + wh / 2], axis=1)
    keep = nms(boxes, conf, iou_threshold, max_keep=MAX_DET)
    return Detections.from_arrays(boxes[keep], pred[keep, 5:15], conf[keep])


class YoloFaceDetector:
    """yoloface_v5m.pt via torch.jit.load. ``detect()`` follows the FaceDetector protocol."""

    name = "yoloface"

    def __init__(self, path: str | Path | None, device: str = "cpu"):
        import torch

        if path is None:
            raise WeightsError(f"the yoloface detector needs SVFR's yoloface_v5m.pt; put it at {WHERE} and pass "
                               "its path, or use the embedded detector (kind='retinaface')")
        path = Path(path)
        if not path.is_file():
            raise WeightsError(f"yoloface weights not found: {path}. Expected SVFR's {WHERE}.")
        try:
            with warnings.catch_warnings():  # torch >= 2.10 flags TorchScript as deprecated; SVFR ships it
                warnings.simplefilter("ignore", FutureWarning)
                model = torch.jit.load(str(path), map_location=device)
        except Exception as e:  # RuntimeError from the archive reader, or a pickle that is not TorchScript
            raise WeightsError(f"{path} is not a TorchScript archive ({type(e).__name__}: {str(e)[:200]}). "
                               f"yoloface needs the TorchScript file {WHERE}, not a state_dict.") from e
        self.model = model.eval()
        self.device = torch.device(device)
        self._grids: dict[tuple[int, int], list] = {}

    def _grids_for(self, h1: int, w1: int) -> list:
        import torch

        key = (h1, w1)
        if key not in self._grids:
            grids = []
            for s in STRIDES:
                yv, xv = torch.meshgrid(torch.arange(h1 // s), torch.arange(w1 // s), indexing="ij")
                grids.append(torch.stack((xv, yv), 2).view(1, 1, h1 // s, w1 // s, 2).float().to(self.device))
            self._grids[key] = grids
        return self._grids[key]

    def detect(self, image: np.ndarray, *, max_side: int | None = None, threshold: float = 0.5) -> Detections:
        import cv2
        import torch

        rgb = as_rgb_uint8(image)
        threshold = check_threshold(threshold)
        small, sx, sy = downscale(rgb, max_side)
        h0, w0 = small.shape[:2]
        if min(h0, w0) < MIN_IMAGE_SIDE:
            return Detections.empty()
        h1, w1 = input_size(h0, w0)
        resized = cv2.resize(small, (w1, h1), interpolation=cv2.INTER_LINEAR)
        x = torch.from_numpy(np.ascontiguousarray(resized.transpose(2, 0, 1)))[None].float().div_(255.0)
        with torch.inference_mode():
            pred = self.model(x.to(self.device), self._grids_for(h1, w1))
        if isinstance(pred, (tuple, list)):  # some exports return (pred, features)
            pred = pred[0]
        pred = pred.detach().float().cpu().numpy()
        if pred.ndim != 3 or pred.shape[-1] != 16:
            raise WeightsError(f"yoloface model returned shape {tuple(pred.shape)}, expected (1, N, 16): "
                               f"the file is not SVFR's {WHERE}")
        det = postprocess(pred[0], threshold)
        return det.scaled(w0 / w1 * sx, h0 / h1 * sy)
