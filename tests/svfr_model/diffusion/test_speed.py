"""compile option: off does nothing, regional wraps each repeated block, bad modes are refused."""
from __future__ import annotations

import pytest

from svfr_model.errors import InputError
from svfr_model.diffusion.speed import compile_unet


def _tiny_unet():
    from svfr_model.networks.unet import build_unet, default_unet_config

    cfg = default_unet_config()
    cfg.update(block_out_channels=[32, 32, 32, 32], num_attention_heads=[2, 4, 4, 8])
    return build_unet(cfg)


def test_compile_modes():
    unet = _tiny_unet()
    assert compile_unet(unet, "off") == 0
    assert all(getattr(m, "_compiled_call_impl", None) is None for m in unet.modules())
    n = compile_unet(unet, "regional", backend="eager")
    wrapped = [type(m).__name__ for m in unet.modules() if getattr(m, "_compiled_call_impl", None) is not None]
    # every spatio-temporal resnet and transformer block of the SVD UNet, nothing else
    assert n == len(wrapped) > 10
    assert set(wrapped) == {"TransformerSpatioTemporalModel", "SpatioTemporalResBlock"}
    with pytest.raises(InputError, match="off, regional, full"):
        compile_unet(unet, "max")
