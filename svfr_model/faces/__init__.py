"""Face pipeline around the model: detect, track, crop to 512, paste back (see pipeline.py)."""
from .crop import crop_faces
from .paste_back import paste_faces
from .records import FaceCropRecord, FaceCrops, FaceTrack
from .masks import warp_mask_to_crops
from .reference import crop_reference

__all__ = ["FaceCropRecord", "FaceCrops", "FaceTrack", "crop_faces", "paste_faces", "warp_mask_to_crops",
           "crop_reference"]
