import os
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from conftest import CACHE_DIR, require_path
from svfr_model.errors import WeightsError
from svfr_model.weights.svd_single_file import (
    VAE_PREFIX,
    convert_vae_state_dict,
    key_mapping,
    load_vae_from_single_file,
    infer_vae_config,
    original_key,
    vae_from_state_dict,
)

TINY = {
    "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2,  # 2 as SVD-xt: the mid block has layers_per_block resnets
    "down_block_types": ["DownEncoderBlock2D"] * 3,
    "block_out_channels": [32, 64, 96],  # every level a different width: a swapped block cannot load
    "scaling_factor": 0.18215, "force_upcast": True, "sample_size": 32,
}


def _random_vae(seed=0, identity_quant=False):
    from diffusers import AutoencoderKLTemporalDecoder

    vae = AutoencoderKLTemporalDecoder.from_config(TINY).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in vae.named_parameters():
            if name.endswith("mix_factor"):
                p.copy_(torch.randn(p.shape, generator=g) * 2)  # far from 0: a wrong blend direction shows
            elif p.ndim == 1:
                p.copy_((1.0 if name.endswith("norm1.weight") or "norm" in name and name.endswith("weight") else 0.0)
                        + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / p[0].numel() ** 0.5)
        if identity_quant:
            vae.quant_conv.weight.copy_(torch.eye(8).view(8, 8, 1, 1))
            vae.quant_conv.bias.zero_()
    return vae


def _to_original(vae, prefix=VAE_PREFIX, drop_quant=False):
    """Inverse of the conversion: diffusers state dict -> original single-file names (1x1 conv attn)."""
    out = {}
    for k, v in vae.state_dict().items():
        if drop_quant and k.startswith("quant_conv."):
            continue
        o = original_key(k, len(TINY["block_out_channels"]))
        if ".attn_1." in o and o.endswith("weight") and v.ndim == 2:
            v = v[:, :, None, None]
        out[prefix + o] = v.clone().contiguous()
    return out


def _outputs(vae, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(3, 3, 32, 32, generator=g) * 2 - 1
    z = torch.randn(5, 4, 8, 8, generator=g)
    with torch.no_grad():
        return vae.encode(x).latent_dist.mean, vae.decode(z, num_frames=5).sample


def test_mapping_is_one_to_one_and_names_are_original():
    vae = _random_vae()
    m = key_mapping(vae.state_dict(), 3)
    assert len(set(m.values())) == len(m)
    assert m["decoder.up_blocks.0.resnets.0.time_mixer.mix_factor"] == "decoder.up.2.block.0.mix_factor"
    assert m["decoder.up_blocks.2.resnets.0.spatial_res_block.conv_shortcut.weight"] == \
        "decoder.up.0.block.0.nin_shortcut.weight"
    assert m["decoder.mid_block.resnets.1.temporal_res_block.conv2.weight"] == \
        "decoder.mid.block_2.time_stack.out_layers.3.weight"
    assert m["decoder.time_conv_out.weight"] == "decoder.conv_out.time_mix_conv.weight"
    assert m["encoder.mid_block.attentions.0.to_out.0.weight"] == "encoder.mid.attn_1.proj_out.weight"
    assert m["encoder.down_blocks.1.resnets.0.conv_shortcut.bias"] == "encoder.down.1.block.0.nin_shortcut.bias"
    with pytest.raises(KeyError):
        original_key("decoder.something_new.weight", 3)


def test_round_trip_gives_identical_outputs():
    src = _random_vae(seed=0)
    original = _to_original(src)
    expected = _random_vae(seed=99).state_dict()  # shapes only
    sd = convert_vae_state_dict(list(original), original.__getitem__, expected, 3)
    dst = _random_vae(seed=5)
    dst.load_state_dict(sd, strict=True)
    for a, b in zip(_outputs(src), _outputs(dst)):
        assert torch.equal(a, b)


def test_single_file_without_quant_conv_gets_identity(tmp_path):
    src = _random_vae(seed=2, identity_quant=True)
    sd = _to_original(src, drop_quant=True)
    sd["model.diffusion_model.input_blocks.0.0.weight"] = torch.zeros(2, 2)  # other parts of svd_xt are ignored
    sd["conditioner.embedders.0.x"] = torch.zeros(1)
    p = tmp_path / "svd_xt.safetensors"
    save_file({k: v.half() if v.is_floating_point() else v for k, v in sd.items()}, str(p))
    vae = load_vae_from_single_file(p, TINY)
    assert not vae.training
    torch.testing.assert_close(vae.quant_conv.weight.view(8, 8), torch.eye(8), rtol=0, atol=0)
    # weights went through fp16 in the file: compare with the fp16-rounded source
    ref = _random_vae()
    ref.load_state_dict({k: v.half().float() for k, v in src.state_dict().items()})
    for a, b in zip(_outputs(ref), _outputs(vae)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_vae_only_file_without_prefix_and_inferred_config(tmp_path):
    src = _random_vae(seed=3)
    p = tmp_path / "svd_vae.safetensors"
    original = _to_original(src, prefix="")
    save_file(original, str(p))
    cfg = infer_vae_config({k: v.shape for k, v in original.items()})
    assert cfg["block_out_channels"] == [32, 64, 96] and cfg["layers_per_block"] == 2
    assert cfg["latent_channels"] == 4 and cfg["scaling_factor"] == 0.18215
    for vae in (load_vae_from_single_file(p), vae_from_state_dict(original)):  # config inferred from shapes
        assert list(vae.config.block_out_channels) == [32, 64, 96]
        for a, b in zip(_outputs(src), _outputs(vae)):
            assert torch.equal(a, b)


@pytest.mark.fault("model files and weights", "an image VAE in place of SVD's")
def test_image_vae_is_refused_with_reason(tmp_path):
    sd = {k: v for k, v in _to_original(_random_vae(), prefix="").items()
          if "time_stack" not in k and "mix_factor" not in k and "time_mix" not in k}
    with pytest.raises(WeightsError, match="image VAE"):
        vae_from_state_dict(sd)


@pytest.mark.fault("model files and weights", "unknown or wrong single-file checkpoints")
def test_unknown_missing_and_wrong_files_name_the_keys(tmp_path):
    src = _random_vae()
    sd = _to_original(src)
    extra = dict(sd)
    extra[VAE_PREFIX + "decoder.up.0.block.0.time_stack.emb_layers.1.weight"] = torch.zeros(1)
    p = tmp_path / "extra.safetensors"
    save_file(extra, str(p))
    with pytest.raises(WeightsError) as ei:
        load_vae_from_single_file(p, TINY)
    assert "1 unknown keys: first_stage_model.decoder.up.0.block.0.time_stack.emb_layers.1.weight" in str(ei.value)
    assert str(p) in str(ei.value)

    short = {k: v for k, v in sd.items() if "mid.block_2.mix_factor" not in k}
    p2 = tmp_path / "short.safetensors"
    save_file(short, str(p2))
    with pytest.raises(WeightsError, match="missing keys: first_stage_model.decoder.mid.block_2.mix_factor"):
        load_vae_from_single_file(p2, TINY)

    p3 = tmp_path / "diffusers_names.safetensors"
    save_file(src.state_dict(), str(p3))
    with pytest.raises(WeightsError, match="diffusers VAE key names"):
        load_vae_from_single_file(p3, TINY)

    p4 = tmp_path / "unet_only.safetensors"
    save_file({"model.diffusion_model.out.2.weight": torch.zeros(1)}, str(p4))
    with pytest.raises(WeightsError, match="no SVD VAE"):
        load_vae_from_single_file(p4, TINY)

    # a config of other widths than the weights: a shape error that says what is wrong
    p5 = tmp_path / "tiny.safetensors"
    save_file(sd, str(p5))
    with pytest.raises(WeightsError, match="config does not match"):
        load_vae_from_single_file(p5, dict(TINY, block_out_channels=[32, 64, 128]))
    with pytest.raises(WeightsError, match="missing keys"):  # one level more than the file has
        load_vae_from_single_file(p5, dict(TINY, block_out_channels=[32, 64, 96, 96],
                                           down_block_types=["DownEncoderBlock2D"] * 4))

    with pytest.raises(WeightsError, match="not found"):
        load_vae_from_single_file(tmp_path / "nope.safetensors", TINY)


def _comfy():
    root = require_path(Path(os.environ.get("COMFYUI_DIR", CACHE_DIR / "comfyui")) / "comfy" / "model_management.py",
                        "ComfyUI tree (run: bash scripts/comfy_host.sh install)").parents[1]
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from comfy.cli_args import args

    args.cpu = True
    from comfy.ldm.models.autoencoder import AutoencodingEngine

    return AutoencodingEngine


def _comfy_svd_vae(AutoencodingEngine, ch, ch_mult, num_res_blocks):
    # ComfyUI's construction of the SVD VAE (comfy/sd.py, "decoder.mid.block_1.mix_factor" branch)
    enc = {"double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": ch,
           "ch_mult": ch_mult, "num_res_blocks": num_res_blocks, "attn_resolutions": [], "dropout": 0.0}
    dec = dict(enc, video_kernel_size=[3, 1, 1], alpha=0.0)
    return AutoencodingEngine(
        regularizer_config={"target": "comfy.ldm.models.autoencoder.DiagonalGaussianRegularizer"},
        encoder_config={"target": "comfy.ldm.modules.diffusionmodules.model.Encoder", "params": enc},
        decoder_config={"target": "comfy.ldm.modules.temporal_ae.VideoDecoder", "params": dec},
    )


@pytest.mark.comfy
def test_real_svd_xt_layout_maps_exactly_onto_diffusers():
    from diffusers import AutoencoderKLTemporalDecoder

    from svfr_model.weights.model_files import PACKAGED_CONFIGS
    from svfr_model.weights.svd_single_file import _clean_config

    engine = _comfy()
    with torch.device("meta"):
        orig = _comfy_svd_vae(engine, 128, [1, 2, 4, 4], 2).state_dict()
        diff = AutoencoderKLTemporalDecoder.from_config(_clean_config(PACKAGED_CONFIGS["vae"])).state_dict()
    keys = [VAE_PREFIX + k for k in orig]
    sd = convert_vae_state_dict(keys, lambda k: orig[k[len(VAE_PREFIX):]], diff, 4)
    assert set(sd) == set(diff)
    assert all(tuple(sd[k].shape) == tuple(diff[k].shape) for k in diff)
    cfg = infer_vae_config({k: v.shape for k, v in orig.items()})
    assert cfg == _clean_config(PACKAGED_CONFIGS["vae"])  # the real layout infers the real SVD-xt config


@pytest.mark.comfy
def test_converted_weights_compute_what_comfyui_computes():
    engine = _comfy()
    torch.manual_seed(0)
    comfy_vae = _comfy_svd_vae(engine, 32, [1, 2, 3], 2).eval()
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for name, p in comfy_vae.named_parameters():
            scale = 2.0 if name.endswith("mix_factor") else 0.2 if p.ndim == 1 else 1 / p[0].numel() ** 0.5
            p.copy_(torch.randn(p.shape, generator=g) * scale + (1.0 if p.ndim == 1 and "norm" in name
                                                                 and name.endswith("weight") else 0.0))
    # what the model-loader node does with a ComfyUI VAE input
    vae = vae_from_state_dict(comfy_vae.state_dict())
    x = torch.rand(3, 3, 32, 32, generator=g) * 2 - 1
    z = torch.randn(5, 4, 8, 8, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(vae.encode(x).latent_dist.mean, comfy_vae.encoder(x)[:, :4], atol=1e-5, rtol=0)
        ours = vae.decode(z, num_frames=5).sample
        theirs = comfy_vae.decoder(z)  # ComfyUI passes no kwargs: the whole batch is one clip
    assert ours.abs().max() > 0.1
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=0)
