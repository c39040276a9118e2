"""``batch --ray`` on a real Ray cluster started by these tests on the loopback address (2 CPUs, no GPU; tiny
models): the same outputs as the run without a cluster, an actor killed mid-video (its video retried on
another, nothing half-written left), Ctrl-C then the same command resuming, a manifest with per-video
options restored with CPU planners ahead of the worker.

Ray is an optional extra (requirements-cluster.txt): without it these tests skip, except under CI=true,
where CI installs it and they must run.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

# the test cluster's node on 127.0.0.1 (Ray takes the machine's outward address otherwise); no usage report
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
try:
    import ray
except ImportError:
    ray = None

from batchdata import FAST, decode_frames, make_batch_inputs  # noqa: E402
from conftest import IN_CI  # noqa: E402
from svfr_model.commands.cli import main  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]  # as each actor (1 CPU)
REPO = Path(__file__).resolve().parents[3]
CLIPS = ("clip0.mp4", "clip1.mp4", "clip2.mp4", "sub/clip3.mp4")


@pytest.fixture(scope="module")
def cluster():
    if ray is None:
        if IN_CI:
            pytest.fail("ray is not installed: under CI the cluster extra must be installed (scripts/setup_venv.sh "
                        "installs requirements-cluster.txt)")
        pytest.skip("ray is not installed (pip install -r requirements-cluster.txt); these tests run in CI")
    from svfr_model.batch.cluster import runtime_env

    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, object_store_memory=96 << 20, log_to_driver=False,
             runtime_env=runtime_env(), namespace="svfr-batch-test")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, test_models_dir):
    """4 clips + 1 broken file, and the outputs of the run without a cluster (one torch thread, as each actor)."""
    import torch

    root = tmp_path_factory.mktemp("batch_cluster")
    make_batch_inputs(root / "in")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rc = main(["batch", str(root / "in"), "--out", str(root / "local"), "--models", str(test_models_dir), *FAST])
    finally:
        torch.set_num_threads(threads)
    assert rc == 1  # the broken file
    return root / "in", root / "local"


def _ray_batch(capsys, src, out, models, *extra) -> tuple[int, dict]:
    capsys.readouterr()
    rc = main(["batch", *map(str, src), "--out", str(out), "--models", str(models), *FAST, "--ray", "auto",
               "--cpus-per-worker", "1", "--json", *extra])
    return rc, json.loads(capsys.readouterr().out)


def _same_outputs(out: Path, ref: Path, names=CLIPS) -> None:
    for name in names:
        assert np.array_equal(decode_frames(out / name), decode_frames(ref / name)), name


def _stray(out: Path) -> list:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if "partial" in str(p.relative_to(out)))


def _journal_rows(out: Path) -> dict:
    path = out / ".svfr-batch" / "journal.sqlite"
    if not path.is_file():
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        db.row_factory = sqlite3.Row
        return {r["output"]: dict(r) for r in db.execute("SELECT * FROM videos")}
    except sqlite3.OperationalError:  # the driver is creating it
        return {}
    finally:
        db.close()


def test_cluster_run_equals_the_run_without_a_cluster(cluster, inputs, tmp_path, test_models_dir, capsys):
    src, ref = inputs
    rc, result = _ray_batch(capsys, [src], tmp_path / "out", test_models_dir)
    assert rc == 1 and result["counts"] == {"done": 4, "failed": 1, "skipped": 0, "left": 0}
    assert "cannot be opened as a video" in {v["output"]: v for v in result["videos"]}["broken.mp4"]["error"]
    assert len(result["workers"]) == 2 and all(w["videos"] >= 1 and w["frames_per_second"] for w in result["workers"])
    _same_outputs(tmp_path / "out", ref)
    assert _stray(tmp_path / "out") == []


def test_an_actor_killed_mid_video_is_retried_elsewhere(cluster, inputs, tmp_path, test_models_dir, capsys):
    src, ref = inputs
    out = tmp_path / "out"
    killed: list = []

    def kill_one():  # the first video seen running (its staging folder made: restoring) loses its actor
        deadline = time.monotonic() + 300
        while not killed and time.monotonic() < deadline:
            for name, row in _journal_rows(out).items():
                if row["state"] == "running" and (out / ".svfr-batch" / "partial" / f"{row['id']}.1").is_dir():
                    time.sleep(0.3)  # into the restore
                    ray.kill(ray.get_actor(row["worker"]), no_restart=True)
                    killed.append((name, row["worker"]))
                    return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one, daemon=True)
    killer.start()
    rc, result = _ray_batch(capsys, [src], out, test_models_dir)
    killer.join(timeout=10)
    assert killed, "no video was seen running"
    name, worker = killed[0]
    assert rc == 1 and result["counts"] == {"done": 4, "failed": 1, "skipped": 0, "left": 0}
    video = {v["output"]: v for v in result["videos"]}[name]
    assert video["state"] == "done" and video["attempts"] == 2 and video["worker"] != worker
    assert [w["lost"] for w in result["workers"] if w["name"] == worker] == [1]
    rows = _journal_rows(out)
    db = sqlite3.connect(out / ".svfr-batch" / "journal.sqlite")
    outcomes = [r[0] for r in db.execute("SELECT outcome FROM attempts WHERE video_id = ? ORDER BY attempt",
                                         (rows[name]["id"],))]
    db.close()
    assert outcomes == ["lost", "done"]
    _same_outputs(out, ref)
    assert _stray(out) == []


def test_ctrl_c_stops_the_cluster_run_and_the_same_command_resumes(cluster, inputs, tmp_path, test_models_dir,
                                                                   capsys):
    src0, ref = inputs
    # the 4 clips again under more/: with one worker, 7 videos (~1 s each) are left when the first is done, so
    # the Ctrl-C lands mid-batch even when a loaded machine lets this test see that first one late
    src = tmp_path / "in"
    shutil.copytree(src0, src)
    copies = {f"more/{Path(name).name}": name for name in CLIPS}
    for copy, name in copies.items():
        (src / copy).parent.mkdir(exist_ok=True)
        shutil.copy(src0 / name, src / copy)
    out = tmp_path / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    cmd = [sys.executable, "-m", "svfr_model", "batch", str(src), "--out", str(out), "--models", str(test_models_dir),
           *FAST, "--ray", cluster, "--cpus-per-worker", "1", "--workers", "1", "--json"]
    # A test run started in the background by a non-interactive shell (`cmd &`) has SIGINT ignored, and an
    # ignored signal stays ignored across exec: the batch would never see the Ctrl-C. A handled one is reset
    # to the default in the child, so handle it here while the child starts.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        deadline = time.monotonic() + 300
        while not any(r["state"] == "done" for r in _journal_rows(out).values()):
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, f"stdout: {stdout[-2000:]}\nstderr: {stderr[-2000:]}"
    first = json.loads(stdout)
    assert first["outcome"] == "interrupted" and "run the same command again" in first["resume"]
    done = {v["output"] for v in first["videos"] if v["state"] == "done"}
    assert done and first["counts"]["left"] >= 1 and _stray(out) == []
    assert {r["state"] for r in _journal_rows(out).values()} <= {"done", "failed", "interrupted", "pending"}
    assert {(out / name).exists() for name in (*CLIPS, *copies) if name not in done} <= {False}  # none half-written

    rc, again = _ray_batch(capsys, [src], out, test_models_dir)
    assert rc == 1  # the broken file
    skipped = {v["output"] for v in again["videos"] if v["action"] == "skip" and v["state"] == "done"}
    assert skipped == done and again["counts"]["left"] == 0
    assert again["counts"]["done"] + again["counts"]["skipped"] == 8
    _same_outputs(out, ref)
    for copy, name in copies.items():
        assert np.array_equal(decode_frames(out / copy), decode_frames(ref / name)), copy


def test_a_manifest_with_per_video_options_and_planners(cluster, inputs, tmp_path, test_models_dir, capsys):
    from PIL import Image

    from testdata import astronaut

    src, _ref = inputs
    Image.fromarray(astronaut()).resize((300, 300), Image.BICUBIC).crop((0, 0, 300, 260)).save(tmp_path / "face.png")
    mask = np.zeros((112, 224), np.uint8)
    mask[40:70, 30:70] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    rows = {  # per video: its restore flags
        "clip0.mp4": ["--tasks", "bfr,colorization"],
        "clip1.mp4": ["--crop-mode", "official", "--seed", "5"],
        "clip2.mp4": ["--reference", str(tmp_path / "face.png")],
        "sub/clip3.mp4": ["--tasks", "bfr,inpainting", "--mask", str(tmp_path / "mask.png")],
    }
    (tmp_path / "m.csv").write_text(
        "input,output,tasks,crop_mode,seed,reference,mask\n"
        f"{src / 'clip0.mp4'},,\"bfr,colorization\",,,,\n"
        f"{src / 'clip1.mp4'},named/one,,official,5,,\n"
        f"{src / 'clip2.mp4'},,,,,face.png,\n"
        f"{src / 'sub' / 'clip3.mp4'},,\"bfr,inpainting\",,,,mask.png\n")
    out = tmp_path / "out"
    rc, result = _ray_batch(capsys, [tmp_path / "m.csv"], out, test_models_dir, "--workers", "1", "--planners", "1")
    assert rc == 0 and result["counts"]["done"] == 4, [(v["output"], v["state"], v["error"]) for v in result["videos"]]
    # an "output" cell names the output; the others mirror the inputs' common folder (in/)
    outputs = {"clip0.mp4": "clip0.mp4", "clip1.mp4": "named/one.mp4", "clip2.mp4": "clip2.mp4",
               "sub/clip3.mp4": "sub/clip3.mp4"}
    assert {v["output"] for v in result["videos"]} == set(outputs.values())
    for name, flags in rows.items():
        ref = tmp_path / "ref" / name
        ref.parent.mkdir(parents=True, exist_ok=True)
        assert main(["restore", str(src / name), str(ref), "--models", str(test_models_dir), *FAST, *flags]) == 0
        assert np.array_equal(decode_frames(out / outputs[name]), decode_frames(ref)), name
    planned = [r for r in _journal_rows(out).values() if r["plan_seconds"] is not None]
    assert planned, "no video was planned by the CPU planner"
