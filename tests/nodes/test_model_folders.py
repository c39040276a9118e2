"""The loader's folder list: models/svfr entries by bare name, models/SVFR (earlier packs) and cloned SVFR
repositories listed too with where they came from; every entry loads through svfr_model.weights.model_files."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.comfy

SVD = "stable-video-diffusion-img2vid-xt"


@pytest.fixture
def comfy_models(comfy, tmp_path, monkeypatch):
    """A fresh ComfyUI models/ tree for one test (models/svfr registered, no other place)."""
    import folder_paths

    saved = {k: (list(v[0]), set(v[1])) for k, v in folder_paths.folder_names_and_paths.items()}
    monkeypatch.setattr(folder_paths, "base_path", str(tmp_path))
    monkeypatch.setattr(folder_paths, "models_dir", str(tmp_path / "models"))
    folder_paths.folder_names_and_paths.pop("svfr", None)
    folder_paths.folder_names_and_paths.pop("SVFR", None)
    (tmp_path / "models").mkdir()
    yield tmp_path / "models"
    folder_paths.folder_names_and_paths.clear()
    folder_paths.folder_names_and_paths.update(saved)


def _official_set(dest, src):
    """The tiny model set in the official layout at ``dest`` (linked, not copied: ArcFace is 130 MB)."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in ("face_restoration", SVD):
        (dest / part).symlink_to(src / part, target_is_directory=True)


def test_models_SVFR_and_a_cloned_repo_are_listed_with_their_source(pack, node_classes, comfy_models, test_models_svfr):
    host = pack.nodes.host
    (comfy_models / "svfr" / "mine").mkdir(parents=True)
    _official_set(comfy_models / "svfr" / "mine", test_models_svfr)
    _official_set(comfy_models / "SVFR", test_models_svfr)  # an earlier pack's folder, files at its top
    clone = comfy_models / "SVFR" / "SVFR-main"  # `git clone` of the SVFR repo: layout under models/
    (clone / "models").mkdir(parents=True)
    _official_set(clone / "models", test_models_svfr)
    (clone / "infer.py").write_text("# the official script")
    (comfy_models / "SVFR" / "notes").mkdir()  # not a model set: not listed

    choices = host.model_folder_choices()
    assert choices == [".", "mine", ". (models/SVFR)", "SVFR-main (models/SVFR)"]
    assert host.resolve_model_folder("mine") == str(comfy_models / "svfr" / "mine")
    assert host.resolve_model_folder(". (models/SVFR)") == str(comfy_models / "SVFR")
    assert host.resolve_model_folder("SVFR-main (models/SVFR)") == str(clone)

    from svfr_model.weights.model_files import find_model_files

    files = find_model_files(host.resolve_model_folder("SVFR-main (models/SVFR)"))
    assert files.root == clone / "models" and files.layout == "official"
    assert files.unet == clone / "models" / "face_restoration" / "unet.pth"


@pytest.mark.slow  # loads the tiny set (130 MB ArcFace): ~50 s on 2 busy cores
def test_the_loader_node_loads_an_entry_from_models_SVFR(pack, node_classes, comfy_models, test_models_svfr):
    clone = comfy_models / "SVFR" / "SVFR-main" / "models"
    clone.mkdir(parents=True)
    _official_set(clone, test_models_svfr)
    loader = node_classes["SVFRModelLoader"]
    options = loader.define_schema().inputs[0].options
    assert "SVFR-main (models/SVFR)" in options
    handle = loader.execute(model_folder="SVFR-main (models/SVFR)", precision="fp32").result[0]
    assert handle.source == str(comfy_models / "SVFR" / "SVFR-main")
    import torch
    from svfr_model.weights.checkpoints import read_state_dict

    sd = read_state_dict(clone / "face_restoration" / "id_linear.pth")
    own = handle.models.id_projector.state_dict()
    key = next(iter(sd))
    assert torch.equal(own[key], sd[key].float())


def test_a_folder_registered_under_the_SVFR_key_is_searched(pack, node_classes, comfy_models, test_models_svfr,
                                                           tmp_path_factory):
    import folder_paths

    elsewhere = tmp_path_factory.mktemp("disk2") / "svfr_sets"  # outside ComfyUI: labelled by full path
    (elsewhere / "set1").mkdir(parents=True)
    _official_set(elsewhere / "set1", test_models_svfr)
    folder_paths.add_model_folder_path("SVFR", str(elsewhere))  # what earlier SVFR packs do
    choices = pack.nodes.host.model_folder_choices()
    assert f"set1 ({elsewhere})" in choices
    assert pack.nodes.host.resolve_model_folder(f"set1 ({elsewhere})") == str(elsewhere / "set1")


def test_same_folder_under_two_spellings_is_listed_once(pack, node_classes, comfy_models, test_models_svfr):
    """On a case-insensitive file system models/SVFR is models/svfr: nothing is listed twice."""
    (comfy_models / "svfr" / "a").mkdir(parents=True)
    _official_set(comfy_models / "svfr" / "a", test_models_svfr)
    (comfy_models / "SVFR").symlink_to(comfy_models / "svfr")
    assert pack.nodes.host.model_folder_choices() == [".", "a"]


def test_unknown_entry_names_every_place_searched(pack, node_classes, comfy_models):
    from svfr_model.errors import WeightsError

    (comfy_models / "SVFR").mkdir()
    with pytest.raises(WeightsError, match="not found in any svfr model folder") as err:
        pack.nodes.host.resolve_model_folder("gone (models/SVFR)")
    assert str(comfy_models / "SVFR") in str(err.value) and str(comfy_models / "svfr") in str(err.value)
