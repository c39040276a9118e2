"""Face Crop / Inpaint Mask / Paste Back nodes on a real face (scikit-image astronaut) in a wide frame."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from testdata import astronaut

pytestmark = pytest.mark.comfy
CROP = 128  # small crops keep the test fast; geometry is size independent


@pytest.fixture(scope="module")
def clip():
    """3 frames 400x640 (non-square), the astronaut's face moving right by 6 px per frame."""
    face = astronaut()[:400, 40:440].astype(np.float32) / 255.0  # (400, 400, 3), face in the upper middle
    frames = np.full((3, 400, 640, 3), 0.25, np.float32)
    for i in range(3):
        x = 100 + 6 * i
        frames[i, :, x:x + 400] = face
    return torch.from_numpy(frames)


@pytest.fixture(scope="module")
def detector(node_classes):
    return node_classes["SVFRFaceDetectorLoader"].execute(detector="retinaface (embedded)").result[0]


@pytest.fixture(scope="module")
def cropped(node_classes, clip, detector):
    out = node_classes["SVFRFaceCrop"].execute(images=clip, detector=detector, mode="tracked", faces="largest",
                                               index=0, crop_size=CROP, if_no_face="error")
    return out.result


def test_crop_outputs_one_track_following_the_face(cropped, clip):
    crops, record, preview = cropped
    assert crops.shape == (3, CROP, CROP, 3) and crops.dtype == torch.float32
    assert len(record.tracks) == 1 and list(record.tracks[0].frame_indices) == [0, 1, 2]
    # the face moves 6 px right per frame: the crop transforms translate by about -6 px * scale
    M = record.tracks[0].transforms
    scale = np.hypot(M[0, 0, 0], M[0, 0, 1])
    dx = (M[1, 0, 2] - M[0, 0, 2]) / scale
    assert -9.0 < dx < -3.0, dx
    # crops are views of the frame: the crop of frame 0 equals the frame sampled through its transform
    import cv2
    expected = cv2.warpAffine(clip[0].numpy(), M[0], (CROP, CROP), flags=cv2.INTER_LINEAR)
    assert np.abs(crops[0].numpy() - expected).mean() < 0.03
    # preview: the frames at <= 512 px with coloured outlines only (most pixels untouched)
    assert preview.shape == (3, 320, 512, 3)
    small = torch.from_numpy(np.stack([cv2.resize(f, (512, 320), interpolation=cv2.INTER_AREA)
                                       for f in clip.numpy()]))
    changed = (preview - small).abs().amax(-1) > 1e-6
    assert 0 < changed.float().mean() < 0.05
    # the outline of frame 0 passes through the crop square's corners mapped back to the preview (the
    # clip keeps the whole square inside the frame: corners at about x 155/298, y 19/161 in the preview)
    inv = cv2.invertAffineTransform(M[0])
    corners = np.array([[0, 0, 1], [CROP - 1, 0, 1], [0, CROP - 1, 1], [CROP - 1, CROP - 1, 1]], np.float64)
    xy = ((corners @ inv.T) * 0.8).round().astype(int)  # frame -> preview: 640x400 -> 512x320
    inside = [(x, y) for x, y in xy if 1 <= x < 511 and 1 <= y < 319]
    assert len(inside) == 4, xy
    for x, y in inside:
        assert changed[0, y - 1:y + 2, x - 1:x + 2].any(), (x, y)


def test_paste_back_round_trip_and_untouched_background(node_classes, cropped, clip):
    crops, record, _ = cropped
    paste = node_classes["SVFRPasteBack"]
    same, mask = paste.execute(images=clip, restored=crops, faces=record, feather=32, color_match="none",
                               erode=24).result
    assert same.shape == clip.shape and mask.shape == clip.shape[:3]
    outside = mask == 0
    assert torch.equal(same[outside], clip[outside])  # background bit-identical
    assert mask.max() == 1.0 and 0.02 < mask.mean() < 0.5
    inside = mask > 0.5
    assert (same[inside] - clip[inside]).abs().mean() < 0.02  # crop -> paste of the same pixels
    dark, mask2 = paste.execute(images=clip, restored=torch.zeros_like(crops), faces=record, feather=32,
                                color_match="none", erode=24).result
    assert torch.equal(mask, mask2)
    # where the mask is 1 the restored (black) pixels replace the frame
    full = mask > 0.999
    assert dark[full].abs().max() < 1e-3 and torch.equal(dark[outside], clip[outside])


@pytest.mark.fault("graph wiring", "crops of another record")
def test_paste_back_refuses_crops_of_another_record(node_classes, cropped, clip):
    from svfr_model.errors import InputError

    crops, record, _ = cropped
    with pytest.raises(InputError, match="faces"):
        node_classes["SVFRPasteBack"].execute(images=clip, restored=crops[:2], faces=record, feather=32,
                                              color_match="lab", erode=24)


def test_no_face_error_or_pass_through(node_classes, detector):
    from svfr_model.errors import NoFaceError

    blank = torch.full((2, 96, 160, 3), 0.5)
    crop = node_classes["SVFRFaceCrop"]
    with pytest.raises(NoFaceError, match="no face"):
        crop.execute(images=blank, detector=detector, mode="tracked", faces="largest", index=0,
                     crop_size=CROP, if_no_face="error")
    crops, record, preview = crop.execute(images=blank, detector=detector, mode="tracked", faces="largest",
                                          index=0, crop_size=CROP, if_no_face="pass through").result
    assert crops.shape == (0, CROP, CROP, 3) and record.tracks == [] and torch.equal(preview, blank)
    out, mask = node_classes["SVFRPasteBack"].execute(images=blank, restored=crops, faces=record, feather=32,
                                                      color_match="lab", erode=24).result
    assert torch.equal(out, blank) and float(mask.sum()) == 0.0


def test_frame_mask_is_warped_with_the_crop_geometry(node_classes, cropped, clip):
    crops, record, _ = cropped
    H, W = clip.shape[1:3]
    frame_mask = torch.zeros((H, W))
    frame_mask[:, : W // 2] = 1.0  # left half of every frame
    masks = node_classes["SVFRInpaintMask"].execute(mask=frame_mask, space="frame", faces=record).result[0]
    assert masks.shape == (3, CROP, CROP)
    # independent expectation: a crop pixel is masked iff its source point (inverse transform) is left of W/2
    import cv2
    ys, xs = np.mgrid[0:CROP, 0:CROP]
    for k in range(3):
        inv = cv2.invertAffineTransform(record.tracks[0].transforms[k])
        src_x = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
        expected = (src_x < W / 2 - 0.5).astype(np.float32)
        agree = ((masks[k].numpy() > 0.5) == (expected > 0.5)).mean()
        assert agree > 0.98, (k, agree)
        assert 0.05 < expected.mean() < 0.95  # the boundary really crosses the crop


def test_crop_space_mask_passes_through_and_frame_space_needs_the_record(node_classes):
    from svfr_model.errors import InputError

    node = node_classes["SVFRInpaintMask"]
    m = torch.rand(4, 64, 64)
    assert torch.equal(node.execute(mask=m, space="crop").result[0], m)
    with pytest.raises(InputError, match="faces"):
        node.execute(mask=m, space="frame")


def test_official_mode_uses_one_static_box(node_classes, clip, detector):
    crops, record, _ = node_classes["SVFRFaceCrop"].execute(
        images=clip, detector=detector, mode="official", faces="largest", index=0, crop_size=CROP,
        if_no_face="error").result
    assert crops.shape == (3, CROP, CROP, 3) and record.mode == "official"
    M = np.asarray(record.tracks[0].transforms)
    assert np.allclose(M, M[0])  # the official crop box does not follow the face


def test_face_index_beyond_the_tracks_is_a_clear_error(node_classes, clip, detector):
    from svfr_model.errors import InputError

    with pytest.raises(InputError, match="only 1 face track"):
        node_classes["SVFRFaceCrop"].execute(images=clip, detector=detector, mode="tracked", faces="index",
                                             index=3, crop_size=CROP, if_no_face="error")


def test_crop_node_reid_option_joins_a_person_back_elsewhere(pack, node_classes, detector):
    """The astronaut leaves the left side for 20 frames and comes back on the right: one track with the
    default reid (appearance), two with reid=off. The choices are the engine's."""
    from svfr_model.faces.reid import REID_WITHOUT_MODEL

    assert _options(node_classes["SVFRFaceCrop"], "reid") == list(REID_WITHOUT_MODEL)
    face = torch.from_numpy(astronaut()[:400, 40:440].astype(np.float32) / 255.0)
    face = torch.nn.functional.interpolate(face.permute(2, 0, 1)[None], size=(160, 160), mode="area")[0]
    frames = torch.full((30, 200, 480, 3), 0.25)
    for i in list(range(5)) + list(range(25, 30)):
        x = 20 if i < 5 else 300
        frames[i, 20:180, x:x + 160] = face.permute(1, 2, 0)
    crop = node_classes["SVFRFaceCrop"]
    args = dict(images=frames, detector=detector, mode="tracked", faces="all", index=0, crop_size=64,
                if_no_face="error")
    joined = crop.execute(**args).result[1]
    assert [list(t.frame_indices) for t in joined.tracks] == [[0, 1, 2, 3, 4, 25, 26, 27, 28, 29]]
    assert joined.joined and "elsewhere" in joined.joined[0]
    apart = crop.execute(**args, reid="off").result[1]
    assert sorted(list(t.frame_indices) for t in apart.tracks) == [[0, 1, 2, 3, 4], [25, 26, 27, 28, 29]]


def _options(node, name: str) -> list:
    return next(i.options for i in node.define_schema().inputs if i.id == name)


def test_restore_node_choices_are_the_engines(node_classes):
    from svfr_model.faces.options import COLOR_MATCH_CHOICES, FACE_CHOICES, MODES, NO_FACE_CHOICES
    from svfr_model.faces.reid import REID_CHOICES

    for node_id in ("SVFRVideoRestore", "SVFRFaceCrop"):
        node = node_classes[node_id]
        assert _options(node, "mode") == list(MODES) and _options(node, "faces") == list(FACE_CHOICES)
        assert _options(node, "if_no_face") == list(NO_FACE_CHOICES)
    assert _options(node_classes["SVFRVideoRestore"], "reid") == list(REID_CHOICES)
    for node_id in ("SVFRVideoRestore", "SVFRPasteBack"):
        assert _options(node_classes[node_id], "color_match") == list(COLOR_MATCH_CHOICES)
