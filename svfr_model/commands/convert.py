"""Convert SVFR's pickled ``.pth`` weights to ``.safetensors`` (read safely, verified after writing).

    python -m svfr_model convert face_restoration/unet.pth [unet.safetensors]
    python -m svfr_model convert --all models/            # every SVFR .pth of the official or flat layout
    python -m svfr_model convert --extract-vae svd_xt.safetensors models/stable-video-diffusion-img2vid-xt/vae

The ``.pth`` is read with ``torch.load(weights_only=True)`` only: a file that carries code is refused.
The output holds the same tensors (same dtype, bit-identical); loaders prefer it over the ``.pth``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..weights.checkpoints import read_state_dict
from ..errors import InputError, WeightsError

SVFR_PTH_STEMS = ("unet", "id_linear", "insightface_glint360k")


def _detach_shared(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors sharing memory: give every tensor its own contiguous storage."""
    seen: set[int] = set()
    out = {}
    for k, v in sd.items():
        v = v.detach().contiguous()
        ptr = v.untyped_storage().data_ptr() if v.numel() else None
        if ptr is not None and ptr in seen:
            v = v.clone()
        elif ptr is not None:
            seen.add(ptr)
        out[k] = v
    return out


def convert_file(src: str | Path, dst: str | Path | None = None, strip_prefix: str | None = None,
                 overwrite: bool = False) -> Path:
    """Write ``src`` (.pth/.pt/.bin) as ``dst`` (default: same name, .safetensors) and verify it."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    src = Path(src)
    dst = Path(dst) if dst is not None else src.with_suffix(".safetensors")
    if dst.suffix.lower() != ".safetensors":
        raise InputError(f"output {dst} must end in .safetensors")
    if dst.resolve() == src.resolve():
        raise InputError(f"output {dst} would overwrite the input")
    if dst.exists() and not overwrite:
        raise InputError(f"{dst} already exists; pass --overwrite to replace it")
    sd = read_state_dict(src)
    if strip_prefix:
        sd = {k[len(strip_prefix):] if k.startswith(strip_prefix) else k: v for k, v in sd.items()}
    sd = _detach_shared(sd)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".partial")
    save_file(sd, str(tmp), metadata={"format": "pt", "source": src.name, "converted_by": "svfr_model convert"})
    # verify before publishing the file: same keys, dtypes and bits
    with safe_open(str(tmp), framework="pt", device="cpu") as f:
        if set(f.keys()) != set(sd):
            tmp.unlink()
            raise WeightsError(f"verification of {dst} failed: key sets differ")
        for k, v in sd.items():
            if not torch.equal(f.get_tensor(k), v) or f.get_tensor(k).dtype != v.dtype:
                tmp.unlink()
                raise WeightsError(f"verification of {dst} failed at {k}")
    tmp.replace(dst)
    return dst


def convert_all(root: str | Path, overwrite: bool = False) -> list[Path]:
    """Convert every SVFR ``.pth`` (unet, id_linear, insightface_glint360k) under ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"models folder not found: {root}")
    dirs = [root / "face_restoration", root, root / "models" / "face_restoration"]
    sources = [d / f"{s}.pth" for d in dirs for s in SVFR_PTH_STEMS if (d / f"{s}.pth").is_file()]
    if not sources:
        raise InputError(f"no SVFR .pth files ({', '.join(s + '.pth' for s in SVFR_PTH_STEMS)}) found in "
                         f"{root} or {root / 'face_restoration'}")
    done = []
    for src in sources:
        dst = src.with_suffix(".safetensors")
        if dst.exists() and not overwrite:
            print(f"skip {src} ({dst.name} exists; --overwrite to redo)")
            continue
        done.append(convert_file(src, dst, overwrite=overwrite))
        print(f"wrote {done[-1]}")
    return done


def extract_vae(single_file: str | Path, out_dir: str | Path, overwrite: bool = False) -> Path:
    """Write the VAE of a single-file SVD checkpoint as a diffusers folder (config.json +
    diffusion_pytorch_model.safetensors), tensors in the file's dtype, names converted."""
    import json

    from diffusers import AutoencoderKLTemporalDecoder
    from safetensors.torch import save_file

    from ..weights.svd_single_file import _open_source, _check_temporal, _vae_prefix, convert_vae_state_dict, infer_vae_config

    single_file, out_dir = Path(single_file), Path(out_dir)
    if not single_file.is_file():
        raise WeightsError(f"SVD single-file checkpoint not found: {single_file}")
    weights = out_dir / "diffusion_pytorch_model.safetensors"
    if weights.exists() and not overwrite:
        raise InputError(f"{weights} already exists; pass --overwrite to replace it")
    keys, get, shapes = _open_source(single_file)
    _vae_prefix(keys, single_file)
    _check_temporal(keys, single_file)
    cfg = infer_vae_config(shapes)
    with torch.device("meta"):
        expected = AutoencoderKLTemporalDecoder.from_config(cfg).state_dict()
    sd = convert_vae_state_dict(keys, get, expected, len(cfg["block_out_channels"]), single_file)
    dtype = next(v.dtype for k, v in sd.items() if not k.startswith("quant_conv."))
    sd = _detach_shared({k: v.to(dtype) for k, v in sd.items()})
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(sd, str(weights), metadata={"format": "pt", "source": single_file.name,
                                          "converted_by": "svfr_model convert --extract-vae"})
    config = {"_class_name": "AutoencoderKLTemporalDecoder", **cfg}
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return weights


def _run(args: argparse.Namespace) -> int:
    if args.extract_vae:
        src, dst = args.extract_vae
        print(f"wrote {extract_vae(src, dst, overwrite=args.overwrite)}")
        return 0
    if args.all:
        if args.input or args.output:
            raise InputError("give either --all DIR or INPUT [OUTPUT], not both")
        convert_all(args.all, overwrite=args.overwrite)
        return 0
    if not args.input:
        raise InputError("nothing to convert: give INPUT.pth or --all DIR")
    out = convert_file(args.input, args.output, strip_prefix=args.strip_prefix, overwrite=args.overwrite)
    print(f"wrote {out}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("convert", help="convert SVFR .pth weights to .safetensors (safe load, verified)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", nargs="?", help="a .pth/.pt/.bin state dict")
    p.add_argument("output", nargs="?", help="output .safetensors (default: beside the input)")
    p.add_argument("--all", metavar="DIR", help="convert unet/id_linear/insightface_glint360k .pth under DIR")
    p.add_argument("--extract-vae", nargs=2, metavar=("SVD_XT", "OUT_DIR"),
                   help="write the VAE of ComfyUI's svd_xt*.safetensors as a diffusers vae/ folder")
    p.add_argument("--strip-prefix", metavar="PREFIX", help="remove PREFIX from key names (e.g. 'module.')")
    p.add_argument("--overwrite", action="store_true", help="replace existing .safetensors files")
    p.set_defaults(func=_run)
