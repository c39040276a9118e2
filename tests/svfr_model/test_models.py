"""Model construction from the real configs (key manifests) and the strict loader's errors."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import SHARED_DIR, require_path
from svfr_model.errors import WeightsError

PARITY = SHARED_DIR / "fixtures" / "svfr_parity"
KEYS = SHARED_DIR / "fixtures" / "svfr_keys"


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _shapes(module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in module.state_dict().items()}


def test_unet_keys_equal_official_manifest():
    """1428 keys, same order and shapes as the official UNet3DConditionSVDModel after the conv_in swap."""
    from svfr_model.unet import build_unet

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
    from svfr_model.unet import build_unet

    unet = build_unet(device="meta")
    assert list(unet.config.num_attention_heads) == [5, 10, 20, 20]
    heads = {name.split(".attentions")[0]: m.heads for name, m in unet.named_modules()
             if name.endswith("transformer_blocks.0.attn1") and "temporal" not in name}
    assert heads["down_blocks.0"] == 5 and heads["down_blocks.1"] == 10 and heads["down_blocks.2"] == 20
    assert heads["mid_block"] == 20 and heads["up_blocks.1"] == 20 and heads["up_blocks.3"] == 5


def test_tiny_unet_keys_equal_fixture_manifest():
    from svfr_model.unet import build_unet

    cfg = PARITY / "models" / "stable-video-diffusion-img2vid-xt" / "unet" / "config.json"
    manifest = json.loads(require_path(PARITY / "tiny_unet_keys.json", "tiny key manifest").read_text())
    got = _shapes(build_unet(require_path(cfg, "tiny unet config"), device="meta"))
    assert list(got) == list(manifest) and got == manifest


def test_real_vae_config_is_svdxt():
    """SVD-xt VAE: SD-VAE encoder (ch 128, mult 1,2,4,4, 2 res blocks) + temporal decoder, scale 0.18215."""
    from svfr_model.vae import build_vae, vae_scale_factor

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
    from svfr_model.models import load_svfr_models
    from svfr_model.vae import decode_chunk, encode_mean

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
    from svfr_model.checkpoints import read_state_dict
    from svfr_model.models import load_svfr_models

    root = require_path(PARITY / "models", "parity models")
    m = load_svfr_models(root)
    sd = read_state_dict(root / "face_restoration" / "unet.pth")
    own = m.unet.state_dict()
    assert set(own) == set(sd) and all(torch.equal(own[k], sd[k].float()) for k in sd)
    assert m.arcface is None
    assert m.arcface_path == root / "face_restoration" / "insightface_glint360k.pth"
    assert m.unet.conv_in.in_channels == 12


def test_safetensors_twins_load_identically(tmp_path):
    from safetensors.torch import save_file

    from svfr_model.checkpoints import read_state_dict
    from svfr_model.models import load_svfr_models

    root = _copy_models(tmp_path)
    face = root / "face_restoration"
    for stem in ("unet", "id_linear"):
        sd = read_state_dict(face / f"{stem}.pth")
        save_file({k: v.contiguous() for k, v in sd.items()}, str(face / f"{stem}.safetensors"))
        (face / f"{stem}.pth").unlink()
    m = load_svfr_models(root)
    ref = load_svfr_models(PARITY / "models")
    assert m.paths.unet.suffix == ".safetensors"
    for a, b in ((m.unet, ref.unet), (m.id_projector, ref.id_projector)):
        sa, sb = a.state_dict(), b.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sb)


@pytest.mark.parametrize("explicit", [False, True])
def test_missing_files_one_message_listing_each(tmp_path, explicit):
    from svfr_model.models import find_model_paths, load_svfr_models

    (tmp_path / "face_restoration").mkdir()
    with pytest.raises(WeightsError) as err:
        if explicit:  # the engine's own lookup (used with per-file overrides)
            find_model_paths(tmp_path)
        else:         # model_files discovery
            load_svfr_models(tmp_path)
    msg = str(err.value)
    for needle in ("unet.pth", "id_linear.pth", "diffusion_pytorch_model.fp16.safetensors",
                   str(tmp_path / "face_restoration"), "stable-video-diffusion-img2vid-xt", "SVFR"):
        assert needle in msg
    assert msg.count("\n  - ") == 3


def test_missing_root_folder(tmp_path):
    from svfr_model.models import find_model_paths, load_svfr_models

    with pytest.raises(WeightsError, match="folder not found"):
        load_svfr_models(tmp_path / "nope")
    with pytest.raises(WeightsError, match="folder not found"):
        find_model_paths(tmp_path / "nope", unet=tmp_path / "u.pth")


def test_flat_layout_loads(tmp_path):
    """ComfyUI users' flat folder: the same files directly in one folder (via model_files discovery)."""
    from svfr_model.models import load_svfr_models

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
    from svfr_model.checkpoints import read_state_dict
    from svfr_model.models import load_svfr_models

    root = _copy_models(tmp_path)
    p = root / "face_restoration" / "unet.pth"
    sd = read_state_dict(p)
    sd["conv_in.weight"] = sd["conv_in.weight"][:, :8].clone()
    torch.save(sd, p)
    with pytest.raises(WeightsError, match="plain SVD UNet was given instead of SVFR's unet.pth") as err:
        load_svfr_models(root)
    assert "conv_in.weight" in str(err.value) and str(p) in str(err.value)


def test_wrong_file_as_unet_names_keys(tmp_path):
    from svfr_model.models import load_svfr_models

    root = _copy_models(tmp_path)
    shutil.copy(root / "face_restoration" / "id_linear.pth", root / "face_restoration" / "unet.pth")
    with pytest.raises(WeightsError, match="missing keys") as err:
        load_svfr_models(root)
    assert "unexpected keys: project1024.weight" in str(err.value)


def test_truncated_unet_file(tmp_path):
    from svfr_model.models import load_svfr_models

    root = _copy_models(tmp_path)
    p = root / "face_restoration" / "unet.pth"
    p.write_bytes(p.read_bytes()[:5000])
    with pytest.raises(WeightsError, match="unet.pth"):
        load_svfr_models(root)


def test_missing_configs_fall_back_to_shipped_real_ones(tmp_path):
    """Without the SVD-xt config files the shipped real configs are used (here they cannot fit the tiny
    weights, which proves they were used: a shape mismatch naming the config as the cause)."""
    from svfr_model.models import find_model_paths, load_svfr_models

    root = _copy_models(tmp_path)
    (root / "stable-video-diffusion-img2vid-xt" / "unet" / "config.json").unlink()
    paths = find_model_paths(root)
    assert paths.unet_config is None and paths.vae_config is not None
    with pytest.raises(WeightsError, match="config does not match"):
        load_svfr_models(root)


@pytest.mark.parametrize("dtype, want", [("fp32", torch.float32), ("fp16", torch.float16),
                                         ("bf16", torch.bfloat16), (torch.float16, torch.float16)])
def test_dtype_names(dtype, want):
    from svfr_model.models import resolve_dtype

    assert resolve_dtype(dtype) is want


def test_bad_dtype():
    from svfr_model.models import resolve_dtype

    with pytest.raises(WeightsError, match="fp32"):
        resolve_dtype("int8")
