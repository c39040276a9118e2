import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from conftest import REPO_ROOT
from svfr_model.commands.cli import main
from svfr_model.commands.convert import convert_file
from svfr_model.errors import InputError, WeightsError


def _sd():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(6, 4, generator=g)
    return {
        "project1024.weight": torch.randn(8, 4, 1, 1, generator=g).half(),
        "final_norm.weight": torch.randn(8, generator=g),
        "tied.a": base,
        "tied.b": base,  # same storage: safetensors needs them separated
        "view.t": base.t(),  # non-contiguous view
        "bn.num_batches_tracked": torch.tensor(7),
    }


def _assert_same(a, b):
    assert set(a) == set(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k


def test_round_trip_bit_identical(tmp_path):
    src = tmp_path / "id_linear.pth"
    sd = _sd()
    torch.save(sd, src)
    out = convert_file(src)
    assert out == tmp_path / "id_linear.safetensors"
    _assert_same(load_file(str(out)), sd)
    with pytest.raises(InputError, match="overwrite"):
        convert_file(src)
    assert convert_file(src, overwrite=True) == out


def test_strip_prefix_and_refusals(tmp_path):
    src = tmp_path / "dp.pth"
    torch.save({"module." + k: v for k, v in _sd().items()}, src)
    out = convert_file(src, tmp_path / "clean.safetensors", strip_prefix="module.")
    _assert_same(load_file(str(out)), _sd())
    with pytest.raises(InputError, match=".safetensors"):
        convert_file(src, tmp_path / "x.pth")

    class Evil:
        def __reduce__(self):
            return (os.getcwd, ())

    bad = tmp_path / "unet.pth"
    torch.save({"a": Evil()}, bad)
    with pytest.raises(WeightsError, match="REFUSED"):
        convert_file(bad)
    assert not (tmp_path / "unet.safetensors").exists()
    assert not list(tmp_path.glob("*.partial"))


def test_convert_all_official_layout_and_cli(tmp_path, capsys):
    fr = tmp_path / "face_restoration"
    fr.mkdir()
    sds = {}
    for i, stem in enumerate(("unet", "id_linear", "insightface_glint360k")):
        sds[stem] = {f"w{i}": torch.full((3,), float(i))}
        torch.save(sds[stem], fr / f"{stem}.pth")
    (tmp_path / "face_align").mkdir()
    (tmp_path / "face_align" / "yoloface_v5m.pt").write_bytes(b"PK\x03\x04 not converted")
    assert main(["convert", "--all", str(tmp_path)]) == 0
    for stem, sd in sds.items():
        _assert_same(load_file(str(fr / f"{stem}.safetensors")), sd)
    assert not (tmp_path / "face_align" / "yoloface_v5m.safetensors").exists()
    assert main(["convert", "--all", str(tmp_path)]) == 0  # second run skips
    assert "skip" in capsys.readouterr().out
    assert main(["convert", str(fr / "unet.pth"), str(tmp_path / "u.safetensors")]) == 0
    _assert_same(load_file(str(tmp_path / "u.safetensors")), sds["unet"])


@pytest.mark.fault("command line", "convert errors")
def test_cli_errors_are_messages_not_tracebacks(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    r = subprocess.run([sys.executable, "-m", "svfr_model", "convert", str(tmp_path / "missing.pth")],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == 2
    assert "error: weight file not found" in r.stderr and "Traceback" not in r.stderr
    assert main(["convert", "--all", str(tmp_path)]) == 2


def _sibling_module(name):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(f"_h2_{name}", Path(__file__).parents[1] / "weights" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_extract_vae_from_single_file_gives_a_loadable_diffusers_folder(tmp_path):
    from safetensors.torch import save_file

    from svfr_model.weights.model_files import find_model_files, load_vae
    from svfr_model.weights.svd_single_file import load_vae_from_single_file

    helpers = _sibling_module("test_svd_single_file")
    _outputs, _random_vae, _to_original = helpers._outputs, helpers._random_vae, helpers._to_original

    src = _random_vae(seed=11, identity_quant=True)
    single = tmp_path / "svd_xt.safetensors"
    save_file({k: v.half() for k, v in _to_original(src, drop_quant=True).items()}
              | {"model.diffusion_model.x": torch.zeros(1)}, str(single))
    models = tmp_path / "models"
    for stem in ("unet", "id_linear"):
        (models / stem).parent.mkdir(parents=True, exist_ok=True)
        torch.save({"w": torch.zeros(1)}, models / f"{stem}.pth")
    assert main(["convert", "--extract-vae", str(single), str(models / "vae")]) == 0
    mf = find_model_files(models, require_arcface=False)
    assert mf.vae_format == "diffusers" and mf.vae_config == models / "vae" / "config.json"
    folder_vae = load_vae(mf)
    direct = load_vae_from_single_file(single)
    assert load_file(str(mf.vae_weights))["decoder.conv_in.weight"].dtype == torch.float16
    for a, b in zip(_outputs(folder_vae), _outputs(direct)):
        assert torch.equal(a, b)
    assert main(["convert", "--extract-vae", str(single), str(models / "vae")]) == 2  # exists: refuse
