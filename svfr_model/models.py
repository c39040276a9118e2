"""Loading the SVFR model set: UNet (12-ch), SVD-xt VAE, scheduler config, id projector, optional ArcFace.

Official layout (config/infer.yaml)::

    ROOT/face_restoration/unet.pth               (or unet.safetensors)
    ROOT/face_restoration/id_linear.pth          (or id_linear.safetensors)
    ROOT/face_restoration/insightface_glint360k.pth   (optional at load time; needed for self-reference)
    ROOT/stable-video-diffusion-img2vid-xt/vae/{config.json, diffusion_pytorch_model[.fp16].safetensors}
    ROOT/stable-video-diffusion-img2vid-xt/scheduler/scheduler_config.json
    ROOT/stable-video-diffusion-img2vid-xt/unet/config.json   (config only: unet.pth replaces every weight)

Missing SVD-xt config files fall back to the real configs shipped in ``svfr_model/configs``. Every weight
is loaded strictly; nothing is ever left random. The CLIP image encoder is never loaded (never run officially).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from .checkpoints import load_strict, read_state_dict
from .errors import WeightsError
from .scheduler import default_scheduler_config
from .unet import build_unet, default_unet_config, read_config, unet_mismatch_hint
from .vae import build_vae, default_vae_config

SVD_DIR = "stable-video-diffusion-img2vid-xt"
FACE_DIR = "face_restoration"
VAE_WEIGHT_NAMES = (
    "diffusion_pytorch_model.fp16.safetensors",
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.fp16.bin",
    "diffusion_pytorch_model.bin",
)
SVFR_SOURCE = ("the SVFR release (see the official wangzhiyaoo/SVFR README: Google Drive / HuggingFace links), "
               "folder models/face_restoration")
SVD_SOURCE = "HuggingFace stabilityai/stable-video-diffusion-img2vid-xt (folder vae/)"

_DTYPES = {
    "fp32": torch.float32, "float32": torch.float32,
    "fp16": torch.float16, "float16": torch.float16, "half": torch.float16,
    "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
}


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        if dtype in (torch.float32, torch.float16, torch.bfloat16):
            return dtype
    elif str(dtype).lower() in _DTYPES:
        return _DTYPES[str(dtype).lower()]
    raise WeightsError(f"dtype {dtype!r} is not supported: use 'fp32', 'fp16' or 'bf16'")


@dataclass
class ModelPaths:
    unet: Path
    id_linear: Path
    arcface: Optional[Path]
    vae: Path | Any
    vae_config: Optional[Path]
    unet_config: Optional[Path]
    scheduler_config: Optional[Path]
    arcface_expected: Path = field(default=None)  # where ArcFace would go (for error messages)


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
    paths: Optional[ModelPaths] = None

    def to(self, device: str | torch.device | None = None, dtype: str | torch.dtype | None = None) -> "SVFRModels":
        """Move the networks (UNet in ``dtype``; VAE, projector and ArcFace stay float32)."""
        device = torch.device(device) if device is not None else self.device
        dtype = resolve_dtype(dtype) if dtype is not None else self.dtype
        # nn.Module.to: diffusers' ModelMixin.to warns about dtype casts we do on purpose.
        torch.nn.Module.to(self.unet, device=device, dtype=dtype)
        torch.nn.Module.to(self.vae, device=device, dtype=torch.float32)
        self.id_projector.to(device=device)
        if self.arcface is not None:
            self.arcface.to(device=device)
        self.device, self.dtype = device, dtype
        return self


def _first_existing(*candidates: Path) -> Optional[Path]:
    for c in candidates:
        if c.is_file():
            return c
    return None


def _twin(folder: Path, stem: str) -> Optional[Path]:
    return _first_existing(folder / f"{stem}.safetensors", folder / f"{stem}.pth")


def find_model_paths(root: str | Path | None, *, unet=None, id_linear=None, arcface=None, vae=None) -> ModelPaths:
    """Resolve every file; ONE WeightsError listing each missing file, where it goes and where to get it."""
    root = Path(root) if root is not None else None
    if root is not None and not root.is_dir():
        raise WeightsError(f"models folder not found: {root} (expected the official layout with "
                           f"{FACE_DIR}/ and {SVD_DIR}/ inside)")
    face = root / FACE_DIR if root is not None else None
    svd = root / SVD_DIR if root is not None else None
    missing: list[str] = []

    def pick(override, stem: str, what: str, source: str, required: bool = True):
        if override is not None:
            p = Path(override)
            if not p.is_file():
                missing.append(f"  - {what}: {p} (file given but not found). Get it from {source}.")
            return p
        found = _twin(face, stem) if face is not None else None
        if found is None and required:
            where = face / f"{stem}.pth" if face is not None else f"{FACE_DIR}/{stem}.pth"
            missing.append(f"  - {what}: put {stem}.pth (or {stem}.safetensors) at {where}. Get it from {source}.")
        return found

    unet_p = pick(unet, "unet", "SVFR UNet", SVFR_SOURCE)
    idl_p = pick(id_linear, "id_linear", "SVFR identity projector", SVFR_SOURCE)
    arc_p = pick(arcface, "insightface_glint360k", "ArcFace (IResNet-100, glint360k)", SVFR_SOURCE, required=False)

    if isinstance(vae, torch.nn.Module):
        vae_p = vae
    elif vae is not None:
        vae_p = Path(vae)
        if not vae_p.is_file():
            missing.append(f"  - SVD-xt VAE: {vae_p} (file given but not found). Get it from {SVD_SOURCE}.")
    else:
        vae_p = _first_existing(*(svd / "vae" / n for n in VAE_WEIGHT_NAMES)) if svd is not None else None
        if vae_p is None:
            where = svd / "vae" if svd is not None else f"{SVD_DIR}/vae"
            missing.append(f"  - SVD-xt VAE weights: put diffusion_pytorch_model.fp16.safetensors (and config.json) "
                           f"in {where}. Get them from {SVD_SOURCE}.")
    if missing:
        raise WeightsError("missing SVFR model files:\n" + "\n".join(missing))

    def cfg(sub: str, name: str) -> Optional[Path]:
        return _first_existing(svd / sub / name) if svd is not None else None

    vae_cfg = cfg("vae", "config.json")
    if isinstance(vae_p, Path) and vae_cfg is None and (vae_p.parent / "config.json").is_file():
        vae_cfg = vae_p.parent / "config.json"
    return ModelPaths(
        unet=unet_p, id_linear=idl_p, arcface=arc_p, vae=vae_p, vae_config=vae_cfg,
        unet_config=cfg("unet", "config.json"), scheduler_config=cfg("scheduler", "scheduler_config.json"),
        arcface_expected=arc_p or (face / "insightface_glint360k.pth" if face is not None
                                   else Path(FACE_DIR) / "insightface_glint360k.pth"),
    )


def _paths_from_model_files(root: str | Path) -> ModelPaths:
    """Discovery through ``model_files.find_model_files`` (official, flat and ``models/`` wrapper layouts;
    one message listing every missing file). ArcFace is optional here: it is only needed for pass 2's
    identity tokens when none are given."""
    from .model_files import find_model_files

    f = find_model_files(root, require_arcface=False)
    expected = f.arcface or (f.root / FACE_DIR / "insightface_glint360k.pth" if f.layout == "official"
                             else f.root / "insightface_glint360k.pth")
    return ModelPaths(unet=f.unet, id_linear=f.id_linear, arcface=f.arcface, vae=f.vae_weights,
                      vae_config=f.vae_config, unet_config=f.unet_config, scheduler_config=f.scheduler_config,
                      arcface_expected=expected)


def _vae_hint(missing, unexpected, mismatched):
    if unexpected and any(k.startswith("first_stage_model.") for k in unexpected):
        return "this is an original-format SVD single file; pass it as a ComfyUI svd_xt.safetensors VAE source"
    if mismatched:
        return "the VAE config does not match the weights: use the SVD-xt vae/config.json"
    return None


def load_vae(weights, config: Optional[Path]) -> torch.nn.Module:
    """Diffusers-format VAE weights (or an original-format svd_xt single file) strictly into the VAE."""
    if isinstance(weights, torch.nn.Module):
        return torch.nn.Module.to(weights, dtype=torch.float32).eval().requires_grad_(False)
    cfg = read_config(config) if config is not None else default_vae_config()
    sd = read_state_dict(weights)
    if any(k.startswith("first_stage_model.") for k in sd):
        try:
            from .svd_single_file import load_vae_from_single_file
        except ImportError:
            raise WeightsError(f"{weights} is an original-format SVD single file; this build cannot convert it. "
                               f"Use the diffusers VAE from {SVD_SOURCE}.") from None
        vae = load_vae_from_single_file(weights, cfg)
        return torch.nn.Module.to(vae, dtype=torch.float32).eval().requires_grad_(False)
    vae = build_vae(cfg)
    load_strict(vae, sd, weights, _vae_hint)
    return torch.nn.Module.to(vae, dtype=torch.float32)


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


def load_svfr_models(root: str | Path | None = None, *, unet=None, id_linear=None, arcface=None, vae=None,
                     dtype: str | torch.dtype = "fp32", device: str | torch.device = "cpu") -> SVFRModels:
    """Load the SVFR model set from the official layout under ``root`` (overrides: explicit file paths;
    ``vae`` may also be a ready ``AutoencoderKLTemporalDecoder``). ArcFace is optional at load time."""
    from .id_projector import load_id_projector

    torch_dtype = resolve_dtype(dtype)
    if root is not None and unet is None and id_linear is None and arcface is None and vae is None:
        paths = _paths_from_model_files(root)
    else:
        paths = find_model_paths(root, unet=unet, id_linear=id_linear, arcface=arcface, vae=vae)
    unet_m = load_unet(paths.unet, paths.unet_config, torch_dtype)
    vae_m = load_vae(paths.vae, paths.vae_config)
    sched_cfg = read_config(paths.scheduler_config) if paths.scheduler_config else default_scheduler_config()
    idp = load_id_projector(paths.id_linear)
    arc = None
    if paths.arcface is not None:
        from .arcface import load_arcface

        arc = load_arcface(paths.arcface)
    models = SVFRModels(unet=unet_m, vae=vae_m, scheduler_config=sched_cfg, id_projector=idp, arcface=arc,
                        dtype=torch_dtype, arcface_path=paths.arcface_expected, paths=paths)
    return models.to(device=device)
