"""The driver of a batch: decide what to restore (journal), hand whole videos to a pool of workers, record
each result, retry a video whose worker died, stop cleanly on Ctrl-C, report.

A pool (``local.LocalPool``: this process; ``cluster.RayPool``: Ray actors) has named workers and optional
planners and answers ``wait`` with events::

    ("video", worker, job, result)   result["state"]: done | failed | cancelled | lost (the worker died)
    ("plan", planner, job, result)   result["state"]: done (result["plan"]: the face plan) | failed | lost

Each planner runs the detection and tracking pass of the videos next in the queue while the workers
restore; a worker given a video without a plan makes it itself. A plan that fails (no face, unreadable)
fails its video without taking a worker's time.
"""
from __future__ import annotations

import dataclasses
import shutil
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..errors import SVFRError
from .journal import Journal, decide, file_digest, options_digest
from .report import Report
from .worker import VideoJob

GRACE_SECONDS = 30.0  # after Ctrl-C: how long running videos get to stop at their next step before being killed


class Stopped(BaseException):
    """Raised in the driver by a signal handler (SIGTERM): the run stops as on Ctrl-C."""

    def __init__(self, signum: int = 15):
        super().__init__(f"signal {signum}")
        self.signum = signum


@dataclass
class VideoSpec:
    """One video as the command resolved it: absolute paths, restore keywords and what else makes its result."""
    src: Path
    output: Path  # relative to the output folder
    flat: dict
    preset: str = "default"
    mask: Optional[Path] = None
    reference: Optional[Path] = None
    no_crop: bool = False
    max_frames: Optional[int] = None
    lossless: bool = False
    identity: dict = field(default_factory=dict)  # model files and precision: part of the options hash
    origin: str = ""

    def describe(self) -> dict:
        """Everything that changes this video's output, for the options hash (files by content)."""
        return {"options": self.flat, "preset": self.preset, "no_crop": self.no_crop, "max_frames": self.max_frames,
                "lossless": self.lossless, "identity": self.identity,
                "mask": file_digest(self.mask, full=True) if self.mask else None,
                "reference": file_digest(self.reference, full=True) if self.reference else None}


@dataclass
class _Item:
    spec: VideoSpec
    action: str = "run"  # run | skip
    reason: str = ""
    input_hash: str = ""
    options_hash: str = ""
    job: Optional[VideoJob] = None
    state: str = "pending"
    error: Optional[str] = None
    attempts: int = 0
    frames: Optional[int] = None
    seconds: Optional[float] = None
    worker: Optional[str] = None

    def as_dict(self) -> dict:
        return {"input": str(self.spec.src), "output": str(self.spec.output), "action": self.action,
                "reason": self.reason, "state": self.state, "attempts": self.attempts, "frames": self.frames,
                "seconds": None if self.seconds is None else round(self.seconds, 3), "worker": self.worker,
                "error": self.error}


def _hashes(spec: VideoSpec, full: bool) -> tuple[str, str, Optional[str]]:
    """(input hash, options hash, why it cannot run or None)."""
    try:
        input_hash = file_digest(spec.src, full=full)
    except OSError as exc:
        return "", "", f"cannot read input {spec.src}: {exc.strerror or exc}"
    try:
        return input_hash, options_digest(spec.describe()), None
    except OSError as exc:
        return input_hash, "", f"cannot read {exc.filename}: {exc.strerror or exc}"


def _frames_of(src: Path, max_frames: Optional[int]) -> int:
    from ..video import video_info

    n = video_info(src).frames or 0
    return min(n, max_frames) if (max_frames and n) else n


def run_batch(specs: list[VideoSpec], out_dir, make_pool: Callable[[Callable[[], None]], object], *,
              retry_failed: bool = False, dry_run: bool = False, max_attempts: int = 3, full_hash: bool = False,
              report: Optional[Report] = None, command: str = "", grace: float = GRACE_SECONDS) -> dict:
    """Run (or with ``dry_run`` only decide) the batch; the result as a dict (``report.summary_table``).
    ``make_pool(on_progress)`` is called only when there is something to restore."""
    report = report or Report()
    out_dir = Path(out_dir).resolve()
    if dry_run and not out_dir.exists():
        journal = Journal(out_dir, readonly=True)
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        journal = Journal(out_dir, readonly=dry_run)
    try:
        items = _decide_all(specs, journal, out_dir, retry_failed, full_hash)
        if dry_run:
            return _result("dry-run", items, report, journal, [])
        return _Driver(items, journal, out_dir, make_pool, report, max_attempts, grace).run(command)
    finally:
        journal.close()


def _decide_all(specs, journal: Journal, out_dir: Path, retry_failed: bool, full_hash: bool) -> list[_Item]:
    items = []
    for spec in specs:
        item = _Item(spec)
        item.input_hash, item.options_hash, problem = _hashes(spec, full_hash)
        row = journal.row(str(spec.output))
        if problem:
            item.action, item.reason, item.state, item.error = "run", "unreadable", "failed", problem
        else:
            d = decide(row, item.input_hash, item.options_hash, (out_dir / spec.output).is_file(), retry_failed)
            item.action, item.reason = ("run" if d.run else "skip"), d.reason
            if not d.run:
                item.state = row["state"]
                item.error, item.frames, item.seconds = row["error"], row["frames"], row["seconds"]
                item.worker, item.attempts = row["worker"], row["attempts"]
        items.append(item)
    return items


def _result(outcome: str, items: list[_Item], report: Report, journal: Journal, workers: list, **extra) -> dict:
    counts = {"done": sum(i.action == "run" and i.state == "done" for i in items),
              "failed": sum(i.state == "failed" for i in items),
              "skipped": sum(i.action == "skip" and i.state == "done" for i in items),
              "left": sum(i.action == "run" and i.state not in ("done", "failed") for i in items)}
    return {"outcome": outcome, "out": str(journal.out_dir), "journal": str(journal.path), "counts": counts,
            "elapsed": round(time.monotonic() - report.started, 3), "videos": [i.as_dict() for i in items],
            "workers": [w.as_dict() for w in workers], **extra}


class _Driver:
    def __init__(self, items, journal: Journal, out_dir: Path, make_pool, report: Report, max_attempts: int,
                 grace: float):
        self.items, self.journal, self.out_dir = items, journal, out_dir
        self.make_pool, self.report, self.max_attempts, self.grace = make_pool, report, max(1, max_attempts), grace
        self.by_id: dict[int, _Item] = {}
        self.pending: deque[VideoJob] = deque()
        self.plans: dict[int, object] = {}
        self.plan_seconds: dict[int, float] = {}
        self.planning: set[int] = set()
        self.running: dict[int, tuple[str, VideoJob]] = {}
        self.pool = None
        self.signal = 0

    # -- set-up ----------------------------------------------------------------------------------------------
    def _queue(self) -> None:
        partial_root = self.journal.partial
        shutil.rmtree(partial_root, ignore_errors=True)  # staging left by a run that died (we hold the lock)
        for item in self.items:
            if item.action != "run":
                continue
            spec = item.spec
            vid = self.journal.queue(str(spec.output), str(spec.src), item.input_hash, item.options_hash)
            self.by_id[vid] = item
            if item.state == "failed":  # unreadable: never reaches a worker
                self.journal.failed(vid, item.error)
                continue
            try:
                frames = _frames_of(spec.src, spec.max_frames)
            except SVFRError as exc:
                item.state, item.error = "failed", str(exc)
                self.journal.failed(vid, item.error)
                self.report.say(f"failed: {spec.output}: {item.error}")
                continue
            item.job = VideoJob(
                id=vid, output=str(spec.output), src=str(spec.src), dst=str(self.out_dir / spec.output),
                partial_root=str(partial_root), flat=dict(spec.flat), preset=spec.preset,
                mask=str(spec.mask) if spec.mask else None, reference=str(spec.reference) if spec.reference else None,
                no_crop=spec.no_crop, max_frames=spec.max_frames, lossless=spec.lossless, frames=frames)
            self.pending.append(item.job)
        self.report.total_videos = len(self.pending)
        self.report.total_frames = sum(j.frames for j in self.pending)

    # -- the loop --------------------------------------------------------------------------------------------
    def run(self, command: str) -> dict:
        self.journal.begin_run(command)
        outcome = "complete"
        try:
            self._queue()
            if self.pending:
                self.pool = self.make_pool(self._tick)
                self.report.say(f"restoring {len(self.pending)} video(s) ({self.report.total_frames} frames) on "
                                f"{len(self.pool.workers)} worker(s)" +
                                (f" + {self.pool.planners} planner(s)" if self.pool.planners else ""))
                self._loop()
        except (KeyboardInterrupt, Stopped) as stop:
            outcome = "interrupted"
            self.signal = getattr(stop, "signum", 2)
            self._stop(stop)
        except BaseException:  # the pool itself failed (e.g. no worker could load the models): recorded, raised
            self._stop(None)
            c = _result("error", self.items, self.report, self.journal, [])["counts"]
            self.journal.end_run("error", c["done"], c["failed"], c["skipped"], c["left"])
            raise
        finally:
            if self.pool is not None:
                self.pool.close()
            self.report.finish()
            try:
                self.journal.partial.rmdir()  # empty once every attempt has ended
            except OSError:
                pass
        if outcome == "complete" and any(i.state == "failed" for i in self.items):
            outcome = "failed"
        result = _result(outcome, self.items, self.report, self.journal, list(self.report.workers.values()))
        c = result["counts"]
        self.journal.end_run(outcome, c["done"], c["failed"], c["skipped"], c["left"])
        if outcome == "interrupted":
            result["signal"] = self.signal
            result["resume"] = ("run the same command again: done videos are skipped, the "
                                f"{c['left']} left are restored")
        return result

    def _tick(self) -> None:
        partial = sum(self.by_id[vid].job.frames * frac for vid, frac in self.pool.progress().items()
                      if vid in self.by_id and self.by_id[vid].job is not None)
        self.report.bar(partial, running=len(self.running))

    def _next_job(self) -> Optional[VideoJob]:
        for job in self.pending:  # planned first, in order
            if not job.needs_plan or job.id in self.plans:
                return job
        for job in self.pending:  # else one no planner is on: the worker plans it itself
            if job.id not in self.planning:
                return job
        return None

    def _plan_ahead(self) -> None:
        lookahead = len(self.pool.workers) + self.pool.planners
        for planner in self.pool.idle_planners():
            if len(self.plans) + len(self.planning) >= lookahead:
                return
            job = next((j for j in self.pending if j.needs_plan and j.id not in self.plans
                        and j.id not in self.planning), None)
            if job is None:
                return
            self.planning.add(job.id)
            self.pool.start_plan(planner, job)

    def _dispatch(self) -> None:
        for worker in self.pool.idle_workers():
            job = self._next_job()
            if job is None:
                return
            self.pending.remove(job)
            item = self.by_id[job.id]
            item.attempts += 1
            job = dataclasses.replace(job, attempt=item.attempts)
            item.state, item.worker = "running", worker
            self.journal.start(job.id, job.attempt, worker)
            self.running[job.id] = (worker, job)
            self.pool.start(worker, job, self.plans.pop(job.id, None))

    def _loop(self) -> None:
        while self.pending or self.running:
            self._plan_ahead()
            self._dispatch()
            if not self.running and not self.planning and self.pending:
                raise RuntimeError("batch: videos left but no worker took them")  # a pool bug, never a hang
            for event in self.pool.wait(1.0):
                self._handle(event)
            self._tick()

    def _handle(self, event, stopping: bool = False) -> None:
        kind, worker, job, result = event
        if kind == "plan":
            self._handle_plan(worker, job, result)
            return
        self.running.pop(job.id, None)
        item, state = self.by_id[job.id], result["state"]
        stats = self.report.worker(worker)
        if state == "done":
            item.state, item.frames, item.seconds, item.worker = "done", result["frames"], result["seconds"], worker
            stats.videos, stats.frames, stats.seconds = stats.videos + 1, stats.frames + (result["frames"] or 0), \
                stats.seconds + result["seconds"]
            self.journal.done(job.id, frames=result["frames"], seconds=result["seconds"], worker=worker,
                              plan_seconds=self.plan_seconds.get(job.id))
            self.report.done_videos += 1
            self.report.done_frames += job.frames or (result["frames"] or 0)
            self.report.say(f"done: {job.output} ({result['frames']} frames, {result['seconds']:.1f} s, {worker})")
        elif state == "failed":
            item.state, item.error = "failed", result["error"]
            self.journal.failed(job.id, result["error"])
            self.report.failed_videos += 1
            self.report.say(f"failed: {job.output}: {result['error']}")
        elif state == "cancelled" or stopping:
            shutil.rmtree(job.staging(), ignore_errors=True)
            item.state = "interrupted"
            self.journal.interrupted(job.id)
        else:  # lost: its worker died mid-video
            stats.lost += 1
            shutil.rmtree(job.staging(), ignore_errors=True)  # whatever the dead worker had written
            error = result.get("error") or "worker lost"
            if job.attempt < self.max_attempts:
                self.journal.attempt_lost(job.id, error)
                item.state = "pending"
                self.pending.appendleft(job)
                self.report.say(f"retrying: {job.output} (attempt {job.attempt} lost: {error})")
            else:
                item.state = "failed"
                item.error = f"its worker was lost {job.attempt} time(s); last: {error}"
                self.journal.failed(job.id, item.error, attempt_outcome="lost")
                self.report.failed_videos += 1
                self.report.say(f"failed: {job.output}: {item.error}")
        self.report.bar(running=len(self.running), force=not self.report.tty)

    def _handle_plan(self, planner, job: VideoJob, result) -> None:
        self.planning.discard(job.id)
        job = next((j for j in self.pending if j.id == job.id), None)
        if job is None:  # already taken by a worker that planned it itself
            return
        if result["state"] == "done":
            self.plans[job.id] = result["plan"]
            self.plan_seconds[job.id] = result["seconds"]
        elif result["state"] == "failed":  # no face, unreadable: no worker needed to know
            self.pending.remove(job)
            item = self.by_id[job.id]
            item.state, item.error, item.worker = "failed", result["error"], planner
            self.journal.failed(job.id, result["error"])
            self.report.failed_videos += 1
            self.report.say(f"failed: {job.output}: {result['error']}")
        # lost: a worker will plan it itself

    def _stop(self, stop: Optional[BaseException]) -> None:
        """Stop the running videos (at their next step; killed after the grace time) and record where to resume.
        ``stop``: the Ctrl-C or signal (None: an error, nothing is waited for)."""
        pool = self.pool
        if stop is not None:
            self.report.say(f"stopping ({'Ctrl-C' if isinstance(stop, KeyboardInterrupt) else stop}): "
                            f"{len(self.running)} running video(s) stop at their next step; nothing half-written "
                            "is kept")
        if pool is not None and stop is not None:
            try:
                pool.cancel()
                deadline = time.monotonic() + self.grace
                while pool.in_flight() and time.monotonic() < deadline:
                    for event in pool.wait(0.5):
                        if event[0] == "video":
                            self._handle(event, stopping=True)
            except (KeyboardInterrupt, Stopped):
                pass  # asked twice: do not wait
        if pool is not None:
            try:
                pool.close(force=True)
            except Exception:
                pass
            self.pool = None
        for vid, (_worker, job) in list(self.running.items()):
            shutil.rmtree(job.staging(), ignore_errors=True)
            self.by_id[vid].state = "interrupted"
            self.journal.interrupted(vid)
        self.running.clear()


__all__ = ["VideoSpec", "run_batch", "Stopped", "GRACE_SECONDS"]
