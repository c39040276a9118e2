"""Issue 15, item 5, the parts a CPU can check: the conv shapes the GPU job measures (keys of a calibrated
table), its table writer (read back by ``CalibratedWorkspace``), and the bench's comparison of a measured peak
with the memory model's prediction (5 %). The GPU halves run on a lend (docs/performance.md).

Real-size configs at 128² crops (shapes and lifetimes are exact there too); a fake restore takes 7-10 s on 2 cores.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from svfr_model.diffusion import memory_model as mm

REPO = Path(__file__).resolve().parents[2]
GIB = 2**30
SIZE = 128


def _load(name: str):
    if str(REPO / "bench") not in sys.path:
        sys.path.insert(0, str(REPO / "bench"))
    spec = importlib.util.spec_from_file_location(f"svfr_bench_{name}", REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def conv_workspace():
    return _load("conv_workspace")


@pytest.fixture(scope="module")
def bench_gpu():
    return _load("bench_gpu")


@pytest.fixture(scope="module")
def memory_check():
    _load("conv_workspace")  # puts bench/ on sys.path
    import memory_check

    return memory_check


def _case(memory_check, preset="default", frames=8):
    return memory_check.prediction_case(preset, frames, SIZE, "fp16", "fp16")


# ---------------------------------------------------------------- the GPU job's shapes and table

def test_collected_shapes_are_the_calibrated_tables_keys(conv_workspace, tmp_path):
    shapes_file = tmp_path / "shapes.json"
    assert conv_workspace.main(["--collect-only", str(shapes_file), "--presets", "default", "--frames", "8",
                                "--size", str(SIZE), "--workers", "0"]) == 0
    shapes = conv_workspace.read_shapes(shapes_file)
    assert len(shapes) > 50 and json.loads(shapes_file.read_text())["count"] == len(shapes)
    for key, fields in shapes.items():  # each entry is the ConvShape of its key
        assert mm.ConvShape(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}).key == key
    assert {k.split("|")[0] for k in shapes} == {"fp16", "fp32"}  # fp32 encoder, fp16 UNet and decoder

    # a table of these keys is what the model looks up: the same decode (default's chunk of 8) finds every
    # convolution in it (none falls back to conservative) and a zero workspace there is no workspace
    table = tmp_path / "table.json"
    conv_workspace.write_table(table, dict.fromkeys(shapes, 0), card="made-up", torch_version="0", cudnn_version="0")
    calibrated = mm.workspace_from(str(table))
    decode = dict(frames=8, chunk=8, height=SIZE, width=SIZE, dtype="fp16")
    assert mm.predict_decode(**decode, workspace=calibrated).act == mm.predict_decode(**decode, workspace="none").act
    assert calibrated.missing == set()
    assert mm.predict_decode(**dict(decode, frames=7, chunk=7), workspace=calibrated).act > 0
    assert calibrated.missing  # another chunk is another shape: conservative for it, and listed


def test_table_writer_round_trips_through_calibrated_workspace(conv_workspace, tmp_path):
    keys = ["fp16|in 8x512x64x64|w 512x512x3x3|s 1x1|p 1x1|d 1x1|g 1|t 0",
            "fp32|in 4x3x512x512|w 128x3x3x3|s 1x1|p 1x1|d 1x1|g 1|t 0"]
    made_up = {keys[0]: 123456, keys[1]: 0}
    path = tmp_path / "sub" / "conv-workspace.json"
    path.parent.mkdir()
    path.write_text("an older table")  # replaced whole
    conv_workspace.write_table(path, made_up, card="NVIDIA H200", torch_version="2.11.0+cu128",
                               cudnn_version="91002")
    data = json.loads(path.read_text())
    assert set(data) == {"card", "torch", "cudnn", "workspace"} and data["workspace"] == made_up
    assert sorted(p.name for p in path.parent.iterdir()) == ["conv-workspace.json"]  # no temporary left
    ws = mm.CalibratedWorkspace.from_json(path)
    assert (ws.table, ws.card, ws.torch_version, ws.cudnn_version) == (made_up, "NVIDIA H200", "2.11.0+cu128", "91002")
    assert conv_workspace.details_path(path).name == "conv-workspace.details.json"


# ---------------------------------------------------------------- the bench's comparison (5 %)

def _row(measured_gib, preset="default", frames=64):
    return {"preset": preset, "frames": frames, "size": 512, "steps": "1+1", "peak_alloc_gb": measured_gib,
            "unet_dtype": "fp16", "vae_dtype": "fp16"}


def test_four_percent_off_passes_six_percent_fails(memory_check):
    predicted = {"conservative": {"peak": int(10.0 * GIB), "stage": "pass 2 decode", "op": "convolution"},
                 "calibrated": {"peak": int(10.0 * GIB), "stage": "pass 2 decode", "op": "convolution"}}
    specs, checked = memory_check.workspace_labels("conv-workspace.json")
    assert (set(specs), checked) == ({"conservative", "calibrated"}, "calibrated")
    rows = [memory_check.attach_prediction(_row(m, frames=n), predicted, checked)
            for n, m in [(16, 10.0 / 1.04), (32, 10.0 / 0.96), (64, 10.0 / 1.06), (160, 10.0 / 0.94)]]
    assert [r["prediction_ok"] for r in rows] == [True, True, False, False]
    assert [round(100 * r["prediction_diff"]) for r in rows] == [4, -4, 6, -6]
    rc, lines = memory_check.verdict(rows)
    assert rc == 1 and "2 row(s)" in lines and "default 64 frames" in lines and "default 160 frames" in lines
    assert "default 16 frames" not in lines
    text = memory_check.table(rows)
    assert text.count("FAIL") == 2 and text.count(" ok ") == 2 and "calibrated" in text.splitlines()[0]

    ok = [memory_check.attach_prediction(_row(10.0 / 1.04), predicted, "conservative")]
    assert memory_check.verdict(ok)[0] == 0
    # no prediction (a worker failed or ran out of time): reported, not failed
    none = [memory_check.attach_prediction(_row(10.0), {"conservative": {"error": "not finished in time"}},
                                           "conservative")]
    rc, lines = memory_check.verdict(none)
    assert rc == 0 and none[0]["prediction_ok"] is None and "not finished in time" in lines


def test_bench_check_mode_predicts_each_row_on_the_cpu(bench_gpu, memory_check, tmp_path, capsys):
    """``bench_gpu.py --check``: the rows of a run (made-up peaks 4 % and 6 % off) against fresh predictions
    made in a spawned worker; exit 1 naming the row that is off."""
    pred = mm.predict_restore(_case(memory_check), "conservative").peak / GIB
    rows = [dict(_row(pred / 1.04, "default", 8), size=SIZE), dict(_row(pred / 1.06, "default", 8), size=SIZE),
            {"preset": "default", "frames": 16, "steps": "1+1", "error": "out of memory"}]
    results = tmp_path / "gpu.json"
    results.write_text(json.dumps({"meta": {"device": "made-up", "size": SIZE, "unet_dtype": "torch.float16",
                                            "vae_dtype": "torch.float16"}, "rows": rows}))
    out = tmp_path / "checked.json"
    assert bench_gpu.main(["--check", str(results), "--predict-workers", "1", "--out", str(out)]) == 1
    checked = json.loads(out.read_text())
    r4, r6, oom = checked["rows"]
    assert r4["predicted_gb"]["conservative"] == pytest.approx(pred)
    assert (r4["prediction_ok"], r6["prediction_ok"]) == (True, False) and "predicted_gb" not in oom
    assert "1 row(s)" in checked["prediction"]["verdict"]
    printed = capsys.readouterr().out
    assert "FAIL" in printed and "default 8 frames" in printed


def test_prediction_workers_never_see_the_gpu(memory_check, monkeypatch):
    """The workers start with CUDA_VISIBLE_DEVICES empty (no CUDA context on the card being measured, and
    ``torch.cuda.is_available()`` False as the fake mode expects); the caller's environment is unchanged."""
    import os

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    workers = memory_check.Workers(1)
    try:
        assert workers.submit(os.getenv, "CUDA_VISIBLE_DEVICES", "unset").result(timeout=120) == ""
        assert workers.submit(os.getenv, "OMP_NUM_THREADS").result(timeout=60) == "1"
    finally:
        workers.close()
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"
