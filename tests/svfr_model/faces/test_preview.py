"""The crop preview draws each crop's outline where the record's transform puts it."""
import numpy as np
import torch

from svfr_model.faces import FaceCropRecord, FaceTrack
from svfr_model.faces.preview import draw_crop_boxes


def _record(h, w, box, frames=(0,)):
    """A record whose crop maps the square box (x0, y0, side) of the frame to a 64 px crop."""
    x0, y0, side = box
    s = 64 / side
    M = np.array([[s, 0, -x0 * s], [0, s, -y0 * s]], dtype=np.float64)
    n = len(frames)
    track = FaceTrack(np.array(frames), np.repeat(M[None], n, 0), np.zeros((n, 5, 2)), np.zeros(n, bool))
    return FaceCropRecord((h, w), max(frames) + 1, 64, "tracked", [track])


def test_outline_on_the_box_edges_and_nowhere_else():
    frames = torch.zeros(2, 100, 120, 3)
    out = draw_crop_boxes(frames, _record(100, 120, (30, 20, 40), frames=(0,)))
    assert out.shape == (2, 100, 120, 3)
    lit = out[0].sum(-1) > 0.5
    # the four edges of the square [30, 70] x [20, 60] are drawn ...
    assert lit[20, 40:60].all() and lit[60, 40:60].all() and lit[30:50, 30].all() and lit[30:50, 70].all()
    # ... the inside and the far background are untouched, and frame 1 (not in the track) has no box
    assert not lit[25:55, 35:65].any() and not lit[:10].any() and not lit[:, 90:].any()
    assert out[1].abs().max() == 0


def test_preview_is_scaled_to_max_side():
    frames = torch.zeros(1, 400, 1000, 3)
    out = draw_crop_boxes(frames, _record(400, 1000, (500, 100, 200)), max_side=500)
    assert out.shape == (1, 200, 500, 3)
    lit = out[0].sum(-1) > 0.5
    assert lit[50, 260:290].all() and lit[150, 260:290].all()  # box at half scale: [250, 350] x [50, 150]
