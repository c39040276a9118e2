#!/usr/bin/env python3
"""Build the tiny model folder the end-to-end tests point ComfyUI at (no download).

Output (default ``<repo>/.cache/test_models``, override with ``--out`` or ``SVFR_TEST_MODELS``)::

    svfr/stable-video-diffusion-img2vid-xt/{scheduler,unet,vae}/...   copied from the parity fixture
    svfr/face_restoration/unet.pth, id_linear.pth                      copied from the parity fixture
    svfr/face_restoration/insightface_glint360k.safetensors            random IResNet-100, fp16, ~130 MB
    svfr/missing_arcface/...                                           the same set WITHOUT the ArcFace file
                                                                       (a loader must name the missing file)
    extra_model_paths.yaml                                             maps ComfyUI's `svfr` folder here

The UNet/VAE/id_linear are the parity fixture's tiny random models in the official layout. The
ArcFace is the REAL IResNet-100 architecture (every key and shape of the official
``insightface_glint360k.pth``, from the shared key manifest) with seeded random weights, so the
loader, the identity branch and the memory path see a real-sized file.

Deterministic and idempotent: a stamp records the recipe; a re-run with everything in place
returns in well under a second. Prints the yaml path on stdout.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import zlib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("SVFR_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()
PARITY_MODELS = Path(os.environ.get("SVFR_PARITY_DIR", SHARED_DIR / "fixtures" / "svfr_parity")) / "models"
ARCFACE_KEYS = SHARED_DIR / "fixtures" / "svfr_keys" / "svfr_arcface_keys.json"
DEFAULT_OUT = Path(os.environ.get("SVFR_TEST_MODELS", REPO_ROOT / ".cache" / "test_models"))

ARCFACE_SEED = 2024
ARCFACE_FILE = "insightface_glint360k.safetensors"
# bump when the ArcFace recipe below changes (forces a rebuild)
MISSING_ARCFACE_DIR = "missing_arcface"
RECIPE = f"arcface-v1-seed{ARCFACE_SEED}"


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def copy_parity_models(dest_svfr: Path) -> list[str]:
    """Copy every parity-fixture model file into ``dest_svfr`` (same relative layout)."""
    if not PARITY_MODELS.is_dir():
        sys.exit(f"parity fixture models not found at {PARITY_MODELS} "
                 "(set SVFR_SHARED_DIR or SVFR_PARITY_DIR)")
    copied = []
    for src in sorted(p for p in PARITY_MODELS.rglob("*") if p.is_file()):
        rel = src.relative_to(PARITY_MODELS)
        dst = dest_svfr / rel
        # copies, not symlinks: ComfyUI's governance policy rejects symlinks in model trees
        if dst.is_file() and dst.stat().st_size == src.stat().st_size and _file_digest(dst) == _file_digest(src):
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        copied.append(str(rel))
    return copied


def _generator(key: str):
    import torch

    g = torch.Generator()
    g.manual_seed(ARCFACE_SEED * 1_000_003 + zlib.crc32(key.encode()))
    return g


def random_arcface_state_dict() -> dict:
    """Seeded random tensors for every key of the official IResNet-100 (fp16, BN stats included).

    Conv/Linear weights N(0, 1/fan_in); the last BN of each residual branch (``bn3``) gets gamma
    0.1 so the 49-block residual stream stays O(1) with random weights (finite in fp16 too).
    """
    import torch

    shapes = json.loads(ARCFACE_KEYS.read_text())
    sd = {}
    for key, shape in shapes.items():
        g = _generator(key)
        leaf = key.rsplit(".", 1)[-1]
        if leaf == "num_batches_tracked":
            sd[key] = torch.zeros((), dtype=torch.int64)
            continue
        if leaf == "running_mean":
            t = 0.05 * torch.randn(shape, generator=g)
        elif leaf == "running_var":
            t = 1.0 + 0.1 * torch.rand(shape, generator=g)
        elif "prelu" in key:
            t = torch.full(shape, 0.25)
        elif len(shape) >= 2:  # conv / linear weight
            fan_in = 1
            for s in shape[1:]:
                fan_in *= s
            t = torch.randn(shape, generator=g) / fan_in ** 0.5
        elif leaf == "weight":  # BatchNorm gamma
            gamma = 0.1 if ".bn3." in key else 1.0
            t = gamma * (1.0 + 0.1 * torch.randn(shape, generator=g))
        else:  # biases / BN beta
            t = 0.02 * torch.randn(shape, generator=g)
        sd[key] = t.to(torch.float16)
    return sd


def check_with_engine(sd: dict) -> str:
    """Load into the engine's ArcFace (when it exists) and check a forward is finite."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    try:
        from svfr_model import arcface  # written by another part of the project
    except Exception as exc:  # absent while the engine is being written
        return f"engine ArcFace not importable ({type(exc).__name__}); checked keys against the manifest only"
    import torch

    build = getattr(arcface, "iresnet100", None) or getattr(arcface, "IResNet100", None)
    if build is None:
        return "svfr_model.arcface has no iresnet100(); checked keys against the manifest only"
    net = build().eval()
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()}, strict=True)
    with torch.no_grad():
        out = net(torch.rand(1, 3, 112, 112) * 2 - 1)
    feats = out if isinstance(out, torch.Tensor) else out[-1]
    if not torch.isfinite(feats).all():
        sys.exit("random ArcFace produced non-finite features: fix the init recipe")
    return f"loaded strictly into svfr_model.arcface; layer4 features finite, std {feats.std().item():.3f}"


def write_arcface(path: Path) -> str:
    from safetensors.torch import save_file

    shapes = json.loads(ARCFACE_KEYS.read_text())
    sd = random_arcface_state_dict()
    assert list(sd) == list(shapes) and all(list(sd[k].shape) == shapes[k] for k in shapes)
    note = check_with_engine(sd)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(sd, str(tmp), metadata={"svfr_test_model": RECIPE,
                                      "note": "random weights, real IResNet-100 layout; for tests only"})
    os.replace(tmp, path)
    return note


def write_yaml(out: Path) -> Path:
    yaml_path = out / "extra_model_paths.yaml"
    text = (
        "# written by scripts/make_test_models.py: ComfyUI's `svfr` model folder -> the tiny test models\n"
        "svfr_test_models:\n"
        f"    base_path: {out}\n"
        "    svfr: svfr\n"
    )
    if not yaml_path.is_file() or yaml_path.read_text() != text:
        yaml_path.write_text(text)
    return yaml_path


def build(out: Path, quiet: bool = False) -> Path:
    out = out.resolve()
    svfr = out / "svfr"
    copied = copy_parity_models(svfr)
    copy_parity_models(svfr / MISSING_ARCFACE_DIR)
    arc = svfr / "face_restoration" / ARCFACE_FILE
    stamp = out / ".arcface.stamp"
    if not (arc.is_file() and stamp.is_file() and stamp.read_text() == RECIPE):
        note = write_arcface(arc)
        stamp.write_text(RECIPE)
        if not quiet:
            print(f"[make_test_models] wrote {arc} ({arc.stat().st_size / 1e6:.1f} MB): {note}", file=sys.stderr)
    if copied and not quiet:
        print(f"[make_test_models] copied {len(copied)} parity model files into {svfr}", file=sys.stderr)
    return write_yaml(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    print(build(args.out, args.quiet))
    return 0


if __name__ == "__main__":
    sys.exit(main())
