"""What a batch shows: the overall progress bar (videos, frames, ETA) on stderr, and at the end a summary
table (done / failed / skipped, frames per second per worker) or one JSON document (``--json``)."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import Optional


def _clock(seconds: Optional[float]) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "--:--"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


@dataclass
class WorkerStats:
    name: str
    videos: int = 0
    frames: int = 0
    seconds: float = 0.0  # busy: the wall time of its finished videos
    lost: int = 0

    def as_dict(self) -> dict:
        return {"name": self.name, "videos": self.videos, "frames": self.frames, "seconds": round(self.seconds, 3),
                "frames_per_second": round(self.frames / self.seconds, 3) if self.seconds else None,
                "lost": self.lost}


@dataclass
class Report:
    """Progress and results of one run. ``quiet``: no bar, no messages (the summary or JSON still comes)."""
    quiet: bool = False
    stream: object = None
    total_videos: int = 0
    total_frames: int = 0
    done_videos: int = 0
    done_frames: int = 0
    failed_videos: int = 0
    started: float = field(default_factory=time.monotonic)
    workers: dict = field(default_factory=dict)
    _last: float = 0.0
    _width: int = 0

    def __post_init__(self):
        self.stream = self.stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def worker(self, name: str) -> WorkerStats:
        return self.workers.setdefault(name, WorkerStats(name))

    def say(self, text: str) -> None:
        if self.quiet:
            return
        self._clear()
        print(text, file=self.stream, flush=True)

    def _clear(self) -> None:
        if self.tty and self._width:
            print("\r" + " " * self._width + "\r", end="", file=self.stream)
            self._width = 0

    def bar(self, partial_frames: float = 0.0, running: int = 0, force: bool = False) -> None:
        """Redraw the bar (at most 4 times a second on a terminal; elsewhere a line on each finished video)."""
        if self.quiet:
            return
        now = time.monotonic()
        if not force and (not self.tty or now - self._last < 0.25):
            return
        self._last = now
        frames = self.done_frames + partial_frames
        elapsed = now - self.started
        rate = frames / elapsed if elapsed > 0 and frames > 0 else None
        left = max(self.total_frames - frames, 0)
        eta = left / rate if rate else None
        total = max(self.total_frames, 1)
        filled = int(24 * min(frames / total, 1.0))
        line = (f"batch [{'#' * filled}{'-' * (24 - filled)}] {self.done_videos + self.failed_videos}/"
                f"{self.total_videos} videos  {int(frames)}/{self.total_frames} frames  "
                f"{rate or 0:.2f} frames/s  ETA {_clock(eta)}" + (f"  ({running} running)" if running else ""))
        if self.tty:
            print("\r" + line.ljust(self._width), end="", file=self.stream, flush=True)
            self._width = len(line)
        else:
            print(line, file=self.stream, flush=True)

    def finish(self) -> None:
        if not self.quiet and self.tty and self._width:
            print(file=self.stream, flush=True)
            self._width = 0


def summary_table(result: dict) -> str:
    """The human summary of a run's result (``runner.BatchResult.as_dict``)."""
    c = result["counts"]
    lines = [f"{result['outcome']}: {c['done']} done, {c['failed']} failed, {c['skipped']} skipped"
             + (f", {c['left']} left" if c.get("left") else "")
             + f" in {_clock(result.get('elapsed'))}  (journal: {result['journal']})"]
    rows = [v for v in result["videos"] if v["action"] == "run" or v["state"] == "failed"]
    if rows:
        w = max(len(v["output"]) for v in rows)
        lines.append(f"  {'output'.ljust(w)}  {'state':<11} {'frames':>7} {'seconds':>8}  worker / reason")
        for v in rows:
            frames = "" if v.get("frames") is None else str(v["frames"])
            secs = "" if v.get("seconds") is None else f"{v['seconds']:.1f}"
            note = v.get("error") or v.get("worker") or v.get("reason") or ""
            lines.append(f"  {v['output'].ljust(w)}  {v['state']:<11} {frames:>7} {secs:>8}  {note}")
    if result["workers"]:
        w = max(len(x["name"]) for x in result["workers"])
        lines.append(f"  {'worker'.ljust(w)}  {'videos':>6} {'frames':>7} {'busy s':>8} {'frames/s':>9}")
        for x in result["workers"]:
            fps = "" if x["frames_per_second"] is None else f"{x['frames_per_second']:.2f}"
            lines.append(f"  {x['name'].ljust(w)}  {x['videos']:>6} {x['frames']:>7} {x['seconds']:>8.1f} {fps:>9}"
                         + (f"  ({x['lost']} lost)" if x.get("lost") else ""))
    return "\n".join(lines)


def dry_run_table(result: dict) -> str:
    lines = [f"dry run: {sum(v['action'] == 'run' for v in result['videos'])} to restore, "
             f"{sum(v['action'] == 'skip' for v in result['videos'])} to skip (journal: {result['journal']})"]
    w = max((len(v["output"]) for v in result["videos"]), default=6)
    for v in result["videos"]:
        lines.append(f"  {v['action']:<4}  {v['output'].ljust(w)}  {v['reason']}  <- {v['input']}")
    return "\n".join(lines)


def as_json(result: dict) -> str:
    return json.dumps(result, indent=2, default=str)


__all__ = ["Report", "WorkerStats", "summary_table", "dry_run_table", "as_json"]
