"""SVFRDownloadModels against the loopback Hub stand-in (tests/fake_hub.py): licence off by default, bytes on
ComfyUI's progress bar, Cancel through ComfyUI's interrupt leaves nothing at a final path, the next run resumes."""
from __future__ import annotations

import shutil

import pytest

from fake_hub import SVFR_REPO, _hub_objects, hub, hub_files  # noqa: F401  (fixtures)

pytestmark = pytest.mark.comfy
MIB = 1 << 20
UNET = (SVFR_REPO, "face_restoration/unet.pth")


def _svd_configs(root, parity_dir):
    """The tiny SVD-xt configs in ``root`` (the tiny UNet is checked against its own config)."""
    src = parity_dir / "models" / "stable-video-diffusion-img2vid-xt"
    for rel in ("unet/config.json", "scheduler/scheduler_config.json"):
        (root / "stable-video-diffusion-img2vid-xt" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, root / "stable-video-diffusion-img2vid-xt" / rel)
    return root


@pytest.fixture
def svfr_root(comfy, svfr_models_dir, tmp_path, parity_dir):
    """models/svfr holding only the tiny SVD-xt configs."""
    root = _svd_configs(tmp_path / "svfr", parity_dir)
    svfr_models_dir(root)
    return root


@pytest.fixture
def progress_hook(comfy):
    import comfy.utils

    seen = []
    old = comfy.utils.PROGRESS_BAR_HOOK
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview, node_id=None: seen.append((value, total)))
    yield seen
    comfy.utils.set_progress_bar_global_hook(old)


def test_licence_is_off_by_default_and_named(node_classes, svfr_root, hub):
    from svfr_model.weights.download import LicenceNotAccepted

    node = node_classes["SVFRDownloadModels"]
    accept = node.define_schema().inputs[0]
    assert accept.id == "accept_licence" and accept.default is False
    assert "non-commercial research use only" in accept.tooltip and "Stability AI Community License" in accept.tooltip
    with pytest.raises(LicenceNotAccepted):
        node.execute(accept_licence=False, folder=".", detector="retinaface (embedded)", svd_vae=False)
    assert hub.log == []


def test_downloads_with_bytes_on_the_progress_bar_then_the_loader_lists_it(node_classes, svfr_root, hub, hub_files,
                                                                         progress_hook, parity_dir):
    node = node_classes["SVFRDownloadModels"]
    _svd_configs(svfr_root / "set1", parity_dir)
    out = node.execute(accept_licence=True, folder="set1", detector="retinaface (embedded)", svd_vae=False,
                       safetensors=True).result[0]
    dest = svfr_root / "set1" / "face_restoration"
    assert "fetched" in out and str(dest / "unet.pth") in out
    for name in ("unet", "id_linear", "insightface_glint360k"):
        assert (dest / f"{name}.pth").read_bytes() == hub_files[(SVFR_REPO, f"face_restoration/{name}.pth")]
        assert (dest / f"{name}.safetensors").is_file()
    total = sum(len(hub_files[(SVFR_REPO, f"face_restoration/{n}.pth")]) for n in ("unet", "id_linear",
                                                                                      "insightface_glint360k"))
    assert progress_hook[-1] == (total, total) and len(progress_hook) > 100  # 1 MiB chunks
    assert "set1" in node_classes["SVFRModelLoader"].define_schema().inputs[0].options


def test_cancel_stops_it_with_no_partial_file_in_place_and_the_next_run_resumes(node_classes, svfr_root, hub,
                                                                                 hub_files, comfy, monkeypatch):
    import comfy.model_management as mm

    calls = []

    def interrupt_after_three_chunks():
        calls.append(1)
        if len(calls) == 4:
            raise mm.InterruptProcessingException()

    monkeypatch.setattr(mm, "throw_exception_if_processing_interrupted", interrupt_after_three_chunks)
    node = node_classes["SVFRDownloadModels"]
    (svfr_root / "face_restoration").mkdir()
    for name in ("id_linear", "insightface_glint360k"):  # present (any content): only the UNet is fetched
        (svfr_root / "face_restoration" / f"{name}.safetensors").write_bytes(b"present")
    with pytest.raises(mm.InterruptProcessingException):  # ComfyUI's own: it reports 'execution_interrupted'
        node.execute(accept_licence=True, folder=".", detector="retinaface (embedded)", svd_vae=False)
    final = svfr_root / "face_restoration" / "unet.pth"
    assert not final.exists()
    assert (svfr_root / ".svfr-download" / "face_restoration--unet.pth.part").stat().st_size == 2 * MIB
    monkeypatch.setattr(mm, "throw_exception_if_processing_interrupted", lambda: None)
    node.execute(accept_licence=True, folder=".", detector="retinaface (embedded)", svd_vae=False)
    assert final.read_bytes() == hub_files[UNET]
    gets = [r for r in hub.requests("GET") if r.path.endswith(hub.files[UNET].sha256)]
    assert [g.range for g in gets] == [None, f"bytes={2 * MIB}-"]
    assert not (svfr_root / ".svfr-download").exists()


def test_folder_must_stay_inside_models_svfr(node_classes, svfr_root, hub):
    from svfr_model.errors import InputError

    with pytest.raises(InputError, match="sub-folder name"):
        node_classes["SVFRDownloadModels"].execute(accept_licence=True, folder="../elsewhere",
                                                   detector="retinaface (embedded)", svd_vae=False)
    assert hub.log == []
