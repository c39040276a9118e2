import json

import pytest
import torch
import torch.nn.functional as F

from svfr_model.networks.arcface import IBasicBlock, IResNet, iresnet100
from svfr_model.weights.models import load_arcface
from svfr_model.errors import InputError, WeightsError


def test_keys_and_shapes_match_official_manifest(keys_dir):
    manifest = json.loads((keys_dir / "svfr_arcface_keys.json").read_text())
    with torch.device("meta"):
        model = iresnet100()
    got = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert len(got) == 925
    assert list(got) == list(manifest)  # same order as the official state_dict()
    assert got == manifest
    n_params = sum(p.numel() for p in model.parameters())
    assert 65.0e6 < n_params < 65.4e6


def _randomise(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g, dtype=torch.float64) + 0.5)
            elif name.endswith("running_mean") or name.endswith("bias"):
                t.copy_(torch.randn(t.shape, generator=g, dtype=torch.float64) * 0.1)
            elif t.ndim == 1:  # BN / PReLU weights
                t.copy_(1 + 0.2 * torch.randn(t.shape, generator=g, dtype=torch.float64))
            else:
                fan_in = t[0].numel()
                t.copy_(torch.randn(t.shape, generator=g, dtype=torch.float64) / fan_in**0.5)
    return model


def _bn(x, sd, p):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return ((x - sd[p + "running_mean"].view(shape)) / torch.sqrt(sd[p + "running_var"].view(shape) + 1e-5)
            * sd[p + "weight"].view(shape) + sd[p + "bias"].view(shape))


def _prelu(x, w):
    return torch.where(x > 0, x, x * w.view(1, -1, 1, 1))


def _ref_block(x, sd, p, stride):
    """The IBasicBlock written out from the spec with explicit BN(eval) formulas."""
    out = _bn(x, sd, p + "bn1.")
    out = F.conv2d(out, sd[p + "conv1.weight"], padding=1)
    out = _prelu(_bn(out, sd, p + "bn2."), sd[p + "prelu.weight"])
    out = F.conv2d(out, sd[p + "conv2.weight"], stride=stride, padding=1)
    out = _bn(out, sd, p + "bn3.")
    if p + "downsample.0.weight" in sd:
        x = _bn(F.conv2d(x, sd[p + "downsample.0.weight"], stride=stride), sd, p + "downsample.1.")
    return out + x


def test_block_matches_hand_written_formula():
    down = torch.nn.Sequential(torch.nn.Conv2d(4, 6, 1, stride=2, bias=False), torch.nn.BatchNorm2d(6))
    block = _randomise(IBasicBlock(4, 6, stride=2, downsample=down).double().eval(), seed=3)
    x = torch.randn(2, 4, 9, 9, dtype=torch.float64)
    sd = block.state_dict()
    torch.testing.assert_close(block(x), _ref_block(x, sd, "", 2))


def test_whole_network_matches_reference_and_bn_uses_running_stats():
    model = _randomise(IResNet(layers=(1, 2, 1, 1), widths=(8, 8, 16, 16), num_features=10).double(), seed=1)
    model.eval()
    sd = model.state_dict()
    x = torch.rand(3, 3, 112, 112, dtype=torch.float64) * 2 - 1
    y = _prelu(_bn(F.conv2d(x, sd["conv1.weight"], padding=1), sd, "bn1."), sd["prelu.weight"])
    for li, n in enumerate((1, 2, 1, 1), start=1):
        for bi in range(n):
            y = _ref_block(y, sd, f"layer{li}.{bi}.", 2 if bi == 0 else 1)
    emb_ref = _bn(F.linear(_bn(y, sd, "bn2.").flatten(1), sd["fc.weight"], sd["fc.bias"]), sd, "features.")
    with torch.no_grad():
        emb, layer4 = model(x, return_features=True)
        only = model(x)
        single = model(x[1:2])  # eval BN: a sample's result does not depend on its batch
    assert layer4.shape == (3, 16, 7, 7)
    torch.testing.assert_close(layer4, y)
    torch.testing.assert_close(emb, emb_ref)
    torch.testing.assert_close(only, layer4, rtol=0, atol=0)
    torch.testing.assert_close(single, layer4[1:2])
    # training-mode BN would use batch stats and change the output: guards against a forgotten eval()
    model.train()
    with torch.no_grad():
        assert (model(x) - layer4).abs().max() > 1e-3


def test_full_iresnet100_forward_shape_and_determinism():
    torch.manual_seed(0)
    model = iresnet100()
    assert not model.training
    x = torch.rand(1, 3, 112, 112) * 2 - 1
    with torch.no_grad():
        a = model(x)
        b = model(x)
    assert a.shape == (1, 512, 7, 7)
    assert torch.equal(a, b)
    assert torch.isfinite(a).all() and a.abs().max() > 0


def test_bad_input_shape():
    model = IResNet(layers=(1, 1, 1, 1), widths=(8, 8, 8, 8))
    with pytest.raises(InputError, match="112"):
        model(torch.zeros(1, 3, 128, 128))


def test_load_round_trip_and_missing_bn_counters(tmp_path):
    src = _randomise(iresnet100(), seed=5)
    sd = {k: v for k, v in src.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "insightface_glint360k.pth"
    torch.save(sd, path)
    model = load_arcface(path)
    for k, v in sd.items():
        assert torch.equal(model.state_dict()[k], v), k
    assert not model.training and not any(p.requires_grad for p in model.parameters())


@pytest.mark.fault("model files and weights", "wrong ArcFace file")
def test_wrong_arcface_files_are_explained(tmp_path):
    small = IResNet(layers=(2, 2, 2, 2))  # an r18 is not SVFR's backbone
    p = tmp_path / "r18.pth"
    torch.save(small.state_dict(), p)
    with pytest.raises(WeightsError) as ei:
        load_arcface(p)
    assert str(p) in str(ei.value) and "iresnet100" in str(ei.value)

    prefixed = tmp_path / "dp.pth"
    torch.save({"module." + k: v for k, v in small.state_dict().items()}, prefixed)
    with pytest.raises(WeightsError, match="module."):
        load_arcface(prefixed)

    with pytest.raises(WeightsError, match="not found"):
        load_arcface(tmp_path / "missing.pth")
