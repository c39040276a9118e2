"""SCRFD face detector from an insightface model pack (antelopev2 / buffalo_l), run with onnxruntime.

No insightface package needed. Facts about the model (insightface's SCRFD): input RGB, (x - 127.5) / 128,
letterboxed into 640x640 (top-left, zero padding); outputs = scores, box distances and keypoint distances
for each stride (8, 16, 32 with 2 anchors per cell, or 8..128 with 1), in units of the stride; anchor
centres at (column, row) * stride; NMS IoU 0.4.

Where packs live in ComfyUI: ``models/insightface/models/<pack>/*.onnx``. A common mistake is unpacking
the zip into ``<pack>/<pack>/``; we detect it and say how to fix it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import WeightsError
from .base import MIN_IMAGE_SIDE, Detections, as_rgb_uint8, check_threshold, downscale
from .nms import nms
from .onnx_session import make_session

PACKS = ("antelopev2", "buffalo_l")  # searched first, in this order; other pack folders after them
DET_PATTERNS = ("scrfd*.onnx", "det_*.onnx")
INPUT_MEAN, INPUT_STD = 127.5, 128.0
DEFAULT_SIZE = 640
NMS_IOU = 0.4
# number of outputs -> (strides, anchors per cell); the variants with keypoints (bnkps) only
LAYOUTS = {9: ((8, 16, 32), 2), 15: ((8, 16, 32, 64, 128), 1)}


# ----------------------------------------------------------------------------- finding the model file
def _det_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    found: list[Path] = []
    for pat in DET_PATTERNS:
        found += sorted(p for p in folder.glob(pat) if p.is_file())
    return found


def _pack_dirs(root: Path) -> list[Path]:
    subs = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    first = [root / n for n in PACKS if (root / n).is_dir()]
    return first + [p for p in subs if p not in first]


def find_detector_file(path: str | Path) -> Path:
    """The SCRFD .onnx for ``path``: the file itself, a pack folder, ``.../insightface/models`` or
    ``.../insightface``. Raises WeightsError naming the folders searched, or the nested-folder fix."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.exists():
        raise WeightsError(f"insightface model folder not found: {path}. Put the antelopev2 or buffalo_l pack at "
                           "ComfyUI/models/insightface/models/<pack>/ and pass that folder.")
    # candidate pack folders, most specific first: the folder itself, its packs, and .../models/<pack>
    candidates = [path] + _pack_dirs(path) + (_pack_dirs(path / "models") if (path / "models").is_dir() else [])
    # <pack>/<pack>/ is the nested-zip mistake: never use it silently, other nodes would still fail
    searched = [c for c in candidates if c == path or c.name != c.parent.name]
    for folder in searched:
        files = _det_files(folder)
        if files:
            return files[0]
    for folder in searched:  # one level deeper: <pack>/<pack>/*.onnx or <pack>/<anything>/*.onnx
        for inner in [folder / folder.name] + _pack_dirs(folder):
            files = _det_files(inner)
            if files:
                raise WeightsError(
                    f"found the insightface detector {files[0].name} one folder too deep, in {inner}. "
                    f"The pack was unpacked into a nested folder; move the .onnx files from {inner} up into "
                    f"{folder} (insightface and other nodes look there), then delete the empty {inner.name} folder.")
    names = " or ".join(DET_PATTERNS)
    raise WeightsError(f"no insightface detection model ({names}) in {path}. Searched: "
                       + ", ".join(str(s) for s in searched[:8])
                       + ". Expected e.g. models/insightface/models/antelopev2/scrfd_10g_bnkps.onnx or "
                       "models/insightface/models/buffalo_l/det_10g.onnx.")


# ----------------------------------------------------------------------------- pre/post-processing
def letterbox(rgb: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float, float]:
    """Resize into (W, H) = size keeping the aspect ratio, top-left, zero padding (insightface's rule).

    Returns (canvas uint8 (H, W, 3), sx, sy): input coordinates = canvas coordinates * (sx, sy).
    """
    import cv2

    h, w = rgb.shape[:2]
    tw, th = size
    if h / w > th / tw:
        nh, nw = th, max(1, int(th * w / h))
    else:
        nw, nh = tw, max(1, int(tw * h / w))
    canvas = np.zeros((th, tw, 3), np.uint8)
    canvas[:nh, :nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return canvas, w / nw, h / nh


def to_blob(canvas: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (1, 3, H, W) float32 (x - 127.5) / 128."""
    return ((canvas.astype(np.float32) - INPUT_MEAN) / INPUT_STD).transpose(2, 0, 1)[None].copy()


def anchor_centers(height: int, width: int, stride: int, num_anchors: int) -> np.ndarray:
    """(height * width * num_anchors, 2) x, y in pixels; each cell's anchors are consecutive."""
    ys, xs = np.mgrid[:height, :width]
    centers = (np.stack([xs, ys], axis=-1).reshape(-1, 2) * stride).astype(np.float32)
    return np.repeat(centers, num_anchors, axis=0)


def decode_level(scores, box_dist, kps_dist, stride: int, height: int, width: int, num_anchors: int,
                 threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One FPN level. scores (N,) or (N,1); box_dist (N,4) and kps_dist (N,10) in stride units.

    Returns boxes (K,4) x1,y1,x2,y2, keypoints (K,5,2), scores (K,) for scores >= threshold.
    """
    scores = np.asarray(scores, np.float32).reshape(-1)
    centers = anchor_centers(height, width, stride, num_anchors)
    if centers.shape[0] != scores.shape[0]:
        raise WeightsError(f"SCRFD stride {stride}: {scores.shape[0]} scores for {centers.shape[0]} anchors "
                           f"({height}x{width} cells x {num_anchors}); the model layout is not SCRFD's")
    keep = np.flatnonzero(scores >= threshold)
    c = centers[keep]
    d = np.asarray(box_dist, np.float32).reshape(-1, 4)[keep] * stride
    boxes = np.concatenate([c - d[:, :2], c + d[:, 2:]], axis=1)
    k = np.asarray(kps_dist, np.float32).reshape(-1, 5, 2)[keep] * stride
    return boxes, c[:, None, :] + k, scores[keep]


class SCRFDDetector:
    """SCRFD (insightface pack) on onnxruntime. ``detect()`` follows the FaceDetector protocol.

    The network always runs at its input size (640x640 unless the file fixes another), so ``max_side``
    only shrinks the image before the letterbox; it does not make SCRFD faster.
    """

    name = "insightface"

    def __init__(self, model_path: str | Path, device: str = "cpu", threads: int | None = None):
        self.path = Path(model_path)
        self.session = make_session(self.path, str(self.path), device=device, threads=threads)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        shape = list(inp.shape)
        fixed = len(shape) == 4 and all(isinstance(v, int) and v > 0 for v in shape[2:])
        self.input_size = (shape[3], shape[2]) if fixed else (DEFAULT_SIZE, DEFAULT_SIZE)  # (W, H)
        outs = self.session.get_outputs()
        if len(outs) not in LAYOUTS:
            kps_hint = " (this looks like a variant without keypoints; use the *_bnkps / det_10g model)" \
                if len(outs) in (6, 10) else ""
            raise WeightsError(f"{self.path} has {len(outs)} outputs; an SCRFD detector with keypoints has 9 or "
                               f"15{kps_hint}")
        self.strides, self.num_anchors = LAYOUTS[len(outs)]
        self.batched = len(outs[0].shape) == 3

    @classmethod
    def from_path(cls, path: str | Path | None, device: str = "cpu", threads: int | None = None) -> "SCRFDDetector":
        if path is None:
            raise WeightsError("the insightface detector needs a path: the ComfyUI models/insightface folder, a pack "
                               "folder such as models/insightface/models/antelopev2, or the .onnx file itself")
        return cls(find_detector_file(path), device=device, threads=threads)

    def detect(self, image: np.ndarray, *, max_side: int | None = None, threshold: float = 0.5) -> Detections:
        rgb = as_rgb_uint8(image)
        threshold = check_threshold(threshold)
        small, sx0, sy0 = downscale(rgb, max_side)
        if min(small.shape[:2]) < MIN_IMAGE_SIDE:
            return Detections.empty()
        canvas, sx, sy = letterbox(small, self.input_size)
        outs = self.session.run(None, {self.input_name: to_blob(canvas)})
        if self.batched:
            outs = [o[0] for o in outs]
        th, tw = canvas.shape[:2]
        n = len(self.strides)
        parts = [decode_level(outs[i], outs[i + n], outs[i + 2 * n], s, th // s, tw // s, self.num_anchors, threshold)
                 for i, s in enumerate(self.strides)]
        boxes = np.concatenate([p[0] for p in parts])
        kps = np.concatenate([p[1] for p in parts])
        scores = np.concatenate([p[2] for p in parts])
        if len(scores) == 0:
            return Detections.empty()
        keep = nms(boxes, scores, NMS_IOU)
        det = Detections.from_arrays(boxes[keep], kps[keep], scores[keep])
        return det.scaled(sx * sx0, sy * sy0)
