"""``python -m svfr_model batch`` without a cluster: outputs identical to ``restore``, failures recorded with
their reason while the rest go on, reruns skip what is done and redo what changed, ``--dry-run``, ``--json``,
exit codes; manifest cells read exactly as restore's flags; Ray never imported without ``--ray``."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from batchdata import FAST, decode_frames, face_clip_frames, write_clip
from svfr_model.commands.cli import build_parser, main

pytestmark = pytest.mark.usefixtures("one_torch_thread")
REPO = Path(__file__).resolve().parents[3]


def _batch(capsys, *args) -> tuple[int, dict]:
    capsys.readouterr()
    rc = main(["batch", *map(str, args), *FAST, "--json"])
    return rc, json.loads(capsys.readouterr().out)


def _by_output(result) -> dict:
    return {v["output"]: v for v in result["videos"]}


def test_local_batch_restores_records_failures_and_resumes(tmp_path, test_models_dir, capsys):
    src = tmp_path / "in"
    clip0 = write_clip(src / "clip0.mp4", face_clip_frames(6))
    clip1 = write_clip(src / "deep" / "clip1.mp4", face_clip_frames(5, shift=3))
    write_clip(src / "noface.mp4", face_clip_frames(4, face=False))
    (src / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    out = tmp_path / "out"
    models = ("--models", test_models_dir)

    rc, first = _batch(capsys, src, "--out", out, *models, "--if-no-face", "error")
    assert rc == 1 and first["outcome"] == "failed"
    assert first["counts"] == {"done": 2, "failed": 2, "skipped": 0, "left": 0}
    v = _by_output(first)
    assert "cannot be opened as a video" in v["broken.mp4"]["error"]
    assert "face" in v["noface.mp4"]["error"].lower() and not (out / "noface.mp4").exists()
    assert v["deep/clip1.mp4"]["frames"] == 5 and first["workers"][0]["frames"] == 11
    assert first["workers"][0]["frames_per_second"] > 0
    # the same frames as restore gives for the same flags
    ref = tmp_path / "ref.mp4"
    assert main(["restore", str(clip1), str(ref), *map(str, models), *FAST]) == 0
    assert np.array_equal(decode_frames(out / "deep" / "clip1.mp4"), decode_frames(ref))
    assert sorted(p.name for p in out.rglob("*") if "partial" in p.name) == []

    # a dry run with another seed: everything would run, nothing is touched
    before = (out / "clip0.mp4").stat().st_mtime_ns
    rc, dry = _batch(capsys, src, "--out", out, *models, "--seed", "5", "--dry-run")
    assert rc == 0 and dry["outcome"] == "dry-run"
    assert {v["reason"] for v in dry["videos"]} == {"options changed"}
    assert (out / "clip0.mp4").stat().st_mtime_ns == before

    # a changed input and a deleted output are redone; the failed ones are skipped (with their reason)
    write_clip(clip1, face_clip_frames(5, shift=6))
    (out / "clip0.mp4").unlink()
    rc, again = _batch(capsys, src, "--out", out, *models, "--if-no-face", "error")
    v = _by_output(again)
    assert rc == 1 and again["counts"] == {"done": 2, "failed": 2, "skipped": 0, "left": 0}
    assert v["clip0.mp4"]["reason"] == "output missing" and v["deep/clip1.mp4"]["reason"] == "input changed"
    assert v["noface.mp4"]["action"] == "skip" and v["noface.mp4"]["reason"].startswith("failed before")

    # --retry-failed: only the failed ones run again (and fail again); pass-through would be another option set
    rc, retried = _batch(capsys, src, "--out", out, *models, "--if-no-face", "error", "--retry-failed")
    assert rc == 1 and retried["counts"] == {"done": 0, "failed": 2, "skipped": 2, "left": 0}
    assert {o for o, x in _by_output(retried).items() if x["action"] == "run"} == {"broken.mp4", "noface.mp4"}

    # the human summary: a table with the states and the workers' frames per second
    capsys.readouterr()
    assert main(["batch", str(src / "clip0.mp4"), "--out", str(out), *map(str, models), *FAST]) == 0
    text = capsys.readouterr().out
    assert "complete: 0 done, 0 failed, 1 skipped" in text


def _args(*extra):
    return build_parser().parse_args(["batch", "in", "--out", "o", "--models", "m", "--seed", "7", *extra])


def test_manifest_cells_are_read_as_restore_flags(tmp_path):
    from svfr_model.batch.inputs import Entry
    from svfr_model.commands.batch import video_args
    from svfr_model.errors import InputError

    args = _args("--faces", "all")
    entry = Entry(tmp_path / "a.mp4", Path("a.mp4"),
                  {"tasks": "bfr,colorization", "crop_mode": "official", "steps": 3, "no_crop": "yes",
                   "if_no_face": "pass through"}, "m.csv:2")
    ns = video_args(args, entry)
    assert (ns.tasks, ns.crop_mode, ns.steps, ns.no_crop, ns.if_no_face) == (
        "bfr,colorization", "official", 3, True, "pass-through")
    assert (ns.seed, ns.faces) == (7, "all") and (args.tasks, args.steps) == ("bfr", 30)  # the rest: the command's
    for options, message in [({"steps": "many"}, "invalid int value"), ({"crop_mode": "square"}, "invalid choice"),
                             ({"dtype": "fp16"}, "whole batch, not per video"), ({"colour": "x"}, "not a restore option"),
                             ({"lossless": "maybe"}, "true or false")]:
        with pytest.raises(InputError, match=message) as info:
            video_args(args, Entry(tmp_path / "a.mp4", Path("a.mp4"), options, "m.csv:3"))
        assert str(info.value).startswith("m.csv:3: ")


def test_a_bad_option_in_a_row_names_the_row(tmp_path, test_models_dir, capsys):
    write_clip(tmp_path / "a.mp4", face_clip_frames(3))
    (tmp_path / "m.csv").write_text("input,window,overlap\na.mp4,4,4\n")
    rc = main(["batch", str(tmp_path / "m.csv"), "--out", str(tmp_path / "o"), "--models", str(test_models_dir)])
    err = capsys.readouterr().err
    assert rc == 2 and "m.csv:2: --overlap" in err and not (tmp_path / "o").exists()


def test_ray_is_imported_only_with_the_flag(tmp_path, test_models_dir, monkeypatch, capsys):
    code = ("import sys; from svfr_model.commands.cli import build_parser; build_parser(); "
            "import svfr_model.commands.batch, svfr_model.batch.runner, svfr_model.batch.local, svfr_model.batch.worker; "
            "print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    write_clip(tmp_path / "a.mp4", face_clip_frames(3))
    rc = main(["batch", str(tmp_path / "a.mp4"), "--out", str(tmp_path / "o"), "--models", str(test_models_dir),
               "--ray", "auto"])
    assert rc == 2 and "requirements-cluster.txt" in capsys.readouterr().err
    assert main(["batch", str(tmp_path / "a.mp4"), "--out", str(tmp_path / "o"), "--models", str(test_models_dir),
                 "--workers", "2"]) == 2
    assert "need --ray" in capsys.readouterr().err
