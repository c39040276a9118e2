"""Checks a fetched file must pass before it is put in place: digests, then the strict key manifest.

The key check is the loaders' own (``load_strict`` with their hints): ``id_linear`` and ArcFace go through
``load_id_projector`` / ``load_arcface``, the VAE through ``load_vae`` with the folder's ``vae/config.json``.
The UNet (3 GB) is checked without reading its tensors: key names and shapes come from the safetensors
header or a memory-mapped ``torch.load`` (weights only), and are matched against the SVFR UNet built on the
meta device from the UNet config the loader would use. ``yoloface_v5m.pt`` must be a TorchScript archive;
a config must be a JSON object.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

from ..errors import WeightsError

_BLOCK = 8 << 20
SVD_DIRNAME = "stable-video-diffusion-img2vid-xt"


def file_sha256(path: str | Path, upto: int | None = None, h=None):
    """SHA-256 object over the first ``upto`` bytes of ``path`` (all when None); continues ``h`` if given."""
    h = h if h is not None else hashlib.sha256()
    left = upto
    with open(path, "rb") as f:
        while left is None or left > 0:
            block = f.read(_BLOCK if left is None else min(_BLOCK, left))
            if not block:
                break
            h.update(block)
            if left is not None:
                left -= len(block)
    return h


def git_blob_sha1(path: str | Path) -> str:
    """The git object id of a file's content (what the Hub's ETag is for a small, non-LFS file)."""
    path = Path(path)
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    return file_sha256(path, h=h).hexdigest()


def unet_config_for(root: Path) -> Path | None:
    """The UNet config the loader would use for ``root`` (``None``: the packaged SVD-xt config)."""
    for cand in (root / SVD_DIRNAME / "unet" / "config.json", root / "unet" / "config.json"):
        if cand.is_file():
            return cand
    return None


def vae_config_for(weights_dir: Path) -> Path | None:
    """As the loader: the config.json beside the diffusers VAE weights (``None``: the packaged SVD-xt one)."""
    cand = weights_dir / "config.json"
    return cand if cand.is_file() else None


def tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Key -> shape of a weight file without reading its tensors (safetensors header; a torch zip is
    memory-mapped, weights only). Other formats go through ``read_state_dict`` (its readable errors)."""
    import torch

    from .checkpoints import read_safetensors_metadata, read_state_dict, sniff_format

    fmt = sniff_format(path)
    if fmt == "safetensors":
        return {k: tuple(v["shape"]) for k, v in read_safetensors_metadata(path).items()}
    sd = None
    if fmt == "torch_zip":
        try:
            sd = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
        except Exception:  # refused pickle, truncated zip...: read_state_dict words it
            sd = None
    if sd is None:
        sd = read_state_dict(path)
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in sd.items()):
        return {k: tuple(v.shape) for k, v in read_state_dict(path).items()}  # raises the readable error
    return {k: tuple(v.shape) for k, v in sd.items()}


def _check_unet(path: Path, root: Path) -> None:
    import torch

    from .checkpoints import load_strict
    from ..networks.configs import default_unet_config, read_config
    from ..networks.unet import build_unet, unet_mismatch_hint

    config = unet_config_for(root)
    unet = build_unet(read_config(config) if config is not None else default_unet_config(), device="meta")
    shapes = tensor_shapes(path)
    own = unet.state_dict()
    if set(own) != set(shapes) or any(tuple(own[k].shape) != shapes[k] for k in own):  # as load_unet
        meta_sd = {k: torch.empty(s, device="meta") for k, s in shapes.items()}
        load_strict(unet, meta_sd, path, unet_mismatch_hint)  # raises the readable key/shape error


def _check_vae(path: Path, root: Path, final: Path) -> None:
    from .model_files import ModelFiles, load_vae, vae_file_format

    fmt = vae_file_format(path)
    config = vae_config_for(final.parent) if fmt == "diffusers" else None
    files = ModelFiles(root=root, layout="official", unet=Path(), id_linear=Path(), arcface=None, vae_weights=path,
                       vae_format=fmt, vae_config=config, scheduler_config=None, unet_config=None,
                       face_detector=None)
    load_vae(files)


def _check_config(path: Path) -> None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{path} is not a JSON config file ({exc})") from None
    if not isinstance(data, dict):
        raise WeightsError(f"{path} is JSON but not an object of settings")


def _check_torchscript(path: Path) -> None:
    from .checkpoints import sniff_format

    fmt = sniff_format(path)
    if fmt != "torchscript":
        raise WeightsError(f"{path} is not the TorchScript archive yoloface_v5m.pt must be (it looks like {fmt})")


def check_weights(kind: str, path: str | Path, root: str | Path, final: str | Path | None = None) -> None:
    """Raise ``WeightsError`` unless ``path`` (e.g. a finished download not yet in place) holds what the
    loader needs for ``kind``. ``root``: the models folder (its configs apply); ``final``: where the file
    will go (a VAE uses the ``config.json`` beside it)."""
    import gc

    path, root = Path(path), Path(root)
    final = Path(final) if final is not None else path
    checks: dict[str, Callable[[], object]] = {
        "config": lambda: _check_config(path),
        "unet": lambda: _check_unet(path, root),
        "vae": lambda: _check_vae(path, root, final),
        "yoloface": lambda: _check_torchscript(path),
    }
    if kind == "id_linear":
        from .models import load_id_projector

        checks[kind] = lambda: load_id_projector(path)
    elif kind == "arcface":
        from .models import load_arcface

        checks[kind] = lambda: load_arcface(path)
    if kind not in checks:
        raise WeightsError(f"no check for files of kind {kind!r}")
    checks[kind]()
    gc.collect()  # the loaded tensors (hundreds of MB) go now, not at the next collection
