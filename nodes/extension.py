"""The ComfyExtension that lists the SVFR nodes (returned by the pack's comfy_entrypoint)."""
from __future__ import annotations

from comfy_api.v0_0_2 import ComfyExtension, io

from . import host
from .example_inputs import install_into_comfy_input
from .detector_loader import SVFRFaceDetectorLoader
from .face_crop import SVFRFaceCrop
from .mask import SVFRInpaintMask
from .model_download import SVFRDownloadModels
from .model_loader import SVFRModelLoader
from .paste import SVFRPasteBack
from .sampler import SVFRSampler
from .task import SVFRTaskVector
from .video_restore import SVFRVideoRestore

NODES: list[type[io.ComfyNode]] = [
    SVFRModelLoader,
    SVFRDownloadModels,
    SVFRFaceDetectorLoader,
    SVFRFaceCrop,
    SVFRTaskVector,
    SVFRInpaintMask,
    SVFRSampler,
    SVFRPasteBack,
    SVFRVideoRestore,
]


class SVFRExtension(ComfyExtension):
    async def on_load(self) -> None:  # called by newer ComfyUI only; registration is idempotent
        host.register_model_folder()

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        host.register_model_folder()
        install_into_comfy_input()  # once per start: the example workflows' files, never over a user's
        return list(NODES)
