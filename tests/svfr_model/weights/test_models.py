"""Model construction from the real configs (key manifests) and the strict loader's errors."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import KEYS_DIR, PARITY_DIR, require_path
from svfr_model.errors import WeightsError

PARITY = PARITY_DIR
KEYS = KEYS_DIR


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _shapes(module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in module.state_dict().items()}


def test_unet_keys_equal_official_manifest():
    """1428 keys, same order and shapes as the official UNet3DConditionSVDModel after the conv_in swap."""
    from svfr_model.networks.unet import build_unet

    manifest = json.loads(require_path(KEYS / "svfr_unet_keys_svdxt.json", "UNet key manifest").read_text())
    unet = build_unet(device="meta")  # the shipped real SVD-xt config
    got = _shapes(unet)
    assert len(got) == len(manifest) == 1428
    assert list(got) == list(manifest)
    assert got == manifest
    assert got["conv_in.weight"] == [320, 12, 3, 3]
    assert sum(v.numel() for v in unet.parameters()) == 1_524_634_602
    assert list(unet.buffers()) == []


def test_unet_heads_are_svdxt():
    """Heads [5, 10, 20, 20] (head dim 64), not the official class default [5, 10, 10, 20]."""
    from svfr_model.networks.unet import build_unet

    unet = build_unet(device="meta")
    assert list(unet.config.num_attention_heads) == [5, 10, 20, 20]
    heads = {name.split(".attentions")[0]: m.heads for name, m in unet.named_modules()
             if name.endswith("transformer_blocks.0.attn1") and "temporal" not in name}
    assert heads["down_blocks.0"] == 5 and heads["down_blocks.1"] == 10 and heads["down_blocks.2"] == 20
    assert heads["mid_block"] == 20 and heads["up_blocks.1"] == 20 and heads["up_blocks.3"] == 5


def test_tiny_unet_keys_equal_fixture_manifest():
    from svfr_model.networks.unet import build_unet

    cfg = PARITY / "models" / "stable-video-diffusion-img2vid-xt" / "unet" / "config.json"
    manifest = json.loads(require_path(PARITY / "tiny_unet_keys.json", "tiny key manifest").read_text())
    got = _shapes(build_unet(require_path(cfg, "tiny unet config"), device="meta"))
    assert list(got) == list(manifest) and got == manifest


def test_real_vae_config_is_svdxt():
    """SVD-xt VAE: SD-VAE encoder (ch 128, mult 1,2,4,4, 2 res blocks) + temporal decoder, scale 0.18215."""
    from svfr_model.networks.vae import build_vae, vae_scale_factor

    vae = build_vae(device="meta")
    assert list(vae.config.block_out_channels) == [128, 256, 512, 512]
    assert vae.config.latent_channels == 4 and vae.config.layers_per_block == 2
    assert vae.config.scaling_factor == 0.18215 and vae.config.force_upcast
    assert vae_scale_factor(vae) == 8
    sd = _shapes(vae)
    assert sd["encoder.conv_in.weight"] == [128, 3, 3, 3]
    assert sd["encoder.conv_out.weight"] == [8, 512, 3, 3]  # mean + logvar
    assert sd["decoder.time_conv_out.weight"] == [3, 3, 3, 1, 1]  # the temporal decoder's final 3D conv
    assert sd["quant_conv.weight"] == [8, 8, 1, 1]


def test_vae_encode_decode_values_on_fixture():
    """Encoding the fixture LQ frames reproduces the official latent mean; decode shape/chunk semantics."""
    from svfr_model.weights.models import load_svfr_models
    from svfr_model.networks.vae import decode_chunk, encode_mean

    m = load_svfr_models(require_path(PARITY / "models", "parity models"))
    case = PARITY / "cases" / "bfr"
    u8 = np.load(case / "inputs.npz")["lq_u8"][:4]
    x = torch.from_numpy(((u8 / 255.0).astype(np.float32) - 0.5) / 0.5).permute(0, 3, 1, 2)
    mean = encode_mean(m.vae, x)
    want = np.load(case / "pass1_trace.npz")["vae_mean_scaled"][:4]
    assert float((mean * 0.18215 - torch.from_numpy(want)).abs().max()) <= 1e-5
    frames = decode_chunk(m.vae, mean[:3] * 0.18215)
    assert frames.shape == (3, 3, 64, 64) and frames.dtype == torch.float32
    # the temporal decoder mixes frames inside a chunk: decoding one frame alone differs
    alone = decode_chunk(m.vae, mean[:1] * 0.18215)
    assert float((alone[0] - frames[0]).abs().max()) > 1e-4


def _copy_models(tmp_path: Path) -> Path:
    src = require_path(PARITY / "models", "parity models")
    dst = tmp_path / "models"
    shutil.copytree(src, dst)
    for p in dst.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dst


def test_load_official_layout_strictly_and_arcface_optional():
    from svfr_model.weights.checkpoints import read_state_dict
    from svfr_model.weights.models import load_svfr_models

    root = require_path(PARITY / "models", "parity models")
    m = load_svfr_models(root)
    sd = read_state_dict(root / "face_restoration" / "unet.pth")
    own = m.unet.state_dict()
    assert set(own) == set(sd) and all(torch.equal(own[k], sd[k].float()) for k in sd)
    assert m.arcface is None
    assert m.arcface_path == root / "face_restoration" / "insightface_glint360k.pth"
    assert m.unet.conv_in.in_channels == 12


def test_safetensors_twins_load_identically(tmp_path, parity_dir):
    from safetensors.torch import save_file

    from svfr_model.weights.checkpoints import read_state_dict
    from svfr_model.weights.models import load_svfr_models

    root = _copy_models(tmp_path)
    face = root / "face_restoration"
    for stem in ("unet", "id_linear"):
        sd = read_state_dict(face / f"{stem}.pth")
        save_file({k: v.contiguous() for k, v in sd.items()}, str(face / f"{stem}.safetensors"))
        (face / f"{stem}.pth").unlink()
    m = load_svfr_models(root)
    ref = load_svfr_models(parity_dir / "models")
    assert m.paths.unet.suffix == ".safetensors"
    for a, b in ((m.unet, ref.unet), (m.id_projector, ref.id_projector)):
        sa, sb = a.state_dict(), b.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sb)


@pytest.mark.fault("model files and weights", "several files missing at once")
def test_missing_files_one_message_listing_each(tmp_path):
    from svfr_model.weights.models import load_svfr_models

    (tmp_path / "face_restoration").mkdir()
    with pytest.raises(WeightsError) as err:
        load_svfr_models(tmp_path)
    msg = str(err.value)
    for needle in ("unet.pth", "id_linear.pth", "diffusion_pytorch_model.fp16.safetensors",
                   str(tmp_path / "face_restoration"), "stable-video-diffusion-img2vid-xt", "SVFR"):
        assert needle in msg
    assert msg.count("\n  - ") == 3  # ArcFace is optional at load time: not listed


def test_missing_given_files_are_listed_with_the_folder_ones(tmp_path):
    """A per-file override that does not exist is one more entry of the same message (no silent fallback)."""
    from svfr_model.weights.models import load_svfr_models

    (tmp_path / "face_restoration").mkdir()
    with pytest.raises(WeightsError) as err:
        load_svfr_models(tmp_path, unet=tmp_path / "elsewhere" / "u.pth", arcface=tmp_path / "arc.pth")
    msg = str(err.value)
    assert f"{tmp_path / 'elsewhere' / 'u.pth'} (file given but not found)" in msg
    assert f"{tmp_path / 'arc.pth'} (file given but not found)" in msg
    assert str(tmp_path / "face_restoration" / "id_linear.pth") in msg
    assert msg.count("\n  - ") == 4  # unet (given), id_linear, arcface (given), VAE


def test_no_folder_and_no_files_says_which_arguments_to_pass():
    from svfr_model.weights.models import load_svfr_models

    with pytest.raises(WeightsError) as err:
        load_svfr_models(None, id_linear=PARITY / "models" / "face_restoration" / "id_linear.pth")
    msg = str(err.value)
    assert "pass unet=<path to unet.pth>" in msg and "pass vae=" in msg
    assert "id_linear" not in msg.split("\n", 1)[1]  # the given file exists: not listed
    assert msg.count("\n  - ") == 2


def test_missing_root_folder(tmp_path):
    from svfr_model.weights.models import load_svfr_models

    with pytest.raises(WeightsError, match="folder not found"):
        load_svfr_models(tmp_path / "nope")
    with pytest.raises(WeightsError, match="folder not found"):
        load_svfr_models(tmp_path / "nope", unet=tmp_path / "u.pth")


def test_explicit_files_override_the_folder(tmp_path):
    """unet= / id_linear= / vae= given by path win over the folder's files; values are the given files'."""
    from svfr_model.weights.checkpoints import read_state_dict
    from svfr_model.weights.models import load_svfr_models

    root = _copy_models(tmp_path)
    face = root / "face_restoration"
    other = tmp_path / "other"
    other.mkdir()
    unet_sd = read_state_dict(face / "unet.pth")
    changed = {k: (v * 2 if k == "conv_in.weight" else v) for k, v in unet_sd.items()}
    torch.save(changed, other / "my_unet.pth")
    (face / "unet.pth").unlink()  # the folder may even lack it
    vae_src = root / "stable-video-diffusion-img2vid-xt" / "vae"
    shutil.move(vae_src, other / "vae")  # the folder has no VAE; the given file brings its own config
    m = load_svfr_models(root, unet=other / "my_unet.pth", vae=other / "vae" / "diffusion_pytorch_model.fp16.safetensors")
    assert m.paths.unet == other / "my_unet.pth" and m.paths.vae_config == other / "vae" / "config.json"
    assert m.paths.id_linear == face / "id_linear.pth"
    assert torch.equal(m.unet.conv_in.weight, unet_sd["conv_in.weight"].float() * 2)
    vae_sd = read_state_dict(other / "vae" / "diffusion_pytorch_model.fp16.safetensors")
    own = m.vae.state_dict()
    assert set(own) == set(vae_sd) and all(torch.equal(own[k], vae_sd[k].float()) for k in vae_sd)


def test_ready_vae_module_needs_no_vae_file(tmp_path):
    from svfr_model.weights.models import load_svfr_models
    from svfr_model.networks.vae import build_vae

    root = _copy_models(tmp_path)
    vae_dir = root / "stable-video-diffusion-img2vid-xt" / "vae"
    vae = build_vae(vae_dir / "config.json")
    shutil.rmtree(vae_dir)
    m = load_svfr_models(root, vae=vae)
    assert m.vae is vae and m.paths.vae_weights is None


def _original_format_single_file(path: Path, big_numel: int) -> dict[str, torch.Tensor]:
    """An svd_xt-style single file: the tiny fixture VAE under Stability's names ("first_stage_model.")
    next to a big non-VAE tensor (stands for the UNet). Returns the diffusers VAE state dict it encodes."""
    from safetensors.torch import save_file

    from svfr_model.weights.checkpoints import read_state_dict
    from svfr_model.weights.svd_single_file import key_mapping

    vae_dir = PARITY / "models" / "stable-video-diffusion-img2vid-xt" / "vae"
    diffusers_sd = read_state_dict(require_path(vae_dir / "diffusion_pytorch_model.fp16.safetensors", "tiny VAE"))
    names = key_mapping(diffusers_sd, len(json.loads((vae_dir / "config.json").read_text())["block_out_channels"]))
    tensors = {f"first_stage_model.{names[k]}": v.contiguous() for k, v in diffusers_sd.items()}
    tensors["model.diffusion_model.input_blocks.0.0.weight"] = torch.ones(big_numel, dtype=torch.float16)
    tensors["conditioner.embedders.0.open_clip.model.logit_scale"] = torch.ones(1)
    save_file(tensors, str(path))
    return diffusers_sd


class _ReadRecorder:
    """Records which tensors are materialised from safetensors files, lazily or whole."""

    def __init__(self, monkeypatch):
        import safetensors
        import safetensors.torch

        self.lazy: list[str] = []
        self.whole: list[str] = []
        real_open, real_load = safetensors.safe_open, safetensors.torch.load_file
        recorder = self

        class Handle:
            def __init__(self, *a, **kw):
                self._h = real_open(*a, **kw)

            def keys(self):
                return self._h.keys()

            def get_tensor(self, key):
                recorder.lazy.append(key)
                return self._h.get_tensor(key)

            def __getattr__(self, name):  # anything else (get_slice, ...) is refused: it would escape the record
                raise AssertionError(f"unexpected safetensors handle access: {name}")

        def load_file(filename, *a, **kw):
            recorder.whole.append(str(filename))
            return real_load(filename, *a, **kw)

        monkeypatch.setattr(safetensors, "safe_open", Handle)
        monkeypatch.setattr(safetensors.torch, "load_file", load_file)


def test_single_file_vae_reads_only_the_vae_tensors(tmp_path, monkeypatch):
    """ComfyUI's svd_xt.safetensors in a flat folder: only the first_stage_model.* tensors are read (never
    the UNet part, never the whole file), and the VAE gets exactly the encoded weights."""
    from svfr_model.weights.models import load_svfr_models

    src = require_path(PARITY / "models", "parity models")
    flat = tmp_path / "svfr"
    (flat / "unet").mkdir(parents=True)
    for name in ("unet.pth", "id_linear.pth"):
        shutil.copy(src / "face_restoration" / name, flat / name)
    shutil.copy(src / "stable-video-diffusion-img2vid-xt" / "unet" / "config.json", flat / "unet" / "config.json")
    single = flat / "svd_xt.safetensors"
    diffusers_sd = _original_format_single_file(single, big_numel=4_000_000)
    rec = _ReadRecorder(monkeypatch)
    m = load_svfr_models(flat)
    assert m.paths.vae_weights == single and m.paths.vae_format == "single_file"
    assert str(single) not in rec.whole
    vae_keys = {k for k in rec.lazy if k.startswith("first_stage_model.")}
    assert rec.lazy and set(rec.lazy) == vae_keys  # nothing but VAE tensors
    assert len(vae_keys) == len(diffusers_sd) and len(rec.lazy) == len(vae_keys)  # each read once
    own = m.vae.state_dict()
    assert set(own) == set(diffusers_sd)
    assert all(torch.equal(own[k], diffusers_sd[k].float()) for k in diffusers_sd)


def test_renamed_single_file_in_a_vae_folder_is_still_read_lazily(tmp_path, monkeypatch):
    """The header decides, not the name: svd_xt.safetensors saved as vae/diffusion_pytorch_model.safetensors
    (or given as vae=) is converted from its VAE tensors only."""
    from svfr_model.weights.model_files import find_model_files, load_vae

    root = _copy_models(tmp_path)
    vae_dir = root / "stable-video-diffusion-img2vid-xt" / "vae"
    shutil.rmtree(vae_dir)
    vae_dir.mkdir()
    diffusers_sd = _original_format_single_file(vae_dir / "diffusion_pytorch_model.safetensors", big_numel=1000)
    rec = _ReadRecorder(monkeypatch)
    files = find_model_files(root, require_arcface=False)
    assert files.vae_format == "diffusers"  # by name; load_vae looks at the header
    vae = load_vae(files)
    assert rec.whole == [] and all(k.startswith("first_stage_model.") for k in rec.lazy)
    assert all(torch.equal(vae.state_dict()[k], diffusers_sd[k].float()) for k in diffusers_sd)
    given = find_model_files(root, require_arcface=False, vae=vae_dir / "diffusion_pytorch_model.safetensors")
    assert given.vae_format == "single_file" and given.vae_config is None


def test_flat_layout_loads(tmp_path):
    """ComfyUI users' flat folder: the same files directly in one folder (via model_files discovery)."""
    from svfr_model.weights.models import load_svfr_models

    src = require_path(PARITY / "models", "parity models")
    flat = tmp_path / "svfr"
    (flat / "vae").mkdir(parents=True)
    for name in ("unet.pth", "id_linear.pth"):
        shutil.copy(src / "face_restoration" / name, flat / name)
    for p in (src / "stable-video-diffusion-img2vid-xt" / "vae").iterdir():
        shutil.copy(p, flat / "vae" / p.name)
    (flat / "unet").mkdir()  # the tiny UNet needs its own config (the shipped default is real-size)
    shutil.copy(src / "stable-video-diffusion-img2vid-xt" / "unet" / "config.json", flat / "unet" / "config.json")
    m = load_svfr_models(flat)
    assert m.paths.unet == flat / "unet.pth" and m.arcface is None
    assert m.arcface_path == flat / "insightface_glint360k.pth"
    assert list(m.vae.config.block_out_channels) == [32] * 4
    assert m.scheduler_config["use_karras_sigmas"] is True  # shipped real scheduler config (none in the folder)


def test_plain_svd_unet_gets_hint(tmp_path):
    from svfr_model.weights.checkpoints import read_state_dict
    from svfr_model.weights.models import load_svfr_models

    root = _copy_models(tmp_path)
    p = root / "face_restoration" / "unet.pth"
    sd = read_state_dict(p)
    sd["conv_in.weight"] = sd["conv_in.weight"][:, :8].clone()
    torch.save(sd, p)
    with pytest.raises(WeightsError, match="plain SVD UNet was given instead of SVFR's unet.pth") as err:
        load_svfr_models(root)
    assert "conv_in.weight" in str(err.value) and str(p) in str(err.value)


@pytest.mark.fault("model files and weights", "another model's file in place of the UNet")
def test_wrong_file_as_unet_names_keys(tmp_path):
    from svfr_model.weights.models import load_svfr_models

    root = _copy_models(tmp_path)
    shutil.copy(root / "face_restoration" / "id_linear.pth", root / "face_restoration" / "unet.pth")
    with pytest.raises(WeightsError, match="missing keys") as err:
        load_svfr_models(root)
    assert "unexpected keys: project1024.weight" in str(err.value)


@pytest.mark.fault("model files and weights", "truncated UNet file")
def test_truncated_unet_file(tmp_path):
    from svfr_model.weights.models import load_svfr_models

    root = _copy_models(tmp_path)
    p = root / "face_restoration" / "unet.pth"
    p.write_bytes(p.read_bytes()[:5000])
    with pytest.raises(WeightsError, match="unet.pth"):
        load_svfr_models(root)


def test_missing_configs_fall_back_to_shipped_real_ones(tmp_path):
    """Without the SVD-xt config files the shipped real configs are used (here they cannot fit the tiny
    weights, which proves they were used: a shape mismatch naming the config as the cause)."""
    from svfr_model.weights.model_files import find_model_files
    from svfr_model.weights.models import load_svfr_models

    root = _copy_models(tmp_path)
    (root / "stable-video-diffusion-img2vid-xt" / "unet" / "config.json").unlink()
    paths = find_model_files(root, require_arcface=False)
    assert paths.unet_config is None and paths.vae_config is not None
    with pytest.raises(WeightsError, match="config does not match"):
        load_svfr_models(root)


@pytest.mark.parametrize("dtype, want", [("fp32", torch.float32), ("fp16", torch.float16),
                                         ("bf16", torch.bfloat16), (torch.float16, torch.float16)])
def test_dtype_names(dtype, want):
    from svfr_model.precision import resolve_dtype

    assert resolve_dtype(dtype) is want


@pytest.mark.fault("options and widgets", "unknown precision")
def test_bad_dtype():
    from svfr_model.precision import resolve_dtype

    with pytest.raises(WeightsError, match="fp32"):
        resolve_dtype("int8")
