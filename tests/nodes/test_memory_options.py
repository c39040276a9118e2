"""Issue 7 in the nodes: the loader's VAE precision follows ComfyUI, the sampler's preset and memory hint."""
from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.comfy


def test_vae_precision_auto_follows_comfy(comfy, pack, node_classes, monkeypatch):
    from comfy.cli_args import args

    pick = pack.nodes.model_loader.pick_vae_dtype
    assert pick("auto") == "fp32"            # CPU: ComfyUI's vae_dtype gives fp32
    assert pick("bf16") == "bf16"
    monkeypatch.setattr(args, "bf16_vae", True)
    assert pick("auto") == "bf16"            # --bf16-vae
    monkeypatch.setattr(args, "bf16_vae", False)
    monkeypatch.setattr(args, "fp16_vae", True)
    assert pick("auto") == "fp16"            # --fp16-vae
    monkeypatch.setattr(args, "fp16_vae", False)
    monkeypatch.setattr(comfy, "vae_dtype", lambda device, allowed_dtypes: allowed_dtypes[0])
    assert pick("auto") == "fp16"            # a GPU where fp16 runs well: the official fp16 decoder


def test_loader_applies_the_vae_precision(node_classes, svfr_models_dir, test_models_svfr):
    svfr_models_dir(test_models_svfr)
    out = node_classes["SVFRModelLoader"].execute(model_folder=".", precision="fp32", vae_precision="bf16")
    models = out.args[0].models if hasattr(out, "args") else out[0].models
    assert models.vae_dtype == torch.bfloat16
    assert next(models.vae.decoder.parameters()).dtype == torch.bfloat16
    assert next(models.vae.encoder.parameters()).dtype == torch.float32


def test_sampler_preset_options_and_memory_hint(pack, node_classes, svfr_handle):
    s = pack.nodes.sampler
    default = s.memory_options("default", 16)
    assert default == dict(cfg_sequential=False, decode_chunk=8, encode_chunk=4, offload=False)
    assert s.memory_options(None, 4)["decode_chunk"] == 4           # a smaller widget value applies
    assert s.memory_options("high_vram", 32)["decode_chunk"] == 32  # the widget applies
    low = s.memory_options("low_vram", 16)
    assert low == dict(cfg_sequential=True, decode_chunk=6, encode_chunk=4, offload=True)
    assert s.memory_options("low_vram", 2)["decode_chunk"] == 2     # a smaller widget value still applies
    assert s.memory_options("auto", 16, svfr_handle) == default      # CPU: no free-memory figure
    m = svfr_handle.models                                          # CPU: fp32 UNet and VAE
    need_default = s.estimate_for(m, default, 512, 512, 16)
    need_low = s.estimate_for(m, low, 512, 512, 16)
    # the memory model's table (issue 15), fp32 decoder: 1.1875 GiB per frame with the conservative workspace
    assert need_default.decode / 2**30 == pytest.approx(9.5, abs=0.01)
    assert need_low.decode / 2**30 == pytest.approx(7.125, abs=0.01)
    assert need_low.required < need_default.required and need_low.minimum <= need_low.required


def test_sampler_passes_the_memory_hint_to_comfy(pack, node_classes, svfr_handle, monkeypatch):
    import comfy.model_management as mm

    seen = {}
    real = mm.load_models_gpu

    def spy(models, memory_required=0, minimum_memory_required=None, **kw):
        seen.update(required=memory_required, minimum=minimum_memory_required)
        return real(models, memory_required=memory_required, minimum_memory_required=minimum_memory_required, **kw)
    monkeypatch.setattr(mm, "load_models_gpu", spy)
    hint = pack.nodes.sampler.estimate_for(svfr_handle.models, pack.nodes.sampler.memory_options("low_vram", 16),
                                           64, 64, 16)
    pack.nodes.host.load_for_inference(svfr_handle, memory_required=hint.required,
                                       minimum_memory_required=hint.minimum)
    assert seen == {"required": hint.required, "minimum": hint.minimum} and hint.required > 0
