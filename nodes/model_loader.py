"""SVFRModelLoader: the SVFR model set from models/svfr -> SVFR_MODEL (engine models + ModelPatchers)."""
from __future__ import annotations

import torch
from comfy_api.v0_0_2 import io
from svfr_model.precision import PRECISIONS, VAE_PRECISIONS

from . import host
from .types import CATEGORY, SVFRModel
from .wording import speaks_widgets


class SVFRModelLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SVFRModelLoader",
            display_name="SVFR Model Loader",
            category=CATEGORY,
            description=(
                "Loads the SVFR model set (UNet, ID projector, ArcFace, SVD VAE) from models/svfr. "
                "ComfyUI moves the models to the GPU when the sampler runs and evicts them when memory "
                "is needed. A missing file is reported with its folder and download source."
            ),
            inputs=[
                io.Combo.Input(
                    "model_folder", options=host.model_folder_choices(), default=host.ROOT_CHOICE,
                    tooltip="Folder holding the SVFR files: the official layout (face_restoration/ + "
                            "stable-video-diffusion-img2vid-xt/), a cloned SVFR repo (the same under models/) or "
                            "the files side by side. '.' = models/svfr itself; entries from models/SVFR (earlier "
                            "SVFR packs) end with '(models/SVFR)'.",
                ),
                io.Combo.Input(
                    "precision", options=list(PRECISIONS), default="auto",
                    tooltip="Weight/compute precision. auto: ComfyUI's choice for this device "
                            "(fp16 on most GPUs, fp32 on CPU).",
                ),
                io.Combo.Input(
                    "vae_precision", options=list(VAE_PRECISIONS), default="auto", optional=True,
                    tooltip="VAE decoder precision (its encoder always runs in fp32, as officially). auto: "
                            "ComfyUI's VAE choice (--fp16-vae/--bf16-vae/--fp32-vae; fp16 on most GPUs as the "
                            "official run, fp32 on CPU); --cpu-vae keeps the VAE on the CPU.",
                ),
                io.Vae.Input(
                    "vae", optional=True,
                    tooltip="Optional: the VAE of Image Only Checkpoint Loader on svd_xt.safetensors. "
                            "Used instead of the SVD vae/ folder (same weights, converted exactly).",
                ),
            ],
            outputs=[SVFRModel.Output("svfr_model", display_name="svfr_model", tooltip="The SVFR models, managed by ComfyUI.")],
        )

    @classmethod
    @speaks_widgets
    def execute(cls, model_folder: str, precision: str, vae=None, vae_precision: str = "auto") -> io.NodeOutput:
        import comfy.model_management as mm

        from svfr_model.errors import WeightsError

        root = host.resolve_model_folder(model_folder)
        dtype = host.pick_dtype(precision)
        vae_dtype = pick_vae_dtype(vae_precision)
        # Built on the offload device; ComfyUI's load_models_gpu moves them before sampling.
        try:
            models = load_model_set(root, dtype, str(mm.unet_offload_device()), comfy_vae=vae, vae_dtype=vae_dtype)
        except WeightsError as exc:  # the files are the engine's words; the widget that chose them is ours
            raise WeightsError(f"'model_folder' = {model_folder!r}: {exc}") from exc
        patchers = host.wrap_in_patchers(models)
        vae_device = mm.vae_device()
        if vae_device != mm.get_torch_device():  # --cpu-vae: the VAE's patcher loads it onto the CPU
            models.vae_device = vae_device
            for patcher in patchers:
                if patcher.model.inner is models.vae:
                    patcher.load_device = vae_device
        handle = host.SVFRModelHandle(models=models, patchers=patchers, dtype=dtype, source=root)
        return io.NodeOutput(handle)




def pick_vae_dtype(precision: str | None) -> str:
    """'auto' follows ComfyUI: --fp16-vae/--bf16-vae/--fp32-vae, else fp16 where the device runs it well (the
    official SVFR run decodes in fp16), else fp32; a VAE on the CPU (--cpu-vae, CPU-only) runs in fp32."""
    import comfy.model_management as mm

    if precision not in (None, "auto"):
        return precision
    device = mm.vae_device()
    dtype = mm.vae_dtype(device, allowed_dtypes=[torch.float16, torch.bfloat16])
    if device.type == "cpu" and dtype == torch.float16:  # only when forced; fp16 convs on the CPU are slow
        return "fp16"
    return {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(dtype, "fp32")


def load_model_set(root: str, dtype: str, device: str, comfy_vae=None, vae_dtype: str = "auto"):
    """Check every file first (one error naming all missing ones, ArcFace included: the node always
    needs it for the identity tokens), then load strictly. With ``comfy_vae`` (the ComfyUI VAE input) no
    VAE is needed on disk, in any layout; it is converted only once the files are known to be there."""
    from svfr_model.weights.model_files import find_model_files
    from svfr_model.weights.models import load_svfr_models

    find_model_files(root, require_arcface=True, require_vae=comfy_vae is None)  # cheap: file checks only
    vae_module = _convert_comfy_vae(comfy_vae) if comfy_vae is not None else None
    return load_svfr_models(root, vae=vae_module, dtype=dtype, device=device, require_arcface=True,
                            vae_dtype=vae_dtype)


def _convert_comfy_vae(vae):
    """ComfyUI VAE (SVD temporal VAE, original key names) -> the engine's diffusers VAE, exactly.

    ComfyUI's own vae.encode/decode are not used: their scaling and latent sampling differ from SVFR's.
    """
    from svfr_model.errors import WeightsError
    from svfr_model.weights import svd_single_file

    first_stage = getattr(vae, "first_stage_model", None)
    if first_stage is None:
        raise WeightsError("input 'vae' is not a ComfyUI VAE object (it has no first_stage_model)")
    return svd_single_file.vae_from_state_dict(first_stage.state_dict(), source="input 'vae' (ComfyUI VAE)")
