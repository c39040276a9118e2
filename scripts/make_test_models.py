#!/usr/bin/env python3
"""Build the test models from the repository's own fixtures (no download, no folder outside the repo).

1. The parity fixture's tiny weights (``tests/fixtures/svfr_parity/models``): ``unet.pth``, ``id_linear.pth``
   and the tiny VAE safetensors are not committed; they are REBUILT from the recipe in
   ``tests/fixtures/tiny_weights.json`` and checked tensor by tensor against the recorded digests (a mismatch
   raises). See ``tiny_weight_state_dict`` for the recipe.
2. The tiny model folder the node and end-to-end tests point ComfyUI at. Output (default
   ``<repo>/.cache/test_models``, override with ``--out`` or ``SVFR_TEST_MODELS``)::

    svfr/stable-video-diffusion-img2vid-xt/{scheduler,unet,vae}/...   copied from the parity fixture
    svfr/face_restoration/unet.pth, id_linear.pth                      copied from the parity fixture
    svfr/face_restoration/insightface_glint360k.safetensors            random IResNet-100, fp16, ~130 MB
    svfr/missing_arcface/...                                           the same set WITHOUT the ArcFace file
                                                                       (a loader must name the missing file)
    extra_model_paths.yaml                                             maps ComfyUI's `svfr` folder here

The UNet/VAE/id_linear are the parity fixture's tiny random models in the official layout
(``SVFR_PARITY_DIR`` points at another parity folder of the same format). The ArcFace is the REAL
IResNet-100 architecture (every key and shape of the official ``insightface_glint360k.pth``, from the
key manifest in ``tests/fixtures/svfr_keys``) with seeded random weights, so the loader, the identity
branch and the memory path see a real-sized file.

Deterministic and idempotent: stamps record what was built; a re-run with everything in place
returns in well under a second. Problems raise ``TestModelsError``. Prints the yaml path on stdout.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import zlib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "tests" / "fixtures"
REPO_PARITY = FIXTURES / "svfr_parity"
TINY_WEIGHTS_RECIPE = FIXTURES / "tiny_weights.json"
ARCFACE_KEYS = FIXTURES / "svfr_keys" / "svfr_arcface_keys.json"
DEFAULT_OUT = Path(os.environ.get("SVFR_TEST_MODELS", REPO_ROOT / ".cache" / "test_models"))

ARCFACE_SEED = 2024
ARCFACE_FILE = "insightface_glint360k.safetensors"
# bump when the ArcFace recipe below changes (forces a rebuild)
MISSING_ARCFACE_DIR = "missing_arcface"
RECIPE = f"arcface-v1-seed{ARCFACE_SEED}"
WEIGHTS_STAMP = ".tiny_weights.stamp"


class TestModelsError(RuntimeError):
    """A test model could not be built or does not match its recorded digest."""


def parity_dir() -> Path:
    """The parity fixture folder: ``SVFR_PARITY_DIR`` (e.g. the held-out case) or the repository copy."""
    return Path(os.environ.get("SVFR_PARITY_DIR") or REPO_PARITY).resolve()


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---- 1. the parity fixture's tiny weights, rebuilt from the recipe -------------------------------------

def tiny_tensor_seed(model_seed: int, key: str) -> int:
    """Seed of one tensor's own torch.Generator (found by matching the official fixture files)."""
    return model_seed * 1_000_003 + zlib.crc32(key.encode())


def tiny_weight_state_dict(model_seed: int, shapes: dict, zeroed: set = frozenset()) -> dict:
    """The fixture's recipe: Linear/Conv weights N(0, 1/fan_in) (std 1/sqrt(fan_in)), GroupNorm/LayerNorm
    weights 1 + 0.2 N(0, 1), biases 0.1 N(0, 1), AlphaBlender mix_factor N(0, 1); drawn in float32, one
    generator per tensor, then rounded to float16. Keys in ``zeroed`` are all zeros (the GroupNorm gammas
    of tiny_model_info.json)."""
    import torch

    sd = {}
    for key, shape in shapes.items():
        g = torch.Generator()
        g.manual_seed(tiny_tensor_seed(model_seed, key))
        leaf = key.rsplit(".", 1)[-1]
        if key in zeroed:
            t = torch.zeros(shape)
        elif leaf == "mix_factor":
            t = torch.randn(shape, generator=g)
        elif len(shape) >= 2:  # Linear / Conv weight
            fan_in = 1
            for s in shape[1:]:
                fan_in *= s
            t = torch.randn(shape, generator=g) / fan_in ** 0.5
        elif leaf == "weight":  # GroupNorm / LayerNorm gamma
            t = 1 + 0.2 * torch.randn(shape, generator=g)
        elif leaf == "bias":
            t = 0.1 * torch.randn(shape, generator=g)
        else:
            raise TestModelsError(f"tiny weight recipe: no rule for key {key!r} {shape}")
        sd[key] = t.to(torch.float16)
    return sd


def tensors_digest(sd: dict) -> str:
    """sha256 over (key, dtype, shape, raw bytes) of every tensor, in the dict's key order."""
    import torch

    h = hashlib.sha256()
    for key, t in sd.items():
        h.update(f"{key}|{t.dtype}|{list(t.shape)}|".encode())
        h.update(t.contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _save_atomically(path: Path, sd: dict, fmt: str) -> None:
    """Write into a temp folder beside ``path`` under the final name (torch.save records the file stem
    inside the archive), then rename into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".tmp-") as tmp:
        tmp_path = Path(tmp) / path.name
        if fmt == "torch":
            import torch

            torch.save(sd, tmp_path)
        elif fmt == "safetensors":
            from safetensors.torch import save_file

            save_file(sd, str(tmp_path), metadata={"format": "pt"})
        else:
            raise TestModelsError(f"{TINY_WEIGHTS_RECIPE}: unknown format {fmt!r}")
        os.replace(tmp_path, path)


def _write_text_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise TestModelsError(f"{path} not found: the repository's test fixtures are incomplete "
                              "(restore tests/fixtures from git)")
    return json.loads(path.read_text())


def ensure_parity_weights(parity: Path = REPO_PARITY, quiet: bool = True) -> list[str]:
    """Rebuild the tiny weight files under ``parity/models`` unless already built and verified.

    Returns the relative paths (re)written. Raises ``TestModelsError`` when a rebuilt file's tensors do
    not match the recorded digest (e.g. a torch whose CPU generator draws differently)."""
    recipe = _read_json(TINY_WEIGHTS_RECIPE)
    info = _read_json(parity / "tiny_model_info.json")
    models = parity / "models"
    stamp_path = models / WEIGHTS_STAMP
    stamp = json.loads(stamp_path.read_text()) if stamp_path.is_file() else {}
    written = []
    for rel, spec in recipe["files"].items():
        path = parity / rel
        if path.is_file() and stamp.get(rel) == _file_digest(path):
            continue
        shapes = spec.get("shapes") or _read_json(parity / spec["shapes_file"])
        zeroed = {k + ".weight" for k in info.get(spec.get("zeroed_from", ""), [])}
        sd = tiny_weight_state_dict(info["seeds"][spec["seed"]], shapes, zeroed)
        got = tensors_digest(sd)
        if got != spec["tensors_sha256"]:
            raise TestModelsError(
                f"rebuilt {rel} does not match the official fixture: tensor digest {got} != recorded "
                f"{spec['tensors_sha256']} ({TINY_WEIGHTS_RECIPE.name}). The recipe or torch's CPU random "
                "generator changed; do not update the digest unless the official files changed too.")
        _save_atomically(path, sd, spec["format"])
        stamp[rel] = _file_digest(path)
        written.append(rel)
        if not quiet:
            same = "bytes identical to" if stamp[rel] == spec.get("official_file_sha256") else "tensors equal to"
            print(f"[make_test_models] rebuilt {rel} ({same} the official file)", file=sys.stderr)
    if written:
        _write_text_atomically(stamp_path, json.dumps(stamp, indent=1, sort_keys=True))
    return written


# ---- 2. the test model folder --------------------------------------------------------------------------

def parity_models_dir(quiet: bool = True) -> Path:
    """The parity fixture's model folder, with the repository copy's weights rebuilt when needed."""
    parity = parity_dir()
    if parity == REPO_PARITY.resolve():
        ensure_parity_weights(parity, quiet=quiet)
    models = parity / "models"
    if not models.is_dir():
        raise TestModelsError(f"parity fixture models not found at {models} "
                              "(SVFR_PARITY_DIR must name a folder with cases/ and models/, or unset it)")
    return models


def copy_parity_models(src_models: Path, dest_svfr: Path) -> list[str]:
    """Copy every model file of ``src_models`` into ``dest_svfr`` (same relative layout)."""
    copied = []
    for src in sorted(p for p in src_models.rglob("*") if p.is_file()):
        rel = src.relative_to(src_models)
        if any(part.startswith(".") for part in rel.parts):  # build stamps, in-progress temp folders
            continue
        dst = dest_svfr / rel
        # copies, not symlinks: ComfyUI's governance policy rejects symlinks in model trees
        if dst.is_file() and dst.stat().st_size == src.stat().st_size and _file_digest(dst) == _file_digest(src):
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
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

    shapes = _read_json(ARCFACE_KEYS)
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
        from svfr_model.networks import arcface  # written by another part of the project
    except Exception as exc:  # absent while the engine is being written
        return f"engine ArcFace not importable ({type(exc).__name__}); checked keys against the manifest only"
    import torch

    build = getattr(arcface, "iresnet100", None) or getattr(arcface, "IResNet100", None)
    if build is None:
        return "svfr_model.networks.arcface has no iresnet100(); checked keys against the manifest only"
    net = build().eval()
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()}, strict=True)
    with torch.no_grad():
        out = net(torch.rand(1, 3, 112, 112) * 2 - 1)
    feats = out if isinstance(out, torch.Tensor) else out[-1]
    if not torch.isfinite(feats).all():
        raise TestModelsError("random ArcFace produced non-finite features: fix the init recipe")
    return f"loaded strictly into svfr_model.networks.arcface; layer4 features finite, std {feats.std().item():.3f}"


def write_arcface(path: Path) -> str:
    from safetensors.torch import save_file

    shapes = _read_json(ARCFACE_KEYS)
    sd = random_arcface_state_dict()
    assert list(sd) == list(shapes) and all(list(sd[k].shape) == shapes[k] for k in shapes)
    note = check_with_engine(sd)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
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
        _write_text_atomically(yaml_path, text)
    return yaml_path


def build(out: Path, quiet: bool = False) -> Path:
    out = out.resolve()
    svfr = out / "svfr"
    src_models = parity_models_dir(quiet)
    copied = copy_parity_models(src_models, svfr)
    copy_parity_models(src_models, svfr / MISSING_ARCFACE_DIR)
    arc = svfr / "face_restoration" / ARCFACE_FILE
    stamp = out / ".arcface.stamp"
    if not (arc.is_file() and stamp.is_file() and stamp.read_text() == RECIPE):
        note = write_arcface(arc)
        _write_text_atomically(stamp, RECIPE)
        if not quiet:
            print(f"[make_test_models] wrote {arc} ({arc.stat().st_size / 1e6:.1f} MB): {note}", file=sys.stderr)
    if copied and not quiet:
        print(f"[make_test_models] copied {len(copied)} parity model files into {svfr}", file=sys.stderr)
    return write_yaml(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--parity-weights-only", action="store_true",
                    help="only rebuild and verify the parity fixture's tiny weights (tests/fixtures/svfr_parity)")
    args = ap.parse_args(argv)
    try:
        if args.parity_weights_only:
            ensure_parity_weights(REPO_PARITY, quiet=args.quiet)
            print(REPO_PARITY / "models")
        else:
            print(build(args.out, args.quiet))
    except TestModelsError as exc:
        print(f"[make_test_models] error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
