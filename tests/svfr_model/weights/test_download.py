"""download_models against a loopback stand-in for the Hub (tests/fake_hub.py) serving tiny weights of the
real key layout under the real repository ids and paths."""
from __future__ import annotations

import json
import shutil

import pytest

from fake_hub import SVD_REPO, SVFR_REPO

UNET = (SVFR_REPO, "face_restoration/unet.pth")
MIB = 1 << 20


def _svd_configs(root, parity_dir):
    """A folder that already holds the SVD-xt configs (the tiny UNet is checked against its own config)."""
    src = parity_dir / "models" / "stable-video-diffusion-img2vid-xt"
    for rel in ("unet/config.json", "scheduler/scheduler_config.json"):
        dst = root / "stable-video-diffusion-img2vid-xt" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, dst)
    return root


def _storage_gets(hub, key):
    sha = hub.files[key].sha256
    return [r for r in hub.requests("GET") if r.path == f"/lfs/{sha}"]


def test_full_download_then_the_loader_loads_it(hub, hub_files, tmp_path):
    import torch
    from svfr_model.weights.checkpoints import read_state_dict
    from svfr_model.weights.models import load_svfr_models
    from svfr_model.weights.download import download_models

    dest = tmp_path / "svfr"
    seen = []
    report = download_models(dest, accept_licence=True, progress=lambda d, t: seen.append((d, t)))
    expected = {"stable-video-diffusion-img2vid-xt/vae/config.json", "stable-video-diffusion-img2vid-xt/unet/config.json",
                "stable-video-diffusion-img2vid-xt/scheduler/scheduler_config.json", "face_restoration/id_linear.pth",
                "face_restoration/insightface_glint360k.pth", "face_restoration/unet.pth",
                "stable-video-diffusion-img2vid-xt/vae/diffusion_pytorch_model.fp16.safetensors"}
    assert {p.relative_to(dest).as_posix() for p in report.fetched} == expected
    for rel in expected:
        repo = SVD_REPO if rel.startswith("stable") else SVFR_REPO
        assert (dest / rel).read_bytes() == hub_files[(repo, rel.split("/", 1)[1] if repo == SVD_REPO else rel)]
    assert not (dest / ".svfr-download").exists() and not (dest / "face_align").exists()  # yoloface not asked
    total = sum(len(b) for (r, p), b in hub_files.items() if not p.endswith(".pt"))
    assert seen[-1] == (total, total) and all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
    assert not any(r.range for r in hub.log)
    models = load_svfr_models(dest, require_arcface=True)
    sd = read_state_dict(dest / "face_restoration" / "unet.pth")
    assert torch.equal(models.unet.state_dict()["conv_in.weight"], sd["conv_in.weight"].float())
    assert models.arcface is not None and models.unet.state_dict()["conv_in.weight"].shape[1] == 12
    hub.log.clear()
    again = download_models(dest)  # complete: no licence question, no request
    assert again.fetched == [] and hub.log == []


def test_licence_gate_fetches_nothing_until_accepted(hub, tmp_path):
    from svfr_model.errors import InputError
    from svfr_model.weights.download import LicenceNotAccepted, download_models

    dest = tmp_path / "svfr"
    with pytest.raises(LicenceNotAccepted) as err:
        download_models(dest)
    msg = str(err.value)
    assert isinstance(err.value, InputError)
    for words in ("SVFR model weights: non-commercial research use only", "Stability AI Community License",
                  "InsightFace", "face_restoration/unet.pth", "--accept-licence", "Nothing was downloaded"):
        assert words in msg
    assert hub.log == [] and not dest.exists()
    asked = []
    with pytest.raises(LicenceNotAccepted):
        download_models(dest, only=["id_linear"], confirm=lambda text: asked.append(text) or False)
    assert hub.log == [] and "face_restoration/id_linear.pth" in asked[0] and "unet.pth" not in asked[0]
    report = download_models(dest, only=["id_linear"], confirm=lambda text: True)
    assert [p.name for p in report.fetched] == ["id_linear.pth"]


def test_import_and_load_never_download(hub, tmp_path):
    import svfr_model.commands.download  # noqa: F401
    import svfr_model.weights.download  # noqa: F401
    from svfr_model.errors import WeightsError
    from svfr_model.weights.models import load_svfr_models

    with pytest.raises(WeightsError, match="missing"):
        load_svfr_models(tmp_path)
    assert hub.log == [] and list(tmp_path.iterdir()) == []


@pytest.mark.fault("downloads", "transfer cut mid-file")
def test_transfer_cut_mid_file_is_resumed_with_a_range_request(hub, hub_files, tmp_path, parity_dir):
    from svfr_model.weights.download import download_models

    dest = _svd_configs(tmp_path / "svfr", parity_dir)
    hub.cut(*UNET, at=3 * MIB + MIB // 2, times=1)
    download_models(dest, only=["unet"], accept_licence=True)
    gets = _storage_gets(hub, UNET)
    assert [g.range for g in gets] == [None, f"bytes={3 * MIB}-"]  # 3 whole chunks kept, the rest asked again
    assert (dest / "face_restoration" / "unet.pth").read_bytes() == hub_files[UNET]


@pytest.mark.fault("downloads", "expired storage link")
def test_an_expired_storage_link_is_renewed_and_the_transfer_resumes(hub, hub_files, tmp_path, parity_dir):
    from svfr_model.weights.download import download_models

    dest = _svd_configs(tmp_path / "svfr", parity_dir)
    hub.cut(*UNET, at=2 * MIB + 100, times=1)  # http_get's own retry then meets an expired link (403)
    hub.refuse[hub.files[UNET].sha256] = 1
    download_models(dest, only=["unet"], accept_licence=True)
    assert (dest / "face_restoration" / "unet.pth").read_bytes() == hub_files[UNET]
    assert [g.range for g in _storage_gets(hub, UNET)] == [None, f"bytes={2 * MIB}-", f"bytes={2 * MIB}-"]
    assert len([r for r in hub.requests("HEAD") if r.path.endswith("face_restoration/unet.pth")]) == 2


def test_interrupted_download_resumes_on_the_next_run(hub, hub_files, tmp_path, parity_dir, monkeypatch):
    from huggingface_hub import file_download
    from svfr_model.weights.download import DownloadError, download_models

    monkeypatch.setattr(file_download.time, "sleep", lambda s: None)  # http_get's 5 retries, without the waits

    dest = _svd_configs(tmp_path / "svfr", parity_dir)
    final = dest / "face_restoration" / "unet.pth"
    hub.cut(*UNET, at=2 * MIB + 100, times=10)  # every retry of this run breaks off again
    with pytest.raises(DownloadError) as err:
        download_models(dest, only=["unet"], accept_licence=True)
    msg = str(err.value)
    assert "face_restoration/unet.pth" in msg and "run again to resume" in msg and "2.1 MB are kept" in msg
    part = dest / ".svfr-download" / "face_restoration--unet.pth.part"
    assert not final.exists() and part.stat().st_size == 2 * MIB
    hub.log.clear()
    hub.cuts.clear()
    report = download_models(dest, only=["unet"], accept_licence=True)
    assert report.fetched == [final] and final.read_bytes() == hub_files[UNET]
    assert [g.range for g in _storage_gets(hub, UNET)] == [f"bytes={2 * MIB}-"]
    assert not (dest / ".svfr-download").exists()


@pytest.mark.fault("cancel and interrupt", "cancel during a download")
def test_cancel_keeps_the_part_out_of_place_and_the_next_run_resumes(hub, hub_files, tmp_path, parity_dir):
    from svfr_model.errors import Cancelled
    from svfr_model.weights.download import download_models

    dest = _svd_configs(tmp_path / "svfr", parity_dir)
    calls = []
    with pytest.raises(Cancelled, match="resumes"):
        download_models(dest, only=["unet"], accept_licence=True, cancel=lambda: calls.append(1) or len(calls) > 4)
    assert not (dest / "face_restoration" / "unet.pth").exists()
    assert (dest / ".svfr-download" / "face_restoration--unet.pth.part").stat().st_size == 3 * MIB
    download_models(dest, only=["unet"], accept_licence=True)
    assert (dest / "face_restoration" / "unet.pth").read_bytes() == hub_files[UNET]
    assert _storage_gets(hub, UNET)[-1].range == f"bytes={3 * MIB}-"


@pytest.mark.fault("downloads", "a corrupted byte")
def test_a_corrupted_byte_is_rejected_removed_and_fetched_anew(hub, hub_files, tmp_path, parity_dir):
    from svfr_model.weights.download import VerificationError, download_models

    dest = _svd_configs(tmp_path / "svfr", parity_dir)
    hub.corrupt.add(UNET)
    with pytest.raises(VerificationError) as err:
        download_models(dest, only=["unet"], accept_licence=True)
    msg = str(err.value)
    assert "face_restoration/unet.pth" in msg and "SHA-256" in msg and hub.files[UNET].sha256 in msg
    assert "removed: run again" in msg
    assert not (dest / "face_restoration" / "unet.pth").exists() and not (dest / ".svfr-download").exists()
    hub.corrupt.clear()
    download_models(dest, only=["unet"], accept_licence=True)
    assert (dest / "face_restoration" / "unet.pth").read_bytes() == hub_files[UNET]


@pytest.mark.fault("downloads", "a file of the wrong layout")
def test_a_file_of_the_wrong_layout_fails_the_strict_key_check(hub, hub_files, tmp_path, parity_dir):
    from svfr_model.weights.download import VerificationError, download_models

    dest = _svd_configs(tmp_path / "svfr", parity_dir)
    hub.add(*UNET, hub_files[(SVFR_REPO, "face_restoration/id_linear.pth")])  # consistent digest, wrong file
    with pytest.raises(VerificationError) as err:
        download_models(dest, only=["unet"], accept_licence=True)
    assert "not the file the loader expects" in str(err.value) and "missing keys" in str(err.value)
    assert not (dest / "face_restoration" / "unet.pth").exists()


def test_a_recorded_sha256_is_enforced(hub, hub_files, tmp_path):
    import hashlib

    from svfr_model.weights.download import VerificationError, download_models
    from svfr_model.weights.sources import load_sources

    data = hub_files[(SVFR_REPO, "face_restoration/id_linear.pth")]
    table_file = tmp_path / "pinned.json"
    table_file.write_text(json.dumps({"files": [{"id": "id_linear", "sha256": "0" * 64, "size": len(data)}]}))
    with pytest.raises(VerificationError, match="recorded"):
        download_models(tmp_path / "a", table=load_sources(overrides=[table_file]), only=["id_linear"],
                        accept_licence=True)
    table_file.write_text(json.dumps({"files": [{"id": "id_linear", "sha256": hashlib.sha256(data).hexdigest()}]}))
    hub.add(SVFR_REPO, "face_restoration/id_linear.pth", data, lfs=False)  # git-stored: no SHA-256 from the server
    report = download_models(tmp_path / "b", table=load_sources(overrides=[table_file]), only=["id_linear"],
                             accept_licence=True)
    assert report.fetched[0].read_bytes() == data


def test_a_gated_source_asks_for_hf_token_and_never_sends_it_to_storage(hub, tmp_path, monkeypatch):
    from svfr_model.weights.download import AccessDeniedError, download_models

    hub.gated[SVFR_REPO] = "hf_secret"
    with pytest.raises(AccessDeniedError) as err:
        download_models(tmp_path / "svfr", only=["id_linear"], accept_licence=True)
    msg = str(err.value)
    assert "HTTP 401" in msg and "set HF_TOKEN" in msg and "fffiloni/SVFR" in msg
    assert hub.requests("GET") == []
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(AccessDeniedError, match="HTTP 403.*a token was sent"):
        download_models(tmp_path / "svfr", only=["id_linear"], accept_licence=True)
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    hub.log.clear()
    download_models(tmp_path / "svfr", only=["id_linear"], accept_licence=True)
    assert hub.requests("HEAD")[0].authorization == "Bearer hf_secret"
    assert [r.authorization for r in hub.requests("GET")] == [None]  # the storage host never sees it


@pytest.mark.fault("downloads", "offline mode")
def test_offline_mode_names_every_file_its_source_and_its_place(hub, tmp_path, monkeypatch):
    from huggingface_hub import constants
    from svfr_model.weights.download import OfflineError, download_models

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    dest = tmp_path / "svfr"
    with pytest.raises(OfflineError) as err:
        download_models(dest, accept_licence=True)
    msg = str(err.value)
    assert "HF_HUB_OFFLINE" in msg and "by hand" in msg
    assert str(dest / "face_restoration" / "unet.pth") in msg
    assert f"{hub.endpoint}/fffiloni/SVFR/resolve/main/face_restoration/unet.pth" in msg
    assert f"{hub.endpoint}/{SVD_REPO}/resolve/main/vae/diffusion_pytorch_model.fp16.safetensors" in msg
    assert hub.log == []


@pytest.mark.fault("downloads", "no network route")
def test_no_route_is_reported_like_offline(hub, tmp_path):
    import socket

    from svfr_model.weights.download import OfflineError, download_models

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(OfflineError) as err:
        download_models(tmp_path / "svfr", only=["id_linear"], accept_licence=True, endpoint=closed)
    assert "ConnectError" in str(err.value) and f"{closed}/fffiloni/SVFR/resolve/main" in str(err.value)


@pytest.mark.fault("downloads", "not enough disk space")
def test_not_enough_disk_space_is_found_before_any_transfer(hub, tmp_path, monkeypatch):
    from svfr_model.weights import download
    from svfr_model.weights.download import NotEnoughSpaceError

    monkeypatch.setattr(download, "free_bytes", lambda path: 50 << 20)
    with pytest.raises(NotEnoughSpaceError) as err:
        download.download_models(tmp_path / "svfr", accept_licence=True)
    assert "not enough disk space" in str(err.value) and "nothing was downloaded" in str(err.value)
    assert hub.requests("GET") == [] and len(hub.requests("HEAD")) == 7


def test_a_moved_file_points_at_the_table_and_a_mirror_works(hub, hub_files, tmp_path):
    from svfr_model.weights.download import DownloadError, download_models

    with pytest.raises(DownloadError, match="HTTP 404.*--source"):
        download_models(tmp_path / "a", only=["id_linear"], accept_licence=True,
                        sources=["id_linear=fffiloni/SVFR:moved/id_linear.pth"])
    data = hub_files[(SVFR_REPO, "face_restoration/id_linear.pth")]
    hub.add("me/svfr-mirror", "face_restoration/id_linear.pth", data)
    report = download_models(tmp_path / "b", only=["id_linear"], accept_licence=True,
                             sources=["fffiloni/SVFR=me/svfr-mirror"])
    assert report.fetched[0].read_bytes() == data
    assert hub.requests("HEAD")[-1].path == "/me/svfr-mirror/resolve/main/face_restoration/id_linear.pth"


def test_plan_counts_what_the_loader_finds_flat_twins_and_single_file(tmp_path):
    from svfr_model.weights.download import plan_download

    (tmp_path / "unet.safetensors").write_bytes(b"x")
    (tmp_path / "id_linear.pth").write_bytes(b"x")
    (tmp_path / "svd_xt.safetensors").write_bytes(b"x")
    plan = plan_download(tmp_path)
    assert [p.source.id for p in plan.missing] == ["arcface"]  # the single file needs no VAE, no configs
    assert plan_download(tmp_path, detector="yoloface").missing[-1].source.id == "yoloface"
    assert [p.source.id for p in plan_download(tmp_path, vae=False).files] == ["id_linear", "arcface", "unet"]


def test_source_overrides_are_checked(tmp_path):
    from svfr_model.weights.sources import SourceError, load_sources

    table = load_sources()
    assert table.get("unet").repo == "fffiloni/SVFR" and all(f.sha256 is None for f in table.files)
    moved = load_sources(overrides=["fffiloni/SVFR=me/mirror@v2"])
    assert {f.repo for f in moved.files if f.group != "vae"} == {"me/mirror"}
    assert moved.get("unet").revision == "v2" and moved.get("vae").repo == SVD_REPO
    for bad in ("nonsense", "unknown/repo=me/x", "unet=not-a-repo", "fffiloni/SVFR=me/x:some/path"):
        with pytest.raises(SourceError):
            load_sources(overrides=[bad])
    bad_table = tmp_path / "t.json"
    bad_table.write_text(json.dumps({"files": [{"id": "unet", "sha256": "abc"}]}))
    with pytest.raises(SourceError, match="64 hex"):
        load_sources(overrides=[bad_table])
