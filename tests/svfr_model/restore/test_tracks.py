"""restore_tracks: every face track equals a direct restore_video call with the right reference and landmarks.

Tiny parity models at 64 px crops, 1 step per pass, 3 frames of two faces (the CPU is shared).
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from testdata import astronaut

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 64
ARGS = dict(tasks=[1, 0, 0], seed=5, steps=1, pass1_steps=1, guidance_min=1.5, guidance_max=2.5, window=2,
            overlap=1, noise_aug=0.0, i2i_strength=1.0, decode_chunk=2)


@pytest.fixture(scope="module")
def models(test_models_dir):
    from svfr_model.weights.models import load_svfr_models

    return load_svfr_models(test_models_dir, dtype="fp32", device="cpu")


@pytest.fixture(scope="module")
def detector():
    from svfr_model.faces.detect import load_detector

    return load_detector("retinaface")


@pytest.fixture(scope="module")
def two_tracks(detector):
    """3 frames with the astronaut's face on the left and its mirror image (a second person) on the right."""
    from svfr_model.faces import crop_faces

    face = cv2.resize(astronaut()[:400, 40:440], (180, 180), interpolation=cv2.INTER_AREA)
    frames = np.full((3, 200, 440, 3), 70, np.uint8)
    for i in range(3):
        frames[i, 10:190, 10 + 3 * i:190 + 3 * i] = face
        frames[i, 10:190, 240 - 3 * i:420 - 3 * i] = face[:, ::-1]
    crops = crop_faces(torch.from_numpy(frames).float() / 255.0, detector, faces="all", size=SIZE)
    assert len(crops.crops) == 2  # the premise: two face tracks
    return crops


@pytest.fixture(scope="module")
def portrait():
    """A photo of another size than the crops: 300x420, float 0..1."""
    photo = cv2.resize(astronaut(), (300, 420), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(photo.astype(np.float32) / 255.0)


def _direct(models, clip, **kwargs):
    from svfr_model.diffusion.passes import restore_video

    return restore_video(models, clip, dtype=torch.float32, device="cpu", **ARGS, **kwargs)


def test_each_track_equals_restore_video_with_the_record_landmarks(models, two_tracks):
    from svfr_model.restore.tracks import restore_tracks

    record = two_tracks.record
    started, ticks = [], {0: [], 1: []}

    def progress_for_track(k):
        started.append(k)
        return lambda done, total, preview=None: ticks[k].append((done, total))

    results = restore_tracks(models, two_tracks.crops, record, progress_for_track=progress_for_track,
                             dtype=torch.float32, device="cpu", **ARGS)
    assert len(results) == 2 and started == [0, 1]
    for k, (clip, result) in enumerate(zip(two_tracks.crops, results)):
        lm = record.tracks[k].landmarks[min(ARGS["window"], len(clip)) - 1] * (SIZE / record.size)
        direct = _direct(models, clip, reference_landmarks=lm)
        assert torch.equal(result.frames, direct.frames) and torch.equal(result.reference, direct.reference)
        assert ticks[k] and ticks[k][-1][0] == ticks[k][-1][1]  # each track's own progress ran to its end
    assert not torch.equal(results[0].frames, results[1].frames)
    assert float((results[0].frames - two_tracks.crops[0]).abs().mean()) > 0.01  # the model did something


def test_a_photo_of_another_size_is_framed_like_the_crops_for_every_track(models, two_tracks, detector, portrait):
    from svfr_model.faces.reference import crop_reference
    from svfr_model.restore.tracks import restore_tracks

    record = two_tracks.record
    results = restore_tracks(models, two_tracks.crops, record, references=[portrait], detector=detector,
                             dtype=torch.float32, device="cpu", **ARGS)
    crop, landmarks = crop_reference(portrait, detector, size=SIZE, mode=record.mode)
    for clip, result in zip(two_tracks.crops, results):
        direct = _direct(models, clip, reference=torch.from_numpy(crop), reference_landmarks=landmarks)
        assert torch.equal(result.frames, direct.frames)
        # the reference used is the photo's face crop, not the photo squashed to the crop size
        assert torch.allclose(result.reference, direct.reference) and result.reference.shape == (SIZE, SIZE, 3)


def test_wrong_reference_count_is_refused_before_any_detection(two_tracks, portrait):
    from svfr_model.errors import InputError
    from svfr_model.restore.tracks import restore_tracks

    class NoDetection:
        def detect(self, *a, **k):
            raise AssertionError("detection ran")

    with pytest.raises(InputError, match="'reference' has 3 images: give 1 .* or one per face track \\(2\\)"):
        restore_tracks(None, two_tracks.crops, two_tracks.record, references=[portrait] * 3,
                       detector=NoDetection(), **ARGS)


def test_reference_without_a_face_falls_back_to_the_record_else_says_why(models, two_tracks):
    from svfr_model.errors import NoFaceError
    from svfr_model.restore.tracks import restore_tracks

    clip, record = two_tracks.crops[0], two_tracks.record
    flat = torch.full((SIZE, SIZE, 3), 0.5)  # crop-sized, used as is; the engine finds no face in it
    with pytest.raises(NoFaceError, match="(?s)no face.*\nconnect the faces"):
        restore_tracks(models, [clip], None, references=[flat], no_face_hint="connect the faces",
                       dtype=torch.float32, device="cpu", **ARGS)
    # with a record, its landmarks of the pass-1 frame place the face (e.g. a still-degraded reference)
    result, = restore_tracks(models, [clip], _first_track(record), references=[flat],
                             dtype=torch.float32, device="cpu", **ARGS)
    lm = record.tracks[0].landmarks[min(ARGS["window"], len(clip)) - 1] * (SIZE / record.size)
    direct = _direct(models, clip, reference=flat, reference_landmarks=lm)
    assert torch.equal(result.frames, direct.frames)


@pytest.mark.fault("graph wiring", "record and crops of different runs")
def test_record_and_crops_of_different_runs_are_refused(two_tracks):
    from svfr_model.errors import InputError
    from svfr_model.restore.tracks import restore_tracks

    with pytest.raises(InputError, match="2 face tracks but 1 crop clips"):
        restore_tracks(None, two_tracks.crops[:1], two_tracks.record, **ARGS)


def _first_track(record):
    import copy

    one = copy.copy(record)
    one.tracks = record.tracks[:1]
    return one
