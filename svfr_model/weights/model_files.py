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

explicit: every file passed by name (``root=None``); explicit files also override single files of a folder.

Configs: when an SVD-xt config file is absent, the field is ``None`` and the engine uses the real SVD-xt
config shipped in ``svfr_model/networks/configs/`` (``ModelFiles.config_path`` returns whichever applies).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..errors import WeightsError
from ..networks.configs import PACKAGED_CONFIGS

SVD_DIRNAME = "stable-video-diffusion-img2vid-xt"
SVFR_WEIGHTS_URL = "https://drive.google.com/drive/folders/1nzy9Vk-yA_DwXm1Pm4dyE2o0r7V6_5mn"
SVD_XT_URL = "https://huggingface.co/stabilityai/stable-video-diffusion-img2vid-xt"
SINGLE_FILE_NAMES = ("svd_xt_1_1.safetensors", "svd_xt.safetensors")
VAE_WEIGHT_NAMES = ("diffusion_pytorch_model.fp16.safetensors", "diffusion_pytorch_model.safetensors",
                    "diffusion_pytorch_model.fp16.bin", "diffusion_pytorch_model.bin")


ARCFACE_NAME = "insightface_glint360k.pth"
ORIGINAL_VAE_MARKERS = ("first_stage_model.", "decoder.mid.block_1.")  # Stability's names, not diffusers'


@dataclass(frozen=True)
class ModelFiles:
    root: Path | None  # None: every file was given explicitly
    layout: str  # "official" | "flat" | "explicit"
    unet: Path
    id_linear: Path
    arcface: Path | None
    vae_weights: Path | None  # None only with require_vae=False (the VAE comes from elsewhere)
    vae_format: str | None  # "diffusers" | "single_file" | None
    vae_config: Path | None  # None -> packaged SVD-xt config (single file: inferred from the tensors)
    scheduler_config: Path | None
    unet_config: Path | None
    face_detector: Path | None

    def config_path(self, which: str) -> Path:
        """The config file to use for ``which`` in {"vae", "scheduler", "unet"}: the folder's or the packaged one."""
        own = {"vae": self.vae_config, "scheduler": self.scheduler_config, "unet": self.unet_config}[which]
        return own if own is not None else PACKAGED_CONFIGS[which]

    @property
    def arcface_place(self) -> Path:
        """Where ArcFace is (or would go): named by the error raised when identity tokens are needed."""
        if self.arcface is not None:
            return self.arcface
        if self.root is None:
            return Path("face_restoration") / ARCFACE_NAME
        return (self.root / "face_restoration" if self.layout == "official" else self.root) / ARCFACE_NAME

    def describe(self) -> str:
        rows = [f"SVFR models in {self.root if self.root is not None else '(explicit files)'} ({self.layout} layout):"]
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
    """A cloned SVFR repository keeps the official layout under ``models/``: use that folder."""
    own = (root / "face_restoration").is_dir() or (root / SVD_DIRNAME).is_dir()
    nested = (root / "models" / "face_restoration").is_dir() or (root / "models" / SVD_DIRNAME).is_dir()
    return root / "models" if nested and not own else root


def vae_file_format(path: str | Path) -> str:
    """"single_file" when ``path`` holds Stability's original VAE names (ComfyUI's svd_xt*.safetensors),
    else "diffusers". Safetensors are judged from the header alone; a pickle by its name (reading it to
    look would load it whole)."""
    from .checkpoints import read_safetensors_metadata, sniff_format

    path = Path(path)
    if sniff_format(path) == "safetensors":
        keys = read_safetensors_metadata(path)
        return "single_file" if any(k.startswith(ORIGINAL_VAE_MARKERS) for k in keys) else "diffusers"
    return "single_file" if path.name in SINGLE_FILE_NAMES or path.suffix == ".ckpt" else "diffusers"


def find_model_files(
    root: str | Path | None,
    require_arcface: bool = True,
    single_file: str | Path | None = None,
    search_dirs: Iterable[str | Path] = (),
    *,
    require_vae: bool = True,
    unet: str | Path | None = None,
    id_linear: str | Path | None = None,
    arcface: str | Path | None = None,
    vae: str | Path | None = None,
) -> ModelFiles:
    """Find every file SVFR needs under ``root``.

    ``single_file``: an explicit ComfyUI ``svd_xt*.safetensors`` to take the VAE from (wins over the folder's
    diffusers VAE). ``search_dirs``: extra folders (e.g. ComfyUI's ``models/checkpoints``) searched for it.
    ``require_vae=False``: the caller brings its own VAE (e.g. ComfyUI's VAE input), so none is needed here.
    ``unet``/``id_linear``/``arcface``/``vae``: explicit files that win over the folder's (``vae`` may be a
    diffusers weight file or a single file, told apart by its keys); with all of the required ones given,
    ``root`` may be None. Raises one ``WeightsError`` listing every missing file, where it goes and where
    to get it.
    """
    if single_file is not None and vae is not None:
        raise WeightsError(f"two VAE sources given (vae={vae}, single_file={single_file}): pass only one")
    if root is not None:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise WeightsError(
                f"SVFR models folder not found: {root}. Create it and put the SVFR weights there "
                f"(face_restoration/unet.pth, id_linear.pth, {ARCFACE_NAME} from {SVFR_WEIGHTS_URL}) "
                f"and the SVD-xt folder {SVD_DIRNAME}/ ({SVD_XT_URL})."
            )
        root = _resolve_root(root)
        official = (root / "face_restoration").is_dir() or (root / SVD_DIRNAME).is_dir()
        layout = "official" if official else "flat"
        fr_dirs = [root / "face_restoration", root]
        svd = root / SVD_DIRNAME
        vae_dirs = [svd / "vae", root / "vae"]
    else:
        layout, fr_dirs, svd, vae_dirs = "explicit", [], None, []

    missing: list[str] = []

    def given(path, what: str, source: str) -> Path:
        p = Path(path).expanduser()
        if not p.is_file():
            missing.append(f"  - {what}: {p} (file given but not found); get it from {source}")
        return p

    svfr_source = f"the official SVFR Google Drive {SVFR_WEIGHTS_URL}"
    unet_p = given(unet, "SVFR UNet", svfr_source) if unet is not None else _weights(fr_dirs, "unet")
    idl_p = (given(id_linear, "SVFR identity projector", svfr_source) if id_linear is not None
             else _weights(fr_dirs, "id_linear"))
    arc_p = (given(arcface, "ArcFace iresnet100 (identity)", svfr_source) if arcface is not None
             else _weights(fr_dirs, "insightface_glint360k"))
    face_detector = (_first([root / "face_align" / "yoloface_v5m.pt", root / "yoloface_v5m.pt"])
                     if root is not None else None)

    folder_vae_config = _first(d / "config.json" for d in vae_dirs)
    vae_config = None
    if single_file is not None or vae is not None:  # an explicit choice wins over whatever the folder holds
        vae_weights = Path(single_file if single_file is not None else vae).expanduser()
        if not vae_weights.is_file():
            kind = "SVD single-file checkpoint" if single_file is not None else "SVD-xt VAE"
            missing.append(f"  - {kind}: {vae_weights} (file given but not found); expected the diffusers "
                           f"vae/diffusion_pytorch_model.fp16.safetensors or ComfyUI's svd_xt.safetensors / "
                           f"svd_xt_1_1.safetensors, from {SVD_XT_URL}")
            vae_format = None
        elif single_file is not None:
            vae_format = "single_file"
        else:
            vae_format = vae_file_format(vae_weights)
        if vae_format == "diffusers":  # its own config.json first, else the folder's
            vae_config = _first([vae_weights.parent / "config.json"]) or folder_vae_config
    else:
        vae_weights = _first(d / n for d in vae_dirs for n in VAE_WEIGHT_NAMES)
        vae_format = "diffusers"
        if vae_weights is not None:
            vae_config = _first([vae_weights.parent / "config.json"])
        else:
            dirs = [*([root, svd] if root is not None else []), *(Path(d).expanduser() for d in search_dirs)]
            vae_weights = _first(d / n for d in dirs for n in SINGLE_FILE_NAMES)
            vae_format = "single_file" if vae_weights is not None else None

    def cfg(*rels: str) -> Path | None:
        return _first(base / rel for rel in rels for base in ([svd, root] if root is not None else []))

    scheduler_config = cfg("scheduler/scheduler_config.json", "scheduler_config.json")
    unet_config = cfg("unet/config.json")

    where = (root / "face_restoration") if layout == "official" else root
    for found, name, what, arg in (
        (unet_p, "unet.pth", "SVFR UNet", "unet"),
        (idl_p, "id_linear.pth", "SVFR identity projector", "id_linear"),
        (arc_p if require_arcface else True, ARCFACE_NAME, "ArcFace iresnet100 (identity)", "arcface"),
    ):
        if found is None:
            place = where / name if where is not None else f"no models folder given: pass {arg}=<path to {name}>"
            missing.append(f"  - {what}: {place} (or the .safetensors twin made by "
                           f"`python -m svfr_model convert`); get it from {svfr_source}")
    if vae_weights is None and require_vae:
        if root is None:
            place = "no models folder given: pass vae=<diffusion_pytorch_model.fp16.safetensors or svd_xt.safetensors>"
            missing.append(f"  - SVD-xt VAE: {place}, from {SVD_XT_URL}")
        else:
            vae_place = (svd if layout == "official" else root) / "vae"
            missing.append(
                f"  - SVD-xt VAE: {vae_place / VAE_WEIGHT_NAMES[0]} (+ config.json beside it), from {SVD_XT_URL} "
                f"(folder vae/ of the repo; `git clone` it to {svd}); ComfyUI users may instead use their "
                f"single-file {' or '.join(SINGLE_FILE_NAMES)} (place it in {root} or pass it as single_file)"
            )
    if missing:
        place = f"under {root} ({layout} layout)" if root is not None else "(no models folder given)"
        raise WeightsError(
            f"SVFR model files missing {place}:\n" + "\n".join(missing)
            + "\nScheduler/UNet config files are optional (the SVD-xt configs are built in)."
            + "\nTo fetch these files (licences shown first): python -m svfr_model download "
            + (f"{root} " if root is not None else "DEST ")
            + "--accept-licence, or the SVFR Download Models node in ComfyUI."
        )
    return ModelFiles(
        root=root, layout=layout, unet=unet_p, id_linear=idl_p, arcface=arc_p,
        vae_weights=vae_weights, vae_format=vae_format, vae_config=vae_config,
        scheduler_config=scheduler_config, unet_config=unet_config, face_detector=face_detector,
    )


def load_vae(files: ModelFiles):
    """The SVD VAE of ``files`` as a float32 ``AutoencoderKLTemporalDecoder`` in eval mode, loaded strictly.

    A single-file ``svd_xt*.safetensors`` is read lazily (only its VAE tensors), never whole.
    """
    from .checkpoints import load_strict, read_state_dict
    from .svd_single_file import load_vae_from_single_file, vae_from_state_dict
    from ..networks.vae import build_vae

    path = files.vae_weights
    if path is None:
        raise WeightsError("no SVD-xt VAE file was found or given: put diffusion_pytorch_model.fp16.safetensors "
                           f"(+ config.json) in a vae/ folder, or pass ComfyUI's svd_xt.safetensors ({SVD_XT_URL})")
    # the header decides, not the file name: a renamed svd_xt.safetensors must not be read whole
    if files.vae_format == "single_file" or vae_file_format(path) == "single_file":
        return load_vae_from_single_file(path, files.vae_config if files.vae_format == "single_file" else None)
    sd = read_state_dict(path)  # a diffusers VAE file holds only the VAE
    if any(k.startswith(ORIGINAL_VAE_MARKERS) for k in sd):  # original names in a pickle: already in memory
        return vae_from_state_dict(sd, None, source=str(path))
    vae = build_vae(files.config_path("vae"))

    def hint(missing, unexpected, mismatched):
        if not mismatched:
            return None
        if files.vae_config is None:
            return (f"{path.parent} has no config.json, so the SVD-xt VAE config was assumed; "
                    "put the config.json that belongs to these weights beside them")
        return (f"the VAE config {files.vae_config} does not match the weights: use the config.json that "
                "came with them (SVD-xt: stable-video-diffusion-img2vid-xt/vae/config.json)")

    load_strict(vae, sd, path, hint)
    return vae.float().eval().requires_grad_(False)
