import os
import pickle

import pytest
import torch
from safetensors.torch import save_file

from svfr_model.weights.checkpoints import load_strict, read_safetensors_metadata, read_state_dict, sniff_format
from svfr_model.errors import WeightsError


def _sd():
    g = torch.Generator().manual_seed(0)
    return {"a.weight": torch.randn(4, 3, generator=g), "b.bias": torch.randn(5, generator=g).half()}


@pytest.mark.parametrize("kind", ["pth", "legacy_pth", "safetensors", "safetensors_named_pth"])
def test_round_trip_every_format(tmp_path, kind):
    sd = _sd()
    if kind == "pth":
        p = tmp_path / "w.pth"
        torch.save(sd, p)
    elif kind == "legacy_pth":
        p = tmp_path / "w.pth"
        torch.save(sd, p, _use_new_zipfile_serialization=False)
    else:
        p = tmp_path / ("w.safetensors" if kind == "safetensors" else "w.pth")
        save_file(sd, str(p))
    got = read_state_dict(p)
    assert list(got) == list(sd)
    for k in sd:
        assert got[k].dtype == sd[k].dtype and torch.equal(got[k], sd[k])


def test_wrapped_state_dict_is_unwrapped(tmp_path):
    p = tmp_path / "w.pth"
    torch.save({"state_dict": _sd()}, p)
    assert set(read_state_dict(p)) == {"a.weight", "b.bias"}


@pytest.mark.fault("model files and weights", "missing weight file or folder")
def test_missing_file_and_folder(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        read_state_dict(tmp_path / "unet.pth")
    with pytest.raises(WeightsError, match="folder"):
        read_state_dict(tmp_path)


@pytest.mark.fault("model files and weights", "truncated .pth / .safetensors")
@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_pth_and_safetensors(tmp_path, cut):
    sd = {"w": torch.randn(200, 200)}
    for name, save in (("t.pth", lambda p: torch.save(sd, p)),
                       ("t.safetensors", lambda p: save_file(sd, str(p)))):
        full = tmp_path / ("full_" + name)
        save(full)
        data = full.read_bytes()
        p = tmp_path / name
        p.write_bytes(data[: int(len(data) * cut)])
        with pytest.raises(WeightsError) as ei:
            read_state_dict(p)
        msg = str(ei.value)
        assert str(p) in msg and "re-download" in msg


@pytest.mark.fault("model files and weights", "empty, text, HTML or Git LFS pointer files")
def test_empty_text_html_and_lfs_files(tmp_path):
    cases = {
        "empty.pth": (b"", "empty"),
        "notes.pth": (b"these are my notes\n", "text file"),
        "unet.pth": (b"<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title>", "web page"),
        "vae.safetensors": (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n", "git lfs pull"),
    }
    for name, (data, phrase) in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(WeightsError) as ei:
            read_state_dict(p)
        assert str(p) in str(ei.value) and phrase in str(ei.value), name


class _GetCwd:
    def __reduce__(self):
        return (os.getcwd, ())


class _MakeDir:
    """Unpickling this would create a directory: an observable side effect."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.makedirs, (self.path,))


@pytest.mark.fault("model files and weights", "a pickle that runs code")
def test_pickle_with_code_is_refused_and_never_runs(tmp_path):
    p = tmp_path / "unet.pth"
    torch.save({"a": torch.zeros(1), "evil": _GetCwd()}, p)
    with pytest.raises(WeightsError) as ei:
        read_state_dict(p)
    msg = str(ei.value)
    assert "REFUSED" in msg and str(p) in msg and "getcwd" in msg
    assert "weights_only=False" not in msg  # never suggest the unsafe way out

    marker = tmp_path / "payload_ran"
    for name, save in (("zip.pth", lambda q: torch.save({"x": _MakeDir(marker)}, q)),
                       ("legacy.pth", lambda q: torch.save({"x": _MakeDir(marker)}, q,
                                                           _use_new_zipfile_serialization=False)),
                       ("raw.pkl.pth", lambda q: q.write_bytes(pickle.dumps(_MakeDir(marker), protocol=2)))):
        q = tmp_path / name
        save(q)
        assert not marker.exists()
        with pytest.raises(WeightsError, match="REFUSED"):
            read_state_dict(q)
        assert not marker.exists(), f"{name}: the pickled payload ran"


@pytest.mark.fault("model files and weights", "a pickle that is not a state dict")
def test_pickle_of_non_dict_and_of_mixed_values(tmp_path):
    p = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), p)
    with pytest.raises(WeightsError, match="Tensor"):
        read_state_dict(p)
    p2 = tmp_path / "ckpt.pth"
    torch.save({"model.w": torch.zeros(2), "epoch": 7, "lr": 0.1}, p2)
    with pytest.raises(WeightsError) as ei:
        read_state_dict(p2)
    assert "epoch" in str(ei.value) and str(p2) in str(ei.value)


def test_torchscript_archive_is_named(tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = torch.jit.script(torch.nn.Linear(2, 2))
    p = tmp_path / "yoloface_v5m.pt"
    m.save(str(p))
    with pytest.raises(WeightsError, match="TorchScript"):
        read_state_dict(p)


def test_safetensors_metadata_without_loading(tmp_path):
    p = tmp_path / "w.safetensors"
    save_file(_sd(), str(p))
    meta = read_safetensors_metadata(p)
    assert meta["a.weight"]["shape"] == [4, 3] and meta["b.bias"]["dtype"] == "F16"
    assert sniff_format(p) == "safetensors"


class _TinyUnet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_in = torch.nn.Conv2d(12, 320, 3)
        self.norm = torch.nn.LayerNorm(4)


def test_load_strict_plain_svd_conv_in_hint(tmp_path):
    model = _TinyUnet()
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    sd["conv_in.weight"] = torch.zeros(320, 8, 3, 3)
    with pytest.raises(WeightsError) as ei:
        load_strict(model, sd, tmp_path / "unet.pth")
    msg = str(ei.value)
    assert str(tmp_path / "unet.pth") in msg
    assert "conv_in.weight: file [320, 8, 3, 3] vs model [320, 12, 3, 3]" in msg
    assert "plain SVD UNet" in msg


@pytest.mark.fault("model files and weights", "missing, unexpected or prefixed keys")
def test_load_strict_missing_unexpected_and_prefix(tmp_path):
    model = _TinyUnet()
    good = model.state_dict()
    sd = {k: v for k, v in good.items() if k != "norm.bias"}
    sd["extra.weight"] = torch.zeros(1)
    with pytest.raises(WeightsError) as ei:
        load_strict(model, sd, "w.pth", hint=lambda m, u, s: "custom cause")
    msg = str(ei.value)
    assert "1 missing keys: norm.bias" in msg and "1 unexpected keys: extra.weight" in msg
    assert "likely cause: custom cause" in msg
    with pytest.raises(WeightsError, match="module."):
        load_strict(model, {"module." + k: v for k, v in good.items()}, "dp.pth")
    # nothing random is left: a good load copies every value
    target = _TinyUnet()
    load_strict(target, good, "ok.pth")
    for k, v in good.items():
        assert torch.equal(target.state_dict()[k], v)
