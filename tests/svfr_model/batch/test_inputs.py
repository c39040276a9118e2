"""Which videos a batch sees and where each is written: folders, globs, manifests, mirrored names."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from svfr_model.batch.inputs import find_inputs
from svfr_model.errors import InputError


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def _names(entries) -> dict:
    return {str(e.output): e.src.name for e in entries}


def test_a_folder_is_searched_recursively_and_mirrored(tmp_path):
    for rel in ("tapes/a.mov", "tapes/1998/b.MP4", "tapes/1998/notes.txt", "tapes/.hidden/c.mp4", "tapes/.d.mp4"):
        _touch(tmp_path / rel)
    out = tmp_path / "tapes" / "restored"  # inside the input folder: never read back as input
    _touch(out / "old.mp4")
    entries = find_inputs([str(tmp_path / "tapes")], out)
    assert _names(entries) == {"a.mp4": "a.mov", "1998/b.mp4": "b.MP4"}
    assert all(e.src.is_absolute() for e in entries)


def test_two_folders_keep_their_names_and_globs_expand(tmp_path):
    for rel in ("a/x.mp4", "b/x.mp4", "b/deep/y.mkv"):
        _touch(tmp_path / rel)
    assert _names(find_inputs([str(tmp_path / "a"), str(tmp_path / "b")])) == {
        "a/x.mp4": "x.mp4", "b/x.mp4": "x.mp4", "b/deep/y.mp4": "y.mkv"}
    assert _names(find_inputs([str(tmp_path / "b" / "**" / "*.mkv")])) == {"y.mp4": "y.mkv"}
    # the same file twice is restored once
    assert len(find_inputs([str(tmp_path / "a" / "x.mp4"), str(tmp_path / "a")])) == 1


def test_two_inputs_for_one_output_name_are_an_error(tmp_path):
    _touch(tmp_path / "v" / "x.mov")
    _touch(tmp_path / "v" / "x.mp4")
    with pytest.raises(InputError, match="one output name"):
        find_inputs([str(tmp_path / "v")])


@pytest.mark.parametrize("arg, message", [("nope.mp4", "does not exist"), ("nope/*.mp4", "no file matches")])
def test_missing_inputs_are_named(tmp_path, arg, message):
    with pytest.raises(InputError, match=message):
        find_inputs([str(tmp_path / arg)])


def test_manifests_csv_and_jsonl(tmp_path):
    _touch(tmp_path / "v" / "a.mp4")
    _touch(tmp_path / "v" / "b.mp4")
    _touch(tmp_path / "lists" / "mask.png")
    csv_file = tmp_path / "lists" / "m.csv"
    csv_file.write_text("input,output,tasks,mask,Crop-Mode\n"
                        "../v/a.mp4,named/first,\"bfr,inpainting\",mask.png,official\n"
                        "../v/b.mp4,,,,\n")
    a, b = find_inputs([str(csv_file)])
    assert a.output == Path("named/first.mp4") and b.output == Path("b.mp4")
    assert a.options == {"tasks": "bfr,inpainting", "mask": str(tmp_path / "lists" / "mask.png"),
                         "crop_mode": "official"}
    assert b.options == {} and a.origin == "m.csv:2"
    jl = tmp_path / "m.jsonl"
    jl.write_text(json.dumps({"input": "v/a.mp4", "faces": "all", "no_crop": False}) + "\n\n# a comment\n")
    (e,) = find_inputs([str(jl)])
    assert e.src == tmp_path / "v" / "a.mp4" and e.options == {"faces": "all", "no_crop": False}


@pytest.mark.parametrize("text, message", [
    ("output\nx.mp4\n", "no 'input'"),
    ("input,output\nv/a.mp4,../escape.mp4\n", "inside the output folder"),
])
def test_bad_manifest_rows_name_the_row(tmp_path, text, message):
    _touch(tmp_path / "v" / "a.mp4")
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(InputError, match=message) as info:
        find_inputs([str(tmp_path / "m.csv")])
    assert "m.csv:2" in str(info.value)
