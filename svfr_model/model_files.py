"""Locate SVFR's model files in a folder, or say in ONE message everything that is missing.

Two layouts are understood (``.safetensors`` twins of the ``.pth`` files are preferred when present):

official (as the SVFR README)::

    ROOT/face_restoration/{unet,id_linear,insightface_glint360k}.pth
    ROOT/stable-video-diffusion-img2vid-xt/vae/{config.json, diffusion_pytorch_model[.fp16].safetensors}
    ROOT/stable-video-diffusion-img2vid-xt/scheduler/scheduler_config.json
    ROOT/stable-video-diffusion-img2vid-xt/unet/config.json
    ROOT/face_align/yoloface_v5m.pt                                           (optional)

flat (ComfyUI users' ``models/svfr/``): the same file names directly in ROOT; the VAE either as a
diffusers ``vae/`` subfolder or as ComfyUI's single-file ``svd_xt.safetensors`` / ``svd_xt_1_1.safetensors``
(in ROOT or passed explicitly). A ``ROOT/models/`` wrapper (a checkout of the SVFR repo) is also accepted.

Configs: when an SVD-xt config file is absent, the field is ``None`` and the engine uses the real SVD-xt
config shipped in ``svfr_model/configs/`` (``ModelFiles.config_path`` returns whichever applies).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .errors import WeightsError

SVD_DIRNAME = "stable-video-diffusion-img2vid-xt"
SVFR_WEIGHTS_URL = "https://drive.google.com/drive/folders/1nzy9Vk-yA_DwXm1Pm4dyE2o0r7V6_5mn"
SVD_XT_URL = "https://huggingface.co/stabilityai/stable-video-diffusion-img2vid-xt"
SINGLE_FILE_NAMES = ("svd_xt_1_1.safetensors", "svd_xt.safetensors")
VAE_WEIGHT_NAMES = ("diffusion_pytorch_model.fp16.safetensors", "diffusion_pytorch_model.safetensors")
PACKAGED_CONFIG_DIR = Path(__file__).resolve().parent / "configs"
PACKAGED_CONFIGS = {
    "vae": PACKAGED_CONFIG_DIR / "vae_svdxt.json",
    "scheduler": PACKAGED_CONFIG_DIR / "scheduler_svdxt.json",
    "unet": PACKAGED_CONFIG_DIR / "unet_svdxt.json",
}


@dataclass(frozen=True)
class ModelFiles:
    root: Path
    layout: str  # "official" | "flat"
    unet: Path
    id_linear: Path
    arcface: Path | None
    vae_weights: Path
    vae_format: str  # "diffusers" | "single_file"
    vae_config: Path | None  # None -> packaged SVD-xt config
    scheduler_config: Path | None
    unet_config: Path | None
    face_detector: Path | None

    def config_path(self, which: str) -> Path:
        """The config file to use for ``which`` in {"vae", "scheduler", "unet"}: the folder's or the packaged one."""
        own = {"vae": self.vae_config, "scheduler": self.scheduler_config, "unet": self.unet_config}[which]
        return own if own is not None else PACKAGED_CONFIGS[which]

    def describe(self) -> str:
        rows = [f"SVFR models in {self.root} ({self.layout} layout):"]
        for name in ("unet", "id_linear", "arcface", "vae_weights", "vae_config", "scheduler_config",
                     "unet_config", "face_detector"):
            value = getattr(self, name)
            if value is None and name.endswith("config"):
                value = f"(packaged {PACKAGED_CONFIGS[name.split('_')[0]].name})"
            rows.append(f"  {name}: {value if value is not None else '(none)'}")
        return "\n".join(rows)


def _first(paths: Iterable[Path]) -> Path | None:
    for p in paths:
        if p.is_file():
            return p
    return None


def _weights(dirs: Iterable[Path], stem: str) -> Path | None:
    # .safetensors first: same tensors, safe and faster to read
    return _first(d / f"{stem}{ext}" for d in dirs for ext in (".safetensors", ".pth"))


def _resolve_root(root: Path) -> Path:
    if not (root / "face_restoration").is_dir() and (root / "models" / "face_restoration").is_dir():
        return root / "models"
    return root


def find_model_files(
    root: str | Path,
    require_arcface: bool = True,
    single_file: str | Path | None = None,
    search_dirs: Iterable[str | Path] = (),
) -> ModelFiles:
    """Find every file SVFR needs under ``root``.

    ``single_file``: an explicit ComfyUI ``svd_xt*.safetensors`` to take the VAE from (wins over the folder's
    diffusers VAE). ``search_dirs``: extra folders (e.g. ComfyUI's ``models/checkpoints``) searched for it.
    Raises one ``WeightsError`` listing every missing file, where it goes and where to get it.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise WeightsError(
            f"SVFR models folder not found: {root}. Create it and put the SVFR weights there "
            f"(face_restoration/unet.pth, id_linear.pth, insightface_glint360k.pth from {SVFR_WEIGHTS_URL}) "
            f"and the SVD-xt folder {SVD_DIRNAME}/ ({SVD_XT_URL})."
        )
    root = _resolve_root(root)
    official = (root / "face_restoration").is_dir() or (root / SVD_DIRNAME).is_dir()
    layout = "official" if official else "flat"
    fr_dirs = [root / "face_restoration", root]
    svd = root / SVD_DIRNAME
    vae_dirs = [svd / "vae", root / "vae"]

    unet = _weights(fr_dirs, "unet")
    id_linear = _weights(fr_dirs, "id_linear")
    arcface = _weights(fr_dirs, "insightface_glint360k")
    face_detector = _first([root / "face_align" / "yoloface_v5m.pt", root / "yoloface_v5m.pt"])

    vae_config = None
    if single_file is not None:  # an explicit choice wins over whatever the folder holds
        vae_weights = Path(single_file).expanduser()
        if not vae_weights.is_file():
            raise WeightsError(f"SVD single-file checkpoint not found: {vae_weights} (expected ComfyUI's "
                               f"svd_xt.safetensors or svd_xt_1_1.safetensors, from {SVD_XT_URL})")
        vae_format = "single_file"
    else:
        vae_weights = _first(d / n for d in vae_dirs for n in VAE_WEIGHT_NAMES)
        vae_format = "diffusers"
        if vae_weights is not None:
            vae_config = _first([vae_weights.parent / "config.json"])
        else:
            dirs = [root, svd, *(Path(d).expanduser() for d in search_dirs)]
            vae_weights = _first(d / n for d in dirs for n in SINGLE_FILE_NAMES)
            vae_format = "single_file"

    scheduler_config = _first([svd / "scheduler" / "scheduler_config.json", root / "scheduler" / "scheduler_config.json",
                               root / "scheduler_config.json"])
    unet_config = _first([svd / "unet" / "config.json", root / "unet" / "config.json"])

    where = (root / "face_restoration") if layout == "official" else root
    missing: list[str] = []
    for found, name, what in (
        (unet, "unet.pth", "SVFR UNet"),
        (id_linear, "id_linear.pth", "SVFR identity projector"),
        (arcface if require_arcface else True, "insightface_glint360k.pth", "ArcFace iresnet100 (identity)"),
    ):
        if found is None:
            missing.append(f"  - {what}: {where / name} (or the .safetensors twin made by "
                           f"`python -m svfr_model convert`); get it from the official SVFR Google Drive "
                           f"{SVFR_WEIGHTS_URL}")
    if vae_weights is None:
        vae_place = (svd if layout == "official" else root) / "vae"
        missing.append(
            f"  - SVD-xt VAE: {vae_place / VAE_WEIGHT_NAMES[0]} (+ config.json beside it), from {SVD_XT_URL} "
            f"(folder vae/ of the repo; `git clone` it to {svd}); ComfyUI users may instead use their "
            f"single-file {' or '.join(SINGLE_FILE_NAMES)} (place it in {root} or pass it as single_file)"
        )
    if missing:
        raise WeightsError(
            f"SVFR model files missing under {root} ({layout} layout):\n" + "\n".join(missing)
            + "\nScheduler/UNet config files are optional (the SVD-xt configs are built in)."
        )
    return ModelFiles(
        root=root, layout=layout, unet=unet, id_linear=id_linear, arcface=arcface,
        vae_weights=vae_weights, vae_format=vae_format, vae_config=vae_config,
        scheduler_config=scheduler_config, unet_config=unet_config, face_detector=face_detector,
    )


def load_vae(files: ModelFiles):
    """The SVD VAE of ``files`` as a float32 ``AutoencoderKLTemporalDecoder`` in eval mode, loaded strictly.

    A single-file ``svd_xt*.safetensors`` is read lazily (only its VAE tensors), never whole.
    """
    import json

    from .checkpoints import load_strict, read_state_dict

    if files.vae_format == "single_file":
        from .svd_single_file import load_vae_from_single_file

        return load_vae_from_single_file(files.vae_weights, files.vae_config)  # None -> inferred layout
    from diffusers import AutoencoderKLTemporalDecoder

    cfg_path = files.config_path("vae")
    cfg = {k: v for k, v in json.loads(cfg_path.read_text()).items() if not k.startswith("_")}
    vae = AutoencoderKLTemporalDecoder.from_config(cfg)
    sd = read_state_dict(files.vae_weights)

    def hint(missing, unexpected, mismatched):
        if files.vae_config is None and mismatched:
            return (f"{files.vae_weights.parent} has no config.json, so the SVD-xt VAE config was assumed; "
                    "put the config.json that belongs to these weights beside them")
        return None

    load_strict(vae, sd, files.vae_weights, hint)
    return vae.float().eval().requires_grad_(False)
