"""At load the pack copies its example inputs into ComfyUI's input folder, never over a user's file."""
from __future__ import annotations

import os

import pytest

from conftest import REPO_ROOT

pytestmark = pytest.mark.comfy


def test_copies_missing_files_and_keeps_the_users(pack, tmp_path):
    from svfr_pack_under_test.nodes.example_inputs import copy_missing

    src = tmp_path / "src"
    src.mkdir()
    for name, data in (("a.mp4", b"shipped a"), ("b.png", b"shipped b"), (".hidden", b"x")):
        (src / name).write_bytes(data)
    dest = tmp_path / "input"
    dest.mkdir()
    (dest / "b.png").write_bytes(b"the user's own b")
    assert copy_missing(dest, src) == ["a.mp4"]
    assert (dest / "a.mp4").read_bytes() == b"shipped a"
    assert (dest / "b.png").read_bytes() == b"the user's own b"
    assert sorted(os.listdir(dest)) == ["a.mp4", "b.png"]  # no temporary file, no hidden file copied
    assert copy_missing(dest, src) == []  # idempotent
    assert copy_missing(dest, tmp_path / "absent") == []


def test_load_fills_comfyui_input_folder(pack, node_classes, tmp_path, monkeypatch):
    import asyncio

    import folder_paths

    monkeypatch.setattr(folder_paths, "get_input_directory", lambda: str(tmp_path / "input"))
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "svfr_example_mask.png").write_bytes(b"mine")
    asyncio.run(pack.nodes.extension.SVFRExtension().get_node_list())
    shipped = sorted(p.name for p in (REPO_ROOT / "example_inputs").iterdir())
    assert sorted(os.listdir(tmp_path / "input")) == shipped
    assert (tmp_path / "input" / "svfr_example_mask.png").read_bytes() == b"mine"
    assert (tmp_path / "input" / "svfr_example.mp4").read_bytes() == (REPO_ROOT / "example_inputs" / "svfr_example.mp4").read_bytes()
