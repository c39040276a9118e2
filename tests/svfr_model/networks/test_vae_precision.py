"""VAE precision (decoder dtype, encoder float32), auto device/dtype, and encode chunks that bound memory."""
from __future__ import annotations

from functools import lru_cache

import pytest
import torch

from conftest import PARITY_DIR, require_path
from svfr_model.errors import WeightsError
from svfr_model.networks.vae import decode_chunk, decoder_dtype, set_vae_dtype
from svfr_model.precision import resolve_device, resolve_dtype, resolve_vae_dtype

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@lru_cache(maxsize=1)
def _models():
    from svfr_model.weights.models import load_svfr_models

    return load_svfr_models(require_path(PARITY_DIR / "models", "parity model folder"))


def test_auto_precisions_follow_the_device():
    assert resolve_vae_dtype("auto", "cuda") == torch.float16  # the official inference's VAE
    assert resolve_vae_dtype("auto", "cpu") == torch.float32
    assert resolve_vae_dtype(None, "cpu") == torch.float32
    assert resolve_vae_dtype("bf16", "cpu") == torch.bfloat16
    assert resolve_dtype("auto", "cuda") == torch.float16
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("fp16", "cpu") == torch.float16
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == want and resolve_device(None).type == want
    with pytest.raises(WeightsError, match="'auto', 'fp32', 'fp16' or 'bf16'"):
        resolve_vae_dtype("int8", "cpu")
    with pytest.raises(WeightsError, match="not a torch device"):
        resolve_device("gpu0")


def test_models_on_cpu_default_to_float32_everywhere():
    m = _models()
    assert m.vae_dtype == torch.float32 and m.dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in m.vae.parameters())


def test_decoder_precision_is_selectable_and_encoder_stays_float32():
    import copy

    m = _models()
    vae = copy.deepcopy(m.vae)
    g = torch.Generator().manual_seed(3)
    lat = torch.randn((4, 4, 8, 8), generator=g) * 0.18215
    ref = decode_chunk(vae, lat)
    set_vae_dtype(vae, torch.bfloat16)
    assert decoder_dtype(vae) == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in vae.encoder.parameters())
    assert all(p.dtype == torch.float32 for p in vae.quant_conv.parameters())
    got = decode_chunk(vae, lat)
    assert got.dtype == torch.float32 and got.shape == ref.shape
    diff = (got - ref).abs()
    # bf16 keeps 8 mantissa bits: rounding through ~20 random layers, still far below the signal
    assert 0 < float(diff.max()) < 0.1 * float(ref.abs().max())
    assert float(diff.mean()) < 0.05 * float(ref.abs().mean())


@pytest.mark.parametrize("chunk", [1, 3, 4, 7])
def test_any_encode_chunk_gives_the_same_latents(chunk):
    """The encoder is per frame: a chunk changes only which conv kernel the CPU picks for that batch size.
    Measured: bitwise equal for chunks 4 and 7, <= 3.1e-6 apart for 1, 2, 3, 6 (float32 kernel rounding)."""
    from svfr_model.diffusion.latents import encode_lq

    m = _models()
    g = torch.Generator().manual_seed(5)
    x = torch.rand((7, 3, 64, 64), generator=g) * 2 - 1

    def lq(a, b):
        return x[a:b]

    want = encode_lq(m.vae, lq, 7, 0.0, torch.Generator().manual_seed(1), chunk=20)
    got = encode_lq(m.vae, lq, 7, 0.0, torch.Generator().manual_seed(1), chunk=chunk)
    for a, b in zip(got, want):
        assert float((a - b).abs().max()) <= 1e-5 * max(1.0, float(b.abs().max()))
    if chunk in (4, 7):
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    assert float(want[0].abs().max()) > 0.01
