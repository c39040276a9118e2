"""A look at the crop record: the frames with each crop's outline, one colour per track."""
from __future__ import annotations

import numpy as np
import torch

_BOX_COLORS = ((0.1, 1.0, 0.2), (1.0, 0.8, 0.1), (0.2, 0.6, 1.0), (1.0, 0.3, 0.8))


PREVIEW_MAX_SIDE = 512  # the preview is for looking at: small, so a long video is not copied at full size


def draw_crop_boxes(frames: torch.Tensor, record, max_side: int = PREVIEW_MAX_SIDE) -> torch.Tensor:
    """The frames (scaled to at most max_side px) with each crop's outline, one colour per track."""
    import cv2

    n, h, w = int(frames.shape[0]), int(frames.shape[1]), int(frames.shape[2])
    scale = min(1.0, max_side / max(h, w))
    ph, pw = max(1, round(h * scale)), max(1, round(w * scale))
    boxes: dict[int, list] = {}
    s = float(record.size)
    square = np.array([[0, 0], [s, 0], [s, s], [0, s]], dtype=np.float64)
    for ti, track in enumerate(record.tracks):
        for f, M in zip(track.frame_indices, track.transforms):
            inv = cv2.invertAffineTransform(np.asarray(M, dtype=np.float64))
            corners = (square @ inv[:, :2].T + inv[:, 2]) * (pw / w, ph / h)
            boxes.setdefault(int(f), []).append((ti, np.round(corners).astype(np.int32)))
    out = np.empty((n, ph, pw, 3), np.float32)
    for f in range(n):
        img = frames[f].numpy()
        img = np.ascontiguousarray(img if scale == 1.0 else cv2.resize(img, (pw, ph), interpolation=cv2.INTER_AREA))
        for ti, corners in boxes.get(f, ()):
            cv2.polylines(img, [corners], True, _BOX_COLORS[ti % len(_BOX_COLORS)], 1, cv2.LINE_AA)
        out[f] = img
    return torch.from_numpy(out)
