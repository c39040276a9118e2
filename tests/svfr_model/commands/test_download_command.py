"""`python -m svfr_model download` (commands/download.py, registered like every command) on the loopback Hub."""
from __future__ import annotations

import argparse
import io

import pytest

from fake_hub import SVFR_REPO


def _run(argv):
    from svfr_model.commands import download

    parser = argparse.ArgumentParser(prog="python -m svfr_model")
    download.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["download", *argv])
    return args.func(args)


def test_without_acceptance_and_no_terminal_it_shows_the_licences_and_stops(hub, tmp_path, monkeypatch):
    from svfr_model.weights.download import LicenceNotAccepted

    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal: no question asked
    with pytest.raises(LicenceNotAccepted, match="--accept-licence"):
        _run([str(tmp_path / "svfr"), "--only", "id_linear"])
    assert hub.log == []


def test_an_interactive_yes_accepts(hub, hub_files, tmp_path, monkeypatch, capsys):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdin", Tty("yes\n"))
    assert _run([str(tmp_path / "svfr"), "--only", "id_linear"]) == 0
    out = capsys.readouterr().out
    assert "SVFR model weights: non-commercial research use only" in out and "fetched" in out
    data = hub_files[(SVFR_REPO, "face_restoration/id_linear.pth")]
    assert (tmp_path / "svfr" / "face_restoration" / "id_linear.pth").read_bytes() == data


def test_safetensors_twins_are_written_from_the_verified_pth(hub, tmp_path):
    from safetensors.torch import load_file
    from svfr_model.weights.checkpoints import read_state_dict

    assert _run([str(tmp_path / "svfr"), "--only", "id_linear", "--accept-licence", "--safetensors"]) == 0
    pth = tmp_path / "svfr" / "face_restoration" / "id_linear.pth"
    twin = load_file(str(pth.with_suffix(".safetensors")))
    assert set(twin) == set(read_state_dict(pth))


def test_list_shows_what_is_missing_and_where_from_without_network(hub, tmp_path, capsys):
    assert _run([str(tmp_path / "svfr"), "--list", "--detector", "yoloface"]) == 0
    out = capsys.readouterr().out
    assert "missing  " + str(tmp_path / "svfr" / "face_align" / "yoloface_v5m.pt") in out
    assert f"{hub.endpoint}/fffiloni/SVFR/resolve/main/face_restoration/unet.pth" in out
    assert hub.log == [] and not (tmp_path / "svfr").exists()


def test_yoloface_and_the_default_destination(hub, tmp_path, monkeypatch):
    from conftest import REPO_ROOT
    from svfr_model.commands.download import default_destination

    monkeypatch.chdir(tmp_path)
    if REPO_ROOT.parent.name != "custom_nodes":  # inside ComfyUI it is ComfyUI/models/svfr
        assert default_destination().as_posix() == "models/svfr"
    assert _run(["--only", "yoloface", "--accept-licence"]) == 0
    assert (tmp_path / "models" / "svfr" / "face_align" / "yoloface_v5m.pt").is_file()
