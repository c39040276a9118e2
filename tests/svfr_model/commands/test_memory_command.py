"""``python -m svfr_model memory``: the per-stage table of a preset and its JSON (~12 s on 2 cores)."""
from __future__ import annotations

import json

from svfr_model.commands.cli import main


def test_memory_command_prints_each_stage_and_writes_json(tmp_path, capsys):
    out = tmp_path / "pred.json"
    assert main(["memory", "--preset", "default", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    for stage in ("pass 1 encode", "pass 1 UNet", "pass 1 decode", "pass 2 encode", "pass 2 UNet", "pass 2 decode"):
        assert stage in text
    assert "card needs" in text and "convolution" in text
    (row,) = json.loads(out.read_text())
    assert row["preset"] == "default" and row["peak_stage"].endswith("decode")
    assert row["card_need"] <= 10 * 2**30
    assert not list(tmp_path.glob("*.partial"))


def test_memory_command_refuses_a_missing_workspace_table(tmp_path, capsys):
    assert main(["memory", "--workspace", str(tmp_path / "none.json")]) == 2
    assert "--workspace" in capsys.readouterr().err
