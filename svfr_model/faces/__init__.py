"""The face step around the model: detect, track, crop to the model size, paste back.

    crops = crop_faces(frames, detector, mode="tracked", faces="all")   # FaceCrops
    restored = [model(c) for c in crops.crops]                           # each (n_i, 512, 512, 3)
    out = paste_faces(frames, restored, crops.record, color_match="lab")

``frames`` is ComfyUI's IMAGE layout: float (N, H, W, C) in 0..1 (torch or numpy; uint8 accepted;
grayscale / RGBA handled), converted one frame at a time, so a long video is never copied whole.

Pass 1, detect and track (``plan``, ``track``, ``reid``): ``detect_faces`` -> ``plan_from_detections`` ->
the crop record (``records``). Pass 2, per chunk of frames: ``extract_crops`` (``crop``), restore,
``paste_faces`` (``paste_back``). Over a file without holding it: ``stream``. Choices and option objects:
``options``. Detectors: ``detect``.
"""
from .crop import crop_faces, crop_frame, extract_crops
from .frames import FrameSource
from .masks import warp_mask_to_crops
from .paste_back import COLOR_SMOOTHING, paste_faces
from .plan import (CUT_JUMP, CUT_ZOOM, DEFAULT_MAX_GAP, DEFAULT_MIN_FACE, DEFAULT_SMOOTHING, MIN_DETECTIONS,
                   FaceDetections, detect_faces, official_max_face, plan_crops, plan_from_detections)
from .options import MODES
from .records import FaceCropRecord, FaceCrops, FaceTrack, record_slice
from .reference import crop_reference

__all__ = ["COLOR_SMOOTHING", "CUT_JUMP", "CUT_ZOOM", "DEFAULT_MAX_GAP", "DEFAULT_MIN_FACE", "DEFAULT_SMOOTHING",
           "MIN_DETECTIONS", "MODES", "FaceCropRecord", "FaceCrops", "FaceDetections", "FaceTrack", "FrameSource",
           "crop_faces", "crop_frame", "crop_reference", "detect_faces", "extract_crops", "official_max_face",
           "paste_faces", "plan_crops", "plan_from_detections", "record_slice", "warp_mask_to_crops"]
