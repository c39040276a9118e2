"""The pool without a cluster: one worker in this process (models loaded once, on the first video), one
video after another. Ctrl-C reaches the running video directly (its output is never written)."""
from __future__ import annotations

from typing import Callable, Optional

from .worker import VideoJob, Worker, WorkerSetup, worker_name


class LocalPool:
    planners = 0

    def __init__(self, setup: WorkerSetup, on_progress: Optional[Callable[[], None]] = None):
        self.setup, self.on_progress = setup, on_progress
        self.name = worker_name("local")
        self.workers = [self.name]
        self._worker: Optional[Worker] = None
        self._job: Optional[tuple[VideoJob, object]] = None

    def idle_workers(self) -> list[str]:
        return [] if self._job is not None else [self.name]

    def idle_planners(self) -> list[str]:
        return []

    def start(self, worker: str, job: VideoJob, plan=None) -> None:
        assert self._job is None, "the local pool runs one video at a time"
        self._job = (job, plan)

    def start_plan(self, planner: str, job: VideoJob) -> None:
        raise RuntimeError("the local pool has no planners")

    def in_flight(self) -> set[int]:
        return {self._job[0].id} if self._job is not None else set()

    def wait(self, timeout: float) -> list[tuple]:
        """Runs the queued video here, now (``timeout`` does not apply)."""
        if self._job is None:
            return []
        job, plan = self._job
        try:
            if self._worker is None:
                self._worker = Worker(self.setup, self.name, on_progress=self.on_progress)
            result = self._worker.run(job, plan)
        finally:
            self._job = None
        return [("video", self.name, job, result)]

    def progress(self) -> dict[int, float]:
        p = self._worker.progress if self._worker is not None else None
        return {p[0]: p[1]} if p else {}

    def cancel(self) -> None:
        self._job = None  # Ctrl-C already stopped the running video inside wait()

    def close(self, force: bool = False) -> None:
        self._worker = None


__all__ = ["LocalPool"]
