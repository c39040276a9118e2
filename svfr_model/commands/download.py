"""Fetch the SVFR model files a folder is missing (resumable, verified, after accepting their licences).

    python -m svfr_model download                                  # ComfyUI/models/svfr (or ./models/svfr)
    python -m svfr_model download models/svfr --accept-licence
    python -m svfr_model download models/svfr --detector yoloface   # + face_align/yoloface_v5m.pt
    python -m svfr_model download models/svfr --no-vae              # the VAE comes from ComfyUI's svd_xt.safetensors
    python -m svfr_model download models/svfr --list                # what is missing, from where; no network
    python -m svfr_model download models/svfr --source fffiloni/SVFR=me/svfr-mirror@v1

Sources: svfr_model/weights/sources.json (repository, revision, path, size, SHA-256, licence of each file).
Through huggingface_hub: HF_ENDPOINT (a mirror), HF_TOKEN (gated or private sources), HF_HUB_OFFLINE,
HF_HOME (the saved login) and HTTPS_PROXY apply. An interrupted run resumes where it stopped; a file is put
in place only after its size, SHA-256 and keys are checked.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError


def default_destination() -> Path:
    """ComfyUI's models/svfr when this pack sits in ComfyUI/custom_nodes/, else ./models/svfr."""
    pack = Path(__file__).resolve().parents[2]
    if pack.parent.name == "custom_nodes" and (pack.parent.parent / "models").is_dir():
        return pack.parent.parent / "models" / "svfr"
    return Path("models") / "svfr"


def write_safetensors_twins(pth_files, say=print) -> list[Path]:
    """The ``.safetensors`` twin of each verified SVFR ``.pth`` (``convert_file``: read safely, compared
    tensor by tensor, written under a temporary name); the loader prefers them."""
    from .convert import convert_file

    written = []
    for src in pth_files:
        dst = Path(src).with_suffix(".safetensors")
        if dst.exists():
            continue
        written.append(convert_file(src, dst))
        say(f"wrote {dst}")
    return written


def _interactive_confirm(text: str) -> bool:
    print("The files to fetch come under these licences:\n" + text)
    try:
        answer = input("Accept these licences and download? Type 'yes': ")
    except EOFError:
        return False
    return answer.strip().lower() in ("yes", "y")


def _run(args: argparse.Namespace) -> int:
    from ..weights.download import download_models, plan_download
    from ..weights.sources import load_sources

    if args.all and args.only:
        raise InputError("give --all or --only, not both")
    dest = Path(args.dest) if args.dest else default_destination()
    table = load_sources(args.table, overrides=args.source or ())
    select = dict(detector=args.detector, vae=not args.no_vae, only=args.only, everything=args.all)
    if args.list:
        plan = plan_download(dest, table, **select)
        for p in plan.files:
            print(f"{'present' if p.found else 'missing'}  {p.found or p.dest}")
        if plan.missing:
            print(f"\nto fetch (licences):\n{plan.licence_text()}\n\nfrom:\n{plan.by_hand(args.endpoint)}")
        return 0
    confirm = _interactive_confirm if (not args.accept_licence and sys.stdin is not None and sys.stdin.isatty()) \
        else None
    report = download_models(dest, table=table, accept_licence=args.accept_licence, confirm=confirm,
                             endpoint=args.endpoint, safetensors=args.safetensors, say=print, **select)
    if args.safetensors:
        write_safetensors_twins(report.pth_weights)
    print(report.summary())
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("download", help="fetch the missing SVFR model files (resumable, verified)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dest", nargs="?", help="models folder (default: ComfyUI/models/svfr beside this pack, else "
                                           "./models/svfr)")
    p.add_argument("--accept-licence", "--accept-license", action="store_true", dest="accept_licence",
                   help="accept the licences of the files to fetch (shown otherwise, and asked when interactive)")
    p.add_argument("--detector", default="retinaface", choices=("retinaface", "yoloface"),
                   help="yoloface also fetches face_align/yoloface_v5m.pt (retinaface is embedded)")
    p.add_argument("--no-vae", action="store_true",
                   help="skip the SVD-xt VAE: you connect ComfyUI's svd_xt.safetensors VAE instead")
    p.add_argument("--only", nargs="+", metavar="ID",
                   help="only these files or groups (unet, id_linear, arcface, vae, yoloface, svfr)")
    p.add_argument("--all", action="store_true", help="every file of the table (yoloface included)")
    p.add_argument("--safetensors", action="store_true",
                   help="also write .safetensors twins of the SVFR .pth files (preferred by the loader)")
    p.add_argument("--source", action="append", metavar="SPEC",
                   help="OLD_REPO=NEW_REPO[@REV], FILE_ID=REPO[@REV][:PATH] or a table .json (repeatable)")
    p.add_argument("--table", type=Path, help="use this sources table instead of the packaged one")
    p.add_argument("--endpoint", help="a Hub-compatible server (default: HF_ENDPOINT, else huggingface.co)")
    p.add_argument("--list", action="store_true", help="show what is present / missing and where from; no network")
    p.set_defaults(func=_run)
