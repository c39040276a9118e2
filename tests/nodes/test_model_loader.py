"""SVFRModelLoader: folder choices, strict weights in ComfyUI ModelPatchers, the missing-file error."""
from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.comfy


def test_folder_choices_list_root_and_model_subfolders(node_classes, svfr_models_dir, test_models_svfr):
    svfr_models_dir(test_models_svfr)
    options = node_classes["SVFRModelLoader"].define_schema().inputs[0].options
    assert options[0] == "." and "missing_arcface" in options
    assert "face_restoration" not in options and "stable-video-diffusion-img2vid-xt" not in options


def test_loads_the_files_into_model_patchers(comfy, svfr_handle, test_models_svfr):
    import comfy.model_patcher
    from svfr_model.weights.checkpoints import read_state_dict

    h = svfr_handle
    assert h.dtype == "fp32" and h.source == str(test_models_svfr)
    assert len(h.patchers) == 4 and all(isinstance(p, comfy.model_patcher.ModelPatcher) for p in h.patchers)
    assert [p.model.inner for p in h.patchers] == [h.models.unet, h.models.vae, h.models.id_projector, h.models.arcface]
    # weights are the file's values (fp16 file -> fp32 model, exact)
    sd = read_state_dict(test_models_svfr / "face_restoration" / "unet.pth")
    own = h.models.unet.state_dict()
    for key in ("conv_in.weight", "down_blocks.0.resnets.0.spatial_res_block.conv1.weight", "conv_out.bias"):
        assert torch.equal(own[key], sd[key].float()), key
    assert own["conv_in.weight"].shape[1] == 12


def test_comfy_loads_them_for_inference(comfy, pack, svfr_handle):
    pack.nodes.host.load_for_inference(svfr_handle)
    loaded = [m.model for m in comfy.current_loaded_models]
    assert all(any(p is m for m in loaded) for p in svfr_handle.patchers)
    assert svfr_handle.device == comfy.get_torch_device()


def test_auto_precision_is_comfys_choice(comfy, pack, node_classes):
    assert pack.nodes.host.pick_dtype("auto") == "fp32"  # CPU: model management picks fp32
    assert pack.nodes.host.pick_dtype("bf16") == "bf16"


@pytest.mark.fault("model files and weights", "ArcFace missing (node)")
def test_missing_arcface_names_file_folder_and_source(node_classes, svfr_models_dir, test_models_svfr):
    from svfr_model.errors import WeightsError

    svfr_models_dir(test_models_svfr)
    with pytest.raises(WeightsError) as err:
        node_classes["SVFRModelLoader"].execute(model_folder="missing_arcface", precision="fp32")
    msg = str(err.value)
    assert "insightface_glint360k.pth" in msg
    assert str(test_models_svfr / "missing_arcface" / "face_restoration") in msg
    assert "drive.google.com" in msg and "unet.pth" not in msg.split("missing")[-1].split("ArcFace")[0]


@pytest.mark.fault("options and widgets", "unknown model folder")
def test_unknown_folder_is_a_clear_error(node_classes, svfr_models_dir, test_models_svfr):
    from svfr_model.errors import WeightsError

    svfr_models_dir(test_models_svfr)
    with pytest.raises(WeightsError, match="not found in any svfr model folder"):
        node_classes["SVFRModelLoader"].execute(model_folder="no_such_folder", precision="fp32")


@pytest.fixture(scope="module")
def comfy_svd_vae(comfy):
    """A real ``comfy.sd.VAE`` as Image Only Checkpoint Loader builds it for svd_xt.safetensors.

    ComfyUI fixes the SVD video VAE's layout (SVD-xt size), so the state dict is full size; its values are
    cheap but distinct per key and position (a mis-mapped or mis-reshaped tensor cannot go unnoticed).
    """
    import comfy.sd

    # an SVD key alone makes ComfyUI build the empty (uninitialised) module: it gives the names and shapes
    shell = comfy.sd.VAE(sd={"decoder.mid.block_1.mix_factor": torch.zeros(1)})
    shapes = {k: v.shape for k, v in shell.first_stage_model.state_dict().items()}
    del shell
    sd = {k: torch.arange(torch.Size(shape).numel(), dtype=torch.float32).mul_(1e-7).add_(i * 1e-3).reshape(shape)
          for i, (k, shape) in enumerate(sorted(shapes.items()))}
    vae = comfy.sd.VAE(sd=sd)
    assert vae.first_stage_model.state_dict().keys() == sd.keys()  # every key loaded, none left missing
    return vae


def _expected_engine_vae(comfy_vae, engine_sd) -> dict:
    """The engine VAE the converted input must equal: each diffusers key takes the ComfyUI tensor of its
    original name (1x1 attention convs -> linear weights); SVD has no quant_conv, which becomes identity."""
    from svfr_model.weights.svd_single_file import key_mapping

    src = comfy_vae.first_stage_model.state_dict()
    names = key_mapping(engine_sd, 4)
    out = {}
    for k, ref in engine_sd.items():
        if names[k] in src:
            out[k] = src[names[k]].float().reshape(ref.shape)
        elif k == "quant_conv.weight":
            out[k] = torch.eye(ref.shape[0]).reshape(ref.shape)
        else:
            assert k == "quant_conv.bias", k
            out[k] = torch.zeros(ref.shape)
    return out


def test_vae_input_replaces_the_folder_vae_exactly(node_classes, svfr_models_dir, test_models_svfr, comfy_svd_vae):
    svfr_models_dir(test_models_svfr)
    handle = node_classes["SVFRModelLoader"].execute(model_folder=".", precision="fp32",
                                                     vae=comfy_svd_vae).result[0]
    got = handle.models.vae.state_dict()
    assert list(handle.models.vae.config.block_out_channels) == [128, 256, 512, 512]  # not the folder's tiny VAE
    want = _expected_engine_vae(comfy_svd_vae, got)
    assert all(torch.equal(got[k], want[k]) for k in got)
    assert handle.patchers[1].model.inner is handle.models.vae


@pytest.mark.fault("graph wiring", "a VAE input that is not a VAE")
def test_vae_input_that_is_not_a_vae_is_refused(node_classes, svfr_models_dir, test_models_svfr):
    from svfr_model.errors import WeightsError

    svfr_models_dir(test_models_svfr)
    with pytest.raises(WeightsError, match="input 'vae'"):
        node_classes["SVFRModelLoader"].execute(model_folder=".", precision="fp32", vae=object())


def test_flat_folder_without_vae_uses_the_vae_input(node_classes, svfr_models_dir, test_models_svfr, comfy_svd_vae,
                                                      tmp_path):
    """models/svfr as ComfyUI users fill it (files side by side, no SVD vae/ folder) + the VAE of Image Only
    Checkpoint Loader: loads, with the file's UNet weights and the input's VAE weights exactly."""
    from svfr_model.weights.checkpoints import read_state_dict
    from svfr_model.errors import WeightsError

    flat = tmp_path / "svfr"
    (flat / "unet").mkdir(parents=True)
    face = test_models_svfr / "face_restoration"
    for src in (face / "unet.pth", face / "id_linear.pth", face / "insightface_glint360k.safetensors"):
        (flat / src.name).symlink_to(src)
    # the tiny UNet needs its own config (the built-in one is real-size)
    (flat / "unet" / "config.json").symlink_to(test_models_svfr / "stable-video-diffusion-img2vid-xt/unet/config.json")
    svfr_models_dir(flat)
    with pytest.raises(WeightsError, match="SVD-xt VAE"):  # without the input the VAE is missing
        node_classes["SVFRModelLoader"].execute(model_folder=".", precision="fp32")

    handle = node_classes["SVFRModelLoader"].execute(model_folder=".", precision="fp32",
                                                     vae=comfy_svd_vae).result[0]
    assert handle.source == str(flat) and handle.models.paths.layout == "flat"
    got = handle.models.vae.state_dict()
    want = _expected_engine_vae(comfy_svd_vae, got)
    assert all(torch.equal(got[k], want[k]) for k in got)
    sd = read_state_dict(face / "unet.pth")
    assert torch.equal(handle.models.unet.conv_in.weight, sd["conv_in.weight"].float())
    assert handle.models.arcface is not None and len(handle.patchers) == 4


def test_flat_folder_with_vae_input_still_needs_arcface(node_classes, svfr_models_dir, test_models_svfr, tmp_path,
                                                         comfy_svd_vae):
    from svfr_model.errors import WeightsError

    flat = tmp_path / "svfr"
    flat.mkdir()
    for name in ("unet.pth", "id_linear.pth"):
        (flat / name).symlink_to(test_models_svfr / "face_restoration" / name)
    svfr_models_dir(flat)
    with pytest.raises(WeightsError) as err:
        node_classes["SVFRModelLoader"].execute(model_folder=".", precision="fp32", vae=comfy_svd_vae)
    msg = str(err.value)
    assert str(flat / "insightface_glint360k.pth") in msg and "drive.google.com" in msg
    assert "SVD-xt VAE" not in msg and msg.count("  - ") == 1
