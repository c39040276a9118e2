"""The pool on a Ray cluster (``--ray auto|local|ADDRESS``): one restore actor per GPU (``num_gpus=1``), or
per ``cpus_per_worker`` cores on a cluster without GPUs, each loading the models once and restoring whole
videos; planner actors (one core each) run the detection and tracking pass of the next videos while the
GPUs restore. Ray is an optional extra (``pip install ".[cluster]"``): this module is imported only for
``--ray`` and imports Ray only when a pool is made.

Inputs and outputs must be on storage every node sees at the same path; the engine's code is sent to the
actors with the job (``runtime_env`` ``py_modules``), so every node runs the driver's version of it, while
its dependencies (torch, av, ...) must be installed on the nodes (a driver that has initialised Ray itself
passes ``runtime_env()`` to ``ray.init``). A video whose actor dies (killed, node
lost, out of memory) comes back as ``lost`` and the driver retries it on another actor; a replacement actor
is started for the dead one (a bounded number of times).
"""
from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Callable, Optional

from ..errors import InputError, SVFRError
from .worker import Planner, VideoJob, Worker, WorkerSetup

PROGRESS_EVERY = 1.0  # seconds between progress polls of the busy actors
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # svfr_model/: shipped to the actors
INSTALL_HINT = ("--ray needs Ray, an optional extra: pip install -r requirements-cluster.txt (or pip install "
                "'.[cluster]') into the same environment on the driver and on every node")


def import_ray():
    try:
        import ray
    except ImportError as exc:
        raise InputError(f"{INSTALL_HINT} ({exc})") from None
    return ray


def runtime_env() -> dict:
    """The job's runtime environment: this engine's code (small), the rest as installed on the nodes. Given
    to ``ray.init`` (Ray uploads local folders only for a whole job): a caller that initialises Ray itself
    passes it too, unless the nodes have this package installed."""
    return {"py_modules": [str(PACKAGE_DIR)]}


class _RestoreActor:
    """A Ray actor around ``Worker`` (threaded: ``progress`` and ``cancel`` answer while ``run`` runs)."""

    def __init__(self, setup: WorkerSetup, name: str):
        self.worker = Worker(setup, name)

    def run(self, job: VideoJob, plan=None) -> dict:
        return self.worker.run(job, plan)

    def progress(self):
        return self.worker.progress

    def cancel(self) -> None:
        self.worker.cancel()


class _PlannerActor:
    def __init__(self, setup: WorkerSetup, name: str):
        self.planner = Planner(setup, name)

    def plan(self, job: VideoJob) -> dict:
        return self.planner.plan(job)


def _short(exc: BaseException, limit: int = 400) -> str:
    text = " ".join(str(exc).split())
    return (type(exc).__name__ + ": " + text)[:limit]


class RayPool:
    """``address``: ``auto`` (the cluster this machine is part of), ``local`` (start one on this machine for
    this run) or a cluster address (``HOST:PORT``, ``ray://HOST:10001``). A Ray already initialised in this
    process is used as it is. ``workers``: how many restore actors (default: one per GPU, or one per
    ``cpus_per_worker`` cores without GPUs); ``planners``: CPU planner actors (default: on a GPU cluster the
    spare cores, at most one per GPU worker; none without GPUs, where they would take the workers' cores)."""

    def __init__(self, address: str, setup: WorkerSetup, *, workers: Optional[int] = None, cpus_per_worker: int = 4,
                 planners: Optional[int] = None, max_restarts: Optional[int] = None,
                 on_progress: Optional[Callable[[], None]] = None):
        ray = import_ray()
        self.ray = ray
        self.on_progress = on_progress
        self._own = False
        if not ray.is_initialized():
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            kwargs = {"log_to_driver": False, "configure_logging": False, "runtime_env": runtime_env()}
            try:
                if address == "local":
                    ray.init(include_dashboard=False, **kwargs)
                else:
                    ray.init(address=address, **kwargs)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise InputError(f"--ray {address}: no Ray cluster to connect to ({_short(exc, 300)}); start one "
                                 "(`ray start --head` on this machine, or your cluster's head node) or use --ray "
                                 "local to start one here for this run") from None
            self._own = True
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 0))
        self.prefix = f"svfr-{os.getpid()}-{int(time.time()) % 100000}"
        if gpus:
            n = min(workers or gpus, gpus)
            self._worker_opts = {"num_gpus": 1, "num_cpus": 1}
            worker_setup = setup
            spare = max(cpus - n, 0)
            n_planners = min(n, spare) if planners is None else min(planners, spare)
        else:
            cpw = max(1, min(int(cpus_per_worker), cpus or 1))
            n = max(1, min(workers or cpus // cpw, max(cpus // cpw, 1)))
            self._worker_opts = {"num_cpus": cpw}
            worker_setup = dataclasses.replace(setup, threads=cpw, device="cpu")
            spare = max(cpus - n * cpw, 0)
            n_planners = 0 if planners is None else min(planners, spare)
        self.setup, self.worker_setup = setup, worker_setup
        self.planner_setup = dataclasses.replace(setup, threads=1, device="cpu")
        self._restarts_left = max_restarts if max_restarts is not None else 3 * n
        self._restore_cls = ray.remote(max_concurrency=2)(_RestoreActor)
        self._planner_cls = ray.remote(_PlannerActor)
        self.actors: dict[str, object] = {}
        self.planner_actors: dict[str, object] = {}
        self.workers: list[str] = []
        self.planner_names: list[str] = []
        self._count = 0
        for _ in range(n):
            self._new_worker()
        for _ in range(n_planners):
            self._new_planner()
        self.planners = n_planners
        self._videos: dict = {}  # ref -> (worker, job)
        self._plans: dict = {}  # ref -> (planner, job)
        self._busy: dict[str, int] = {}  # worker -> video id
        self._busy_planners: set[str] = set()
        self._progress: dict[int, float] = {}
        self._polled = 0.0
        self.last_loss = ""

    # -- actors ----------------------------------------------------------------------------------------------
    def _name(self, kind: str) -> str:
        self._count += 1
        return f"{self.prefix}-{kind}{self._count}"

    def _new_worker(self) -> str:
        name = self._name("w")
        self.actors[name] = self._restore_cls.options(name=name, max_restarts=0,
                                                      **self._worker_opts).remote(self.worker_setup, name)
        self.workers.append(name)
        return name

    def _new_planner(self) -> str:
        name = self._name("p")
        self.planner_actors[name] = self._planner_cls.options(name=name, num_cpus=1,
                                                              max_restarts=0).remote(self.planner_setup, name)
        self.planner_names.append(name)
        return name

    def _replace(self, name: str, planner: bool = False) -> None:
        table, names = (self.planner_actors, self.planner_names) if planner else (self.actors, self.workers)
        actor = table.pop(name, None)
        if name in names:
            names.remove(name)
        if actor is not None:
            try:
                self.ray.kill(actor)
            except Exception:  # already gone
                pass
        if self._restarts_left > 0:
            self._restarts_left -= 1
            self._new_planner() if planner else self._new_worker()
        if planner:
            self.planners = len(self.planner_names)
        elif not self.workers:
            raise SVFRError(f"no Ray worker is left: each one died (last: {self.last_loss}); check the workers' "
                            "logs (ray logs) and that every node can load the models")

    # -- the pool interface (runner.py) ------------------------------------------------------------------------
    def idle_workers(self) -> list[str]:
        return [w for w in self.workers if w not in self._busy]

    def idle_planners(self) -> list[str]:
        return [p for p in self.planner_names if p not in self._busy_planners]

    def start(self, worker: str, job: VideoJob, plan=None) -> None:
        ref = self.actors[worker].run.remote(job, plan)
        self._videos[ref] = (worker, job)
        self._busy[worker] = job.id

    def start_plan(self, planner: str, job: VideoJob) -> None:
        ref = self.planner_actors[planner].plan.remote(job)
        self._plans[ref] = (planner, job)
        self._busy_planners.add(planner)

    def in_flight(self) -> set[int]:
        return {job.id for _w, job in self._videos.values()}

    def wait(self, timeout: float) -> list[tuple]:
        ray = self.ray
        refs = list(self._videos) + list(self._plans)
        if not refs:
            time.sleep(min(timeout, 0.05))
            return []
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if ready:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        events = []
        for ref in ready:
            if ref in self._videos:
                worker, job = self._videos.pop(ref)
                self._busy.pop(worker, None)
                self._progress.pop(job.id, None)
                result = self._get(ref, worker, planner=False)
                events.append(("video", worker, job, result))
            else:
                planner, job = self._plans.pop(ref)
                self._busy_planners.discard(planner)
                events.append(("plan", planner, job, self._get(ref, planner, planner=True)))
        self._poll_progress()
        return events

    def _get(self, ref, name: str, planner: bool) -> dict:
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.TaskCancelledError:
            return {"state": "cancelled"}
        except ray.exceptions.RayTaskError as exc:  # Worker.run returns its errors: this is a bug or a pickling issue
            return {"state": "failed", "error": _short(exc.cause if exc.cause is not None else exc)}
        except ray.exceptions.RayError as exc:  # the actor died (killed, crashed, node lost), or its result is lost
            self.last_loss = _short(exc)
            self._replace(name, planner=planner)
            return {"state": "lost", "error": self.last_loss}

    def _poll_progress(self) -> None:
        now = time.monotonic()
        if now - self._polled < PROGRESS_EVERY or not self._busy:
            return
        self._polled = now
        refs = {self.actors[w].progress.remote(): w for w in self._busy if w in self.actors}
        try:
            ready, _ = self.ray.wait(list(refs), num_returns=len(refs), timeout=0.5)
            for ref in ready:
                p = self.ray.get(ref)
                if p:
                    self._progress[p[0]] = p[1]
        except self.ray.exceptions.RayError:
            pass  # a dying actor: its video comes back as lost

    def progress(self) -> dict[int, float]:
        return dict(self._progress)

    def cancel(self) -> None:
        for worker in list(self._busy):
            try:
                self.actors[worker].cancel.remote()
            except Exception:
                pass
        for ref in list(self._plans):
            try:
                self.ray.cancel(ref)
            except Exception:
                pass

    def close(self, force: bool = False) -> None:
        for actor in list(self.actors.values()) + list(self.planner_actors.values()):
            try:
                self.ray.kill(actor)
            except Exception:
                pass
        self.actors.clear()
        self.planner_actors.clear()
        self._videos.clear()
        self._plans.clear()
        if self._own and self.ray.is_initialized():
            self.ray.shutdown()
            self._own = False


__all__ = ["RayPool", "import_ray", "runtime_env", "INSTALL_HINT"]
