"""The batch driver with a scripted pool (no models): a lost worker's video is retried with bounded
attempts, Ctrl-C leaves a journal that a rerun resumes from, nothing half-written stays behind."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from batchdata import face_clip_frames, write_clip
from svfr_model.batch.journal import Journal
from svfr_model.batch.runner import VideoSpec, run_batch


class ScriptedPool:
    """Two workers; ``script(worker, job)`` gives each video's result (or raises, as Ctrl-C would)."""
    planners = 0

    def __init__(self, script):
        self.script, self.workers, self.busy, self.calls = script, ["w0", "w1"], {}, []

    def idle_workers(self):
        return [w for w in self.workers if w not in self.busy]

    def idle_planners(self):
        return []

    def start(self, worker, job, plan=None):
        self.busy[worker] = job
        job.staging().mkdir(parents=True)
        (job.staging() / "x.partial.mp4").write_bytes(b"half")  # what a worker killed now would leave

    def in_flight(self):
        return {j.id for j in self.busy.values()}

    def wait(self, timeout):
        if not self.busy:
            return []
        worker = next(iter(self.busy))
        job = self.busy.pop(worker)
        self.calls.append((worker, job.output, job.attempt))
        result = self.script(worker, job)
        if result["state"] == "done":  # as Worker.run: renamed into place, its staging removed
            Path(job.dst).parent.mkdir(parents=True, exist_ok=True)
            Path(job.dst).write_bytes(b"video")
            shutil.rmtree(job.staging())
            result = {"frames": 3, "seconds": 0.1, "worker": worker, **result}
        return [("video", worker, job, result)]

    def progress(self):
        return {}

    def cancel(self):
        pass

    def close(self, force=False):
        pass


@pytest.fixture
def specs(tmp_path):
    return [VideoSpec(write_clip(tmp_path / "in" / f"v{i}.mp4", face_clip_frames(3, face=False)), Path(f"v{i}.mp4"),
                      flat={"seed": i}) for i in range(4)]


def _stray(out: Path) -> list:
    """Anything left of an unfinished video."""
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if "partial" in str(p.relative_to(out)))


def test_a_lost_worker_is_retried_then_given_up(tmp_path, specs):
    out = tmp_path / "out"

    def script(worker, job):
        if job.output == "v1.mp4":  # its worker dies once
            return {"state": "lost", "error": "killed"} if job.attempt == 1 else {"state": "done"}
        if job.output == "v2.mp4":  # every time
            return {"state": "lost", "error": "killed again"}
        return {"state": "done"}

    pool = ScriptedPool(script)
    result = run_batch(specs, out, lambda on_progress: pool, max_attempts=2, report=None)
    assert result["outcome"] == "failed" and result["counts"] == {"done": 3, "failed": 1, "skipped": 0, "left": 0}
    v = {x["output"]: x for x in result["videos"]}
    assert v["v1.mp4"]["state"] == "done" and v["v1.mp4"]["attempts"] == 2
    assert v["v2.mp4"]["state"] == "failed" and "lost 2 time(s); last: killed again" in v["v2.mp4"]["error"]
    assert _stray(out) == [] and not (out / "v2.mp4").exists()
    with Journal(out, readonly=True) as j:
        row = j.row("v1.mp4")
        assert [a["outcome"] for a in j.attempts(row["id"])] == ["lost", "done"]
        assert row["state"] == "done" and row["frames"] == 3
    assert result["workers"] and {w["name"] for w in result["workers"]} <= {"w0", "w1"}


def test_ctrl_c_then_the_same_command_resumes(tmp_path, specs):
    out = tmp_path / "out"

    def stop_at_v2(worker, job):
        if job.output == "v2.mp4":
            raise KeyboardInterrupt
        return {"state": "done"}

    first = run_batch(specs, out, lambda on_progress: ScriptedPool(stop_at_v2))
    assert first["outcome"] == "interrupted" and "run the same command again" in first["resume"]
    states = {x["output"]: x["state"] for x in first["videos"]}
    # v3, running beside v2, finished while the run stopped: kept
    assert states == {"v0.mp4": "done", "v1.mp4": "done", "v2.mp4": "interrupted", "v3.mp4": "done"}
    assert first["counts"]["left"] == 1 and _stray(out) == []
    with Journal(out, readonly=True) as j:
        assert j.row("v2.mp4")["state"] == "interrupted"
        assert j.db.execute("SELECT outcome FROM runs").fetchone()[0] == "interrupted"
    pool = ScriptedPool(lambda worker, job: {"state": "done"})
    again = run_batch(specs, out, lambda on_progress: pool)
    assert again["outcome"] == "complete"
    assert again["counts"] == {"done": 1, "failed": 0, "skipped": 3, "left": 0}
    assert [c[1] for c in pool.calls] == ["v2.mp4"]
    # nothing to do: no pool is made at all (no models loaded)
    third = run_batch(specs, out, lambda on_progress: pytest.fail("a pool was made with nothing to do"))
    assert third["counts"]["skipped"] == 4


def test_a_changed_option_redoes_only_that_video(tmp_path, specs):
    out = tmp_path / "out"
    run_batch(specs, out, lambda on_progress: ScriptedPool(lambda w, j: {"state": "done"}))
    specs[3].flat = {"seed": 99}
    dry = run_batch(specs, out, None, dry_run=True)
    assert [(x["action"], x["reason"]) for x in dry["videos"]] == [("skip", "done")] * 3 + [("run", "options changed")]
    pool = ScriptedPool(lambda w, j: {"state": "done"})
    run_batch(specs, out, lambda on_progress: pool)
    assert [c[1] for c in pool.calls] == ["v3.mp4"]
