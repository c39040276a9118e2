"""Issue 15: the memory table the nodes' hints and ``auto`` read is the memory model's (checked against fresh
runs), and ``estimate_memory`` reads it. Fast checks ~10 s; the full-grid check at 512² is slow (~2 min)."""
from __future__ import annotations

import pytest
import torch

from svfr_model.diffusion import memory_table as mt
from svfr_model.diffusion import memory_table_build as build
from svfr_model.diffusion.memory import FRAGMENTATION, estimate_memory

GIB = 2**30


def _rows(**match):
    return [r for r in mt.memory_table().data["rows"] if all(r.get(k) == v for k, v in match.items())]


def test_table_covers_the_grid():
    have = {(r["stage"], r["size"], r["frames"], r["dtype"], r.get("batch")) for r in mt.memory_table().data["rows"]}
    want = {(k["stage"], k["size"], k["frames"], k["dtype"], k.get("batch")) for k in mt.grid()}
    assert have == want
    assert mt.memory_table().data["workspace"] == "conservative"


@pytest.mark.parametrize("key", [dict(stage="unet", size=512, frames=16, dtype="fp16", batch=2),
                                 dict(stage="decode", size=512, frames=8, dtype="fp16"),
                                 dict(stage="encode", size=512, frames=4, dtype="fp32")])
def test_rows_match_a_fresh_run(key):
    (row,) = _rows(**key)
    assert build.measure_row(**key)["act"] == row["act"]


def test_weights_match_a_fresh_run():
    assert build.measure_weights() == mt.memory_table().weights


@pytest.mark.slow
def test_every_512_row_matches_a_fresh_run():
    """~2 min: every stage, window/chunk and precision at 512²."""
    for key in [k for k in mt.grid() if k["size"] == 512]:
        (row,) = _rows(**key)
        assert build.measure_row(**key)["act"] == row["act"], key


@pytest.mark.parametrize("stage, kw", [("unet", dict(height=512, width=512, frames=24, dtype="fp16", batch=2)),
                                       ("decode", dict(height=640, width=640, frames=8, dtype="fp16")),
                                       ("encode", dict(height=384, width=640, frames=12))])
def test_interpolation_between_grid_points_is_close(stage, kw):
    """Off-grid points against a fresh run: activations are affine in pixels and frames (within 3 %)."""
    table = mt.memory_table().act(stage, **kw)
    if stage == "unet":
        from svfr_model.diffusion.memory_model import predict_unet_call
        fresh = predict_unet_call(batch=kw["batch"], frames=kw["frames"], height=kw["height"],
                                  width=kw["width"], dtype=kw["dtype"]).act
    else:
        fresh = build.measure_row(stage, size=kw["height"], frames=kw["frames"], dtype=kw.get("dtype", "fp32"))["act"] \
            if kw["height"] == kw["width"] else _encode_rect(kw)
    assert table == pytest.approx(fresh, rel=0.03)
    assert table >= fresh * 0.99   # never meaningfully below the model


def _encode_rect(kw):
    from svfr_model.diffusion.memory_model import predict_encode

    return predict_encode(frames=kw["frames"], height=kw["height"], width=kw["width"], input_on_device=False).act


def test_estimate_memory_reads_the_table():
    d = estimate_memory(encode_chunk=8)          # official chunks at 512², fp16 UNet and VAE decoder
    t = mt.memory_table()
    assert d.unet == _rows(stage="unet", size=512, frames=16, dtype="fp16", batch=2)[0]["act"]
    assert d.decode == _rows(stage="decode", size=512, frames=16, dtype="fp16")[0]["act"]
    assert d.decode / GIB == pytest.approx(9.5, abs=0.01)      # H200 8.0 + the conservative workspace
    assert d.unet / GIB == pytest.approx(2.96, abs=0.01)
    assert d.required == int(FRAGMENTATION * max(d.unet, d.decode, d.encode))
    assert estimate_memory().encode / GIB == pytest.approx(15.06, abs=0.01)   # 20 frames + their upload
    low = estimate_memory(cfg_batch=1, decode_chunk=6, encode_chunk=4)
    assert low.required < d.required and low.minimum <= low.required
    assert estimate_memory(vae_dtype=torch.float32).decode == pytest.approx(2 * d.decode, rel=0.001)
    assert estimate_memory(vae_dtype=torch.bfloat16).decode == d.decode
    assert t.act("decode", height=256, width=256, frames=16, dtype="fp16") == pytest.approx(d.decode / 4, rel=0.01)
    with pytest.raises(ValueError):
        estimate_memory(cfg_batch=3)
