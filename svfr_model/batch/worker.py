"""One batch worker: the models loaded once, then whole videos, one at a time (``Worker.run``); and the
planner that runs a video's detection and tracking pass on its own (``Planner.plan``), on a CPU worker
while the GPUs restore other videos.

A video is written under a staging folder of its attempt (``OUT/.svfr-batch/partial/<id>.<attempt>/``) and
renamed to its output name only when complete, so a worker that dies leaves at most that folder, which the
driver removes. Results are plain dicts (they cross processes): ``state`` is ``done`` (``frames``,
``seconds``), ``failed`` (``error``: the reason, for the journal) or ``cancelled``.
"""
from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..errors import Cancelled, SVFRError


@dataclass(frozen=True)
class WorkerSetup:
    """What every worker loads once: the model set and how it runs."""
    models: str
    dtype: str = "auto"
    vae_dtype: str = "auto"
    device: str = "auto"
    compile: str = "off"
    threads: Optional[int] = None  # torch CPU threads (None: torch's default)


@dataclass(frozen=True)
class VideoJob:
    """One video's restore, as a worker gets it: absolute paths (storage every node sees) and options."""
    id: int
    output: str  # relative to the output folder (the journal's key)
    src: str
    dst: str  # the final output path
    partial_root: str  # OUT/.svfr-batch/partial
    flat: dict = field(hash=False)  # RestoreOptions.build keywords (restore's flags)
    preset: str = "default"
    mask: Optional[str] = None
    reference: Optional[str] = None
    no_crop: bool = False
    max_frames: Optional[int] = None
    lossless: bool = False
    frames: int = 0  # expected frames (for progress; 0: unknown)
    attempt: int = 1

    def staging(self, attempt: Optional[int] = None) -> Path:
        """This attempt's staging folder (removed when the attempt ends, however it ends)."""
        return Path(self.partial_root) / f"{self.id}.{attempt or self.attempt}"

    @property
    def needs_plan(self) -> bool:
        return not self.no_crop


def worker_name(prefix: str = "local") -> str:
    return f"{prefix}@{socket.gethostname()}:{os.getpid()}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SVFRError):
        return str(exc)
    tail = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return f"{tail} (unexpected: please report it with the journal's row)"


class _StageProgress:
    """restore_file's per-stage progress callbacks -> one fraction of the video (faces 0-10 %, the face
    tracks 10-90 % in equal parts, paste-back 90-100 %)."""

    def __init__(self, worker: "Worker", video_id: int, on_change: Optional[Callable[[], None]]):
        self.worker, self.video_id, self.on_change = worker, video_id, on_change

    def __call__(self, label: str):
        if label == "faces":
            lo, hi = 0.0, 0.1
        elif label == "paste":
            lo, hi = 0.9, 1.0
        elif label.startswith("restore face "):
            k, n = (int(x) for x in label.rsplit(" ", 1)[1].split("/"))
            lo, hi = 0.1 + 0.8 * (k - 1) / n, 0.1 + 0.8 * k / n
        else:  # "restore" (square clips)
            lo, hi = 0.0, 0.9

        def progress(done, total, preview=None):
            if total:
                self.worker.progress = (self.video_id, lo + (hi - lo) * min(done / total, 1.0))
                if self.on_change is not None:
                    self.on_change()
        return progress


class Worker:
    """The models loaded once; ``run(job)`` restores one whole video. ``cancel()`` (from another thread)
    stops the running video at its next step; ``progress`` is (video id, fraction done) or None."""

    def __init__(self, setup: WorkerSetup, name: Optional[str] = None,
                 on_progress: Optional[Callable[[], None]] = None):
        import torch

        from ..weights.models import load_svfr_models

        if setup.threads:
            torch.set_num_threads(int(setup.threads))
        self.setup, self.name = setup, name or worker_name()
        self.models = load_svfr_models(setup.models, dtype=setup.dtype, device=setup.device,
                                       vae_dtype=setup.vae_dtype)
        if setup.compile != "off":
            from ..diffusion.speed import compile_unet

            compile_unet(self.models.unet, setup.compile)
        self._detector = None
        self._cancel = threading.Event()
        self.on_progress = on_progress
        self.progress: Optional[tuple[int, float]] = None

    def detector(self):
        if self._detector is None:
            from ..faces.detect import load_detector

            self._detector = load_detector("retinaface")
        return self._detector

    def cancel(self) -> None:
        self._cancel.set()

    def run(self, job: VideoJob, plan=None) -> dict:
        """Restore ``job`` (with its face ``plan`` when a planner made one) into its output; a result dict."""
        from ..restore.file import restore_file
        from ..restore.images import read_image, read_mask
        from ..restore.options import options_for_preset
        from ..video import video_info

        self._cancel.clear()
        self.progress = (job.id, 0.0)
        start = time.monotonic()
        staging = job.staging()
        try:
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            options = options_for_preset(job.flat, job.preset, self.models)  # auto: sized for this worker
            staged = staging / Path(job.dst).name
            restore_file(self.models, job.src, staged, options, detector=None if job.no_crop else self.detector(),
                         mask=read_mask(job.mask) if job.mask else None,
                         reference=read_image(job.reference) if job.reference else None,
                         max_frames=job.max_frames, no_crop=job.no_crop, lossless=job.lossless, plan=plan,
                         progress_for=_StageProgress(self, job.id, self.on_progress), cancel=self._cancel.is_set)
            frames = video_info(staged).frames
            dst = Path(job.dst)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, dst)  # whole or not at all
            return {"state": "done", "frames": frames, "seconds": time.monotonic() - start, "worker": self.name}
        except Cancelled:
            return {"state": "cancelled", "worker": self.name, "seconds": time.monotonic() - start}
        except Exception as exc:  # the reason goes to the journal; the batch goes on
            return {"state": "failed", "error": _reason(exc), "worker": self.name,
                    "seconds": time.monotonic() - start}
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            self.progress = None


class Planner:
    """Detection and tracking alone, on the CPU: the face detector and (for ArcFace re-identification) the
    model set's ArcFace, loaded once. ``plan(job)``: {"state": "done", "plan": record, "seconds"} or failed."""

    def __init__(self, setup: WorkerSetup, name: Optional[str] = None):
        import torch

        if setup.threads:
            torch.set_num_threads(int(setup.threads))
        self.setup, self.name = setup, name or worker_name("planner")
        self._detector = None
        self._arcface: Optional[tuple] = None

    def _arcface_for(self, reid) -> object:
        if str(reid).strip().lower() not in ("auto", "arcface"):
            return None
        if self._arcface is None:
            from ..weights.model_files import find_model_files
            from ..weights.models import load_arcface

            files = find_model_files(self.setup.models, require_arcface=False, require_vae=False)
            self._arcface = (load_arcface(files.arcface).eval() if files.arcface is not None else None,)
        return self._arcface[0]

    def plan(self, job: VideoJob) -> dict:
        from ..faces.detect import load_detector
        from ..restore.file import plan_faces
        from ..restore.options import options_for_preset

        start = time.monotonic()
        try:
            options = options_for_preset(job.flat, job.preset)
            if self._detector is None:
                self._detector = load_detector("retinaface")
            record = plan_faces(job.src, options, detector=self._detector,
                                arcface=self._arcface_for(options.faces.reid), max_frames=job.max_frames)
            return {"state": "done", "plan": record, "seconds": time.monotonic() - start, "worker": self.name}
        except Exception as exc:
            return {"state": "failed", "error": _reason(exc), "worker": self.name,
                    "seconds": time.monotonic() - start}


__all__ = ["WorkerSetup", "VideoJob", "Worker", "Planner", "worker_name"]
