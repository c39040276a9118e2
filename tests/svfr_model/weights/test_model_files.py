import pytest

from svfr_model.errors import WeightsError
from svfr_model.weights.model_files import (
    PACKAGED_CONFIGS,
    SVD_DIRNAME,
    SVD_XT_URL,
    SVFR_WEIGHTS_URL,
    find_model_files,
)


def _touch(root, *rels):
    for rel in rels:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    return root


OFFICIAL = (
    "face_restoration/unet.pth",
    "face_restoration/id_linear.pth",
    "face_restoration/insightface_glint360k.pth",
    f"{SVD_DIRNAME}/vae/config.json",
    f"{SVD_DIRNAME}/vae/diffusion_pytorch_model.fp16.safetensors",
    f"{SVD_DIRNAME}/scheduler/scheduler_config.json",
    f"{SVD_DIRNAME}/unet/config.json",
    "face_align/yoloface_v5m.pt",
)


def test_official_layout_complete(tmp_path):
    _touch(tmp_path, *OFFICIAL)
    mf = find_model_files(tmp_path)
    assert mf.layout == "official"
    assert mf.unet == tmp_path / "face_restoration/unet.pth"
    assert mf.arcface == tmp_path / "face_restoration/insightface_glint360k.pth"
    assert mf.vae_format == "diffusers"
    assert mf.vae_weights == tmp_path / SVD_DIRNAME / "vae/diffusion_pytorch_model.fp16.safetensors"
    assert mf.config_path("vae") == tmp_path / SVD_DIRNAME / "vae/config.json"
    assert mf.config_path("scheduler") == tmp_path / SVD_DIRNAME / "scheduler/scheduler_config.json"
    assert mf.face_detector == tmp_path / "face_align/yoloface_v5m.pt"
    assert str(tmp_path) in mf.describe()


def test_repo_checkout_with_models_wrapper(tmp_path):
    _touch(tmp_path / "models", *OFFICIAL)
    assert find_model_files(tmp_path).root == tmp_path / "models"


def test_safetensors_twins_preferred_and_non_fp16_vae(tmp_path):
    _touch(tmp_path, *OFFICIAL[:3], "face_restoration/unet.safetensors", "face_restoration/id_linear.safetensors",
           f"{SVD_DIRNAME}/vae/diffusion_pytorch_model.safetensors")
    mf = find_model_files(tmp_path)
    assert mf.unet.name == "unet.safetensors" and mf.id_linear.name == "id_linear.safetensors"
    assert mf.arcface.name == "insightface_glint360k.pth"
    assert mf.vae_weights.name == "diffusion_pytorch_model.safetensors"
    # no config files in the folder -> packaged SVD-xt configs
    assert mf.vae_config is None and mf.config_path("vae") == PACKAGED_CONFIGS["vae"]
    assert mf.config_path("unet") == PACKAGED_CONFIGS["unet"]
    assert all(p.is_file() for p in PACKAGED_CONFIGS.values())


def test_flat_comfyui_folder_with_single_file_vae(tmp_path):
    _touch(tmp_path, "unet.pth", "id_linear.safetensors", "insightface_glint360k.pth", "svd_xt.safetensors")
    mf = find_model_files(tmp_path)
    assert mf.layout == "flat"
    assert mf.unet == tmp_path / "unet.pth" and mf.id_linear == tmp_path / "id_linear.safetensors"
    assert mf.vae_format == "single_file" and mf.vae_weights == tmp_path / "svd_xt.safetensors"
    assert mf.face_detector is None


def test_single_file_from_search_dir_or_explicit(tmp_path):
    models = _touch(tmp_path / "svfr", "unet.pth", "id_linear.pth", "insightface_glint360k.pth",
                    "vae/diffusion_pytorch_model.fp16.safetensors")
    ckpts = _touch(tmp_path / "checkpoints", "svd_xt_1_1.safetensors")
    # the folder's diffusers VAE is used unless a single file is named explicitly
    assert find_model_files(models, search_dirs=[ckpts]).vae_format == "diffusers"
    mf = find_model_files(models, single_file=ckpts / "svd_xt_1_1.safetensors")
    assert mf.vae_format == "single_file" and mf.vae_weights == ckpts / "svd_xt_1_1.safetensors"
    (models / "vae/diffusion_pytorch_model.fp16.safetensors").unlink()
    assert find_model_files(models, search_dirs=[ckpts]).vae_weights == ckpts / "svd_xt_1_1.safetensors"
    with pytest.raises(WeightsError, match="single-file checkpoint: .*nope.safetensors \\(file given but not found\\)"):
        find_model_files(models, single_file=ckpts / "nope.safetensors")


def test_everything_missing_is_one_error_listing_each_file_place_and_source(tmp_path):
    _touch(tmp_path, "face_restoration/id_linear.pth")
    with pytest.raises(WeightsError) as ei:
        find_model_files(tmp_path)
    msg = str(ei.value)
    assert str(tmp_path / "face_restoration" / "unet.pth") in msg
    assert str(tmp_path / "face_restoration" / "insightface_glint360k.pth") in msg
    assert "identity projector" not in msg  # present files are not listed
    assert str(tmp_path / SVD_DIRNAME / "vae" / "diffusion_pytorch_model.fp16.safetensors") in msg
    assert SVFR_WEIGHTS_URL in msg and SVD_XT_URL in msg and "svd_xt.safetensors" in msg
    assert msg.count("  - ") == 3


def test_arcface_optional_when_not_required(tmp_path):
    _touch(tmp_path, "unet.pth", "id_linear.pth", "svd_xt.safetensors")
    with pytest.raises(WeightsError, match="insightface_glint360k"):
        find_model_files(tmp_path)
    assert find_model_files(tmp_path, require_arcface=False).arcface is None


def test_missing_root(tmp_path):
    with pytest.raises(WeightsError, match="folder not found"):
        find_model_files(tmp_path / "nope")


def test_parity_fixture_folder_is_found(parity_dir):
    mf = find_model_files(parity_dir / "models", require_arcface=False)
    assert mf.layout == "official" and mf.vae_format == "diffusers"
    assert mf.unet.name == "unet.pth" and mf.vae_config is not None


def test_load_vae_from_parity_folder_matches_a_direct_load(parity_dir):
    import json

    import torch
    from diffusers import AutoencoderKLTemporalDecoder
    from safetensors.torch import load_file

    from svfr_model.weights.model_files import load_vae

    mf = find_model_files(parity_dir / "models", require_arcface=False)
    vae = load_vae(mf)
    assert not vae.training and next(vae.parameters()).dtype == torch.float32
    sd = load_file(str(mf.vae_weights))
    for k, v in sd.items():
        assert torch.equal(vae.state_dict()[k], v.float()), k
    cfg = json.loads(mf.vae_config.read_text())
    assert list(vae.config.block_out_channels) == cfg["block_out_channels"]
    assert isinstance(vae, AutoencoderKLTemporalDecoder)


def test_load_vae_without_config_explains_mismatch(parity_dir, tmp_path):
    import shutil

    from svfr_model.weights.model_files import load_vae

    src = parity_dir / "models" / SVD_DIRNAME / "vae" / "diffusion_pytorch_model.fp16.safetensors"
    _touch(tmp_path, "unet.pth", "id_linear.pth")
    (tmp_path / "vae").mkdir()
    shutil.copy(src, tmp_path / "vae" / src.name)  # tiny weights, no config -> SVD-xt config assumed
    mf = find_model_files(tmp_path, require_arcface=False)
    assert mf.vae_config is None
    with pytest.raises(WeightsError, match="no config.json"):
        load_vae(mf)


def test_vae_not_required_when_the_caller_brings_one(tmp_path):
    """A flat folder without any VAE is complete for a caller with its own VAE (ComfyUI's VAE input)."""
    _touch(tmp_path, "unet.pth", "id_linear.pth", "insightface_glint360k.pth")
    with pytest.raises(WeightsError, match="SVD-xt VAE"):
        find_model_files(tmp_path)
    mf = find_model_files(tmp_path, require_vae=False)
    assert mf.layout == "flat" and mf.vae_weights is None and mf.vae_format is None
    assert mf.unet == tmp_path / "unet.pth" and mf.arcface == tmp_path / "insightface_glint360k.pth"
    # other missing files are still reported, the VAE is not
    (tmp_path / "unet.pth").unlink()
    with pytest.raises(WeightsError) as ei:
        find_model_files(tmp_path, require_vae=False)
    assert "unet.pth" in str(ei.value) and "SVD-xt VAE" not in str(ei.value)
    # an official folder that has a VAE still reports it
    _touch(tmp_path / "off", *OFFICIAL)
    assert find_model_files(tmp_path / "off", require_vae=False).vae_format == "diffusers"


def _safetensors(path, keys):
    import torch
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: torch.zeros(2) for k in keys}, str(path))
    return path


def test_vae_file_format_from_the_header_not_the_name(tmp_path):
    from svfr_model.weights.model_files import vae_file_format

    orig = _safetensors(tmp_path / "diffusion_pytorch_model.safetensors",
                        ["first_stage_model.decoder.conv_in.weight", "model.diffusion_model.out.2.bias"])
    vae_only_orig = _safetensors(tmp_path / "a.safetensors", ["decoder.mid.block_1.norm1.weight"])
    diffusers = _safetensors(tmp_path / "svd_xt.safetensors", ["decoder.mid_block.resnets.0.spatial_res_block.norm1.weight"])
    assert vae_file_format(orig) == "single_file" and vae_file_format(vae_only_orig) == "single_file"
    assert vae_file_format(diffusers) == "diffusers"
    # a pickle cannot be inspected without loading it: its name decides
    _touch(tmp_path, "p/svd_xt.ckpt", "p/diffusion_pytorch_model.bin")
    assert vae_file_format(tmp_path / "p/svd_xt.ckpt") == "single_file"
    assert vae_file_format(tmp_path / "p/diffusion_pytorch_model.bin") == "diffusers"


def test_explicit_files_without_a_folder(tmp_path):
    files = _touch(tmp_path, "a/u.pth", "b/idl.safetensors", "c/vae/config.json")
    vae = _safetensors(tmp_path / "c/vae/w.safetensors", ["decoder.conv_in.weight"])
    mf = find_model_files(None, require_arcface=False, unet=files / "a/u.pth", id_linear=files / "b/idl.safetensors",
                          vae=vae)
    assert mf.layout == "explicit" and mf.root is None
    assert (mf.unet, mf.id_linear, mf.arcface) == (tmp_path / "a/u.pth", tmp_path / "b/idl.safetensors", None)
    assert mf.vae_format == "diffusers" and mf.vae_config == tmp_path / "c/vae/config.json"
    assert mf.config_path("unet") == PACKAGED_CONFIGS["unet"] and mf.scheduler_config is None
    assert mf.arcface_place.as_posix() == "face_restoration/insightface_glint360k.pth"
    assert "(explicit files)" in mf.describe()


def test_explicit_files_win_over_the_folder_and_missing_ones_join_the_list(tmp_path):
    _touch(tmp_path / "m", *OFFICIAL)
    _touch(tmp_path, "mine/unet.safetensors")
    mf = find_model_files(tmp_path / "m", unet=tmp_path / "mine/unet.safetensors")
    assert mf.unet == tmp_path / "mine/unet.safetensors"
    assert mf.id_linear == tmp_path / "m/face_restoration/id_linear.pth"
    assert mf.arcface_place == tmp_path / "m/face_restoration/insightface_glint360k.pth"
    with pytest.raises(WeightsError) as ei:
        find_model_files(tmp_path / "m", arcface=tmp_path / "no_arc.pth", vae=tmp_path / "no_vae.safetensors")
    msg = str(ei.value)
    assert f"{tmp_path / 'no_arc.pth'} (file given but not found)" in msg
    assert f"{tmp_path / 'no_vae.safetensors'} (file given but not found)" in msg
    assert msg.count("  - ") == 2  # the folder's own files are there
    with pytest.raises(WeightsError, match="two VAE sources"):
        find_model_files(tmp_path / "m", vae=tmp_path / "a", single_file=tmp_path / "b")


def test_arcface_place_in_a_flat_folder(tmp_path):
    _touch(tmp_path, "unet.pth", "id_linear.pth", "svd_xt.safetensors")
    mf = find_model_files(tmp_path, require_arcface=False)
    assert mf.arcface is None and mf.arcface_place == tmp_path / "insightface_glint360k.pth"


@pytest.mark.fault("model files and weights", "a repository checkout without the weights")
def test_repo_checkout_with_only_the_svd_folder_names_the_missing_files_under_models(tmp_path):
    """A cloned SVFR repo where only the SVD-xt download is done yet: the missing SVFR files are
    expected under models/face_restoration (where the SVFR README puts them), not in the clone's root."""
    _touch(tmp_path / "models", *[r for r in OFFICIAL if r.startswith(SVD_DIRNAME)])
    (tmp_path / "README.md").write_text("SVFR")
    with pytest.raises(WeightsError) as err:
        find_model_files(tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "models" / "face_restoration" / "unet.pth") in msg
    assert "SVD-xt VAE" not in msg  # found under models/
