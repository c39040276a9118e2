"""Loading the SVFR model set: UNet (12-ch), SVD-xt VAE, scheduler config, id projector, optional ArcFace.

Official layout (config/infer.yaml)::

    ROOT/face_restoration/unet.pth               (or unet.safetensors)
    ROOT/face_restoration/id_linear.pth          (or id_linear.safetensors)
    ROOT/face_restoration/insightface_glint360k.pth   (optional at load time; needed for self-reference)
    ROOT/stable-video-diffusion-img2vid-xt/vae/{config.json, diffusion_pytorch_model[.fp16].safetensors}
    ROOT/stable-video-diffusion-img2vid-xt/scheduler/scheduler_config.json
    ROOT/stable-video-diffusion-img2vid-xt/unet/config.json   (config only: unet.pth replaces every weight)

Flat ComfyUI folders, a ``models/`` wrapper, ComfyUI's single-file ``svd_xt.safetensors`` and explicit files
work too: finding the files is ``model_files.find_model_files`` (one error listing every missing file),
loading the VAE is ``model_files.load_vae`` (a single file is read lazily, only its VAE tensors).
Missing SVD-xt config files fall back to the real configs shipped in ``svfr_model/networks/configs``. Every weight
is loaded strictly; nothing is ever left random. The CLIP image encoder is never loaded (never run officially).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import torch

from .checkpoints import load_strict, read_state_dict
from ..errors import WeightsError
from ..networks.configs import default_scheduler_config, default_unet_config, read_config
from ..networks.arcface import IResNet, arcface_mismatch_hint, iresnet100
from ..networks.id_projector import IDProjector, id_projector_mismatch_hint
from ..networks.unet import build_unet, unet_mismatch_hint
from ..precision import resolve_device, resolve_dtype, resolve_vae_dtype

if TYPE_CHECKING:
    from .model_files import ModelFiles


@dataclass
class SVFRModels:
    """Everything ``restore_video`` needs. ``arcface`` may be None (then pass id_tokens or a ready reference
    with tokens); ``arcface_path`` says where it was expected, for the error message."""

    unet: torch.nn.Module
    vae: torch.nn.Module
    scheduler_config: dict
    id_projector: torch.nn.Module
    arcface: Optional[torch.nn.Module] = None
    dtype: torch.dtype = torch.float32
    device: torch.device = torch.device("cpu")
    arcface_path: Optional[Path] = None
    paths: Optional["ModelFiles"] = None  # the files it was loaded from
    vae_dtype: torch.dtype = torch.float32  # the VAE decoder's precision (its encoder is always float32)
    vae_device: Optional[torch.device] = None  # where the VAE runs when not on ``device`` (ComfyUI --cpu-vae)

    def to(self, device: str | torch.device | None = None, dtype: str | torch.dtype | None = None,
           vae_dtype: str | torch.dtype | None = None) -> "SVFRModels":
        """Move the networks (UNet in ``dtype``, VAE decoder in ``vae_dtype``; VAE encoder, projector and
        ArcFace stay float32). ``auto`` values are resolved for the target device."""
        from ..networks.vae import set_vae_dtype

        device = resolve_device(device) if device is not None else self.device
        dtype = resolve_dtype(dtype, device) if dtype is not None else self.dtype
        vae_dtype = resolve_vae_dtype(vae_dtype, device) if vae_dtype is not None else self.vae_dtype
        # nn.Module.to: diffusers' ModelMixin.to warns about dtype casts we do on purpose.
        torch.nn.Module.to(self.unet, device=device, dtype=dtype)
        set_vae_dtype(self.vae, vae_dtype, self.vae_device or device)
        self.id_projector.to(device=device)
        if self.arcface is not None:
            self.arcface.to(device=device)
        self.device, self.dtype, self.vae_dtype = device, dtype, vae_dtype
        return self


def load_unet(weights: Path, config: Optional[Path], dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """Strictly load ``unet.pth`` into the 12-channel UNet.

    The module is built on the meta device and the file's tensors are assigned (then cast to ``dtype``):
    no 1.5 B-parameter random init, no second full copy. The model has no buffers, so nothing stays on meta.
    """
    cfg = read_config(config) if config is not None else default_unet_config()
    sd = read_state_dict(weights)
    unet = build_unet(cfg, device="meta")
    own = unet.state_dict()
    if set(own) != set(sd) or any(tuple(own[k].shape) != tuple(sd[k].shape) for k in own):
        load_strict(unet, sd, weights, unet_mismatch_hint)  # raises the readable key/shape error
    unet.load_state_dict(sd, strict=True, assign=True)
    del sd
    left = [n for n, t in list(unet.named_parameters()) + list(unet.named_buffers()) if t.is_meta]
    if left:
        raise WeightsError(f"{weights}: tensors not loaded: {left[:5]}")
    torch.nn.Module.to(unet, dtype=dtype)
    return unet.eval().requires_grad_(False)


def load_arcface(path: str | Path, dtype: torch.dtype = torch.float32) -> IResNet:
    """Build iresnet100 and strictly load ``insightface_glint360k.pth`` (or its .safetensors twin).

    Unlike the official loader this never falls back to random weights. BatchNorm
    ``num_batches_tracked`` counters may be absent (they do not affect eval mode) and are zero-filled.
    """
    sd = read_state_dict(path)
    model = iresnet100()
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked") and k not in sd:
            sd[k] = torch.zeros_like(v)
    load_strict(model, sd, path, arcface_mismatch_hint)
    return model.to(dtype).eval().requires_grad_(False)


def load_id_projector(path: str | Path, dtype: torch.dtype = torch.float32) -> IDProjector:
    """Build the projector and strictly load ``id_linear.pth`` / ``.safetensors`` into it (eval mode)."""
    sd = read_state_dict(path)
    model = IDProjector()
    load_strict(model, sd, path, id_projector_mismatch_hint)
    return model.to(dtype).eval().requires_grad_(False)


def load_svfr_models(root: str | Path | None = None, *, unet=None, id_linear=None, arcface=None, vae=None,
                     dtype: str | torch.dtype = "fp32", device: str | torch.device = "cpu",
                     require_arcface: bool = False, vae_dtype: str | torch.dtype = "auto") -> SVFRModels:
    """Load the SVFR model set found under ``root`` (official, flat or ``models/`` wrapper layout; see
    ``model_files``). Overrides: explicit file paths (then ``root`` may be None); ``vae`` may also be a ready
    ``AutoencoderKLTemporalDecoder`` (no VAE file needed then). ArcFace is optional at load time unless
    ``require_arcface``; ``SVFRModels.arcface_path`` says where it goes. ``device="auto"``: CUDA when present;
    ``dtype="auto"`` (UNet) and ``vae_dtype="auto"`` (VAE decoder): fp16 on CUDA, float32 on the CPU."""
    from .model_files import find_model_files, load_vae

    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    vae_module = vae if isinstance(vae, torch.nn.Module) else None
    files = find_model_files(root, require_arcface=require_arcface, require_vae=vae_module is None,
                             unet=unet, id_linear=id_linear, arcface=arcface,
                             vae=None if vae_module is not None else vae)
    unet_m = load_unet(files.unet, files.unet_config, torch_dtype)
    if vae_module is not None:
        vae_m = torch.nn.Module.to(vae_module, dtype=torch.float32).eval().requires_grad_(False)
    else:
        vae_m = load_vae(files)
    sched_cfg = read_config(files.scheduler_config) if files.scheduler_config else default_scheduler_config()
    idp = load_id_projector(files.id_linear)
    arc = load_arcface(files.arcface) if files.arcface is not None else None
    models = SVFRModels(unet=unet_m, vae=vae_m, scheduler_config=sched_cfg, id_projector=idp, arcface=arc,
                        dtype=torch_dtype, arcface_path=files.arcface_place, paths=files)
    return models.to(device=device, vae_dtype=vae_dtype)
