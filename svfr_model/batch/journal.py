"""The batch journal: one SQLite file in the output folder, ``OUT/.svfr-batch/journal.sqlite``.

One row per video (keyed by its output name): its state (``pending``, ``running``, ``done``, ``failed``,
``interrupted``), the hashes of its input and of its options, the attempts made, the worker, frames and
timings of the attempt that finished, and the error of one that failed; one row per attempt
(``attempts``: which worker, when, how it ended) and one per run of the command (``runs``). Only the driver
writes it (workers only return results), and only one driver at a time (a lock file beside it).

A rerun of the same command decides per video (``decide``): done with the same input and options and the
output still there -> skipped; failed with the same input and options -> skipped unless ``--retry-failed``;
anything else (new, changed input, changed options, interrupted, a run that died) -> restored.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import InputError

FOLDER = ".svfr-batch"  # inside the output folder: the journal, its lock, and staging files of running videos
JOURNAL = "journal.sqlite"
PARTIAL = "partial"
SAMPLE_BLOCK = 1 << 20  # the quick input hash reads 1 MiB at the start, middle and end (and the size)

SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    id INTEGER PRIMARY KEY,
    output TEXT NOT NULL UNIQUE,      -- relative to the output folder
    input TEXT NOT NULL,
    input_hash TEXT NOT NULL,
    options_hash TEXT NOT NULL,
    state TEXT NOT NULL,              -- pending | running | done | failed | interrupted
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    worker TEXT,
    frames INTEGER,
    seconds REAL,                     -- wall time of the attempt that finished (restore, with its detection)
    plan_seconds REAL,                -- detection and tracking on a planner, when one did it
    queued_at REAL, started_at REAL, finished_at REAL,
    run_id INTEGER
);
CREATE TABLE IF NOT EXISTS attempts (
    video_id INTEGER NOT NULL, run_id INTEGER NOT NULL, attempt INTEGER NOT NULL,
    worker TEXT, started_at REAL, finished_at REAL, outcome TEXT, error TEXT
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, started_at REAL, finished_at REAL, host TEXT, pid INTEGER, command TEXT,
    outcome TEXT, done INTEGER, failed INTEGER, skipped INTEGER, left INTEGER
);
"""


def file_digest(path, full: bool = False) -> str:
    """SHA-256 of a file: all of it (``full``), or its size and three 1 MiB samples (start, middle, end;
    whole when small), which sees a re-encode, a truncation or a replaced file at the cost of 3 MiB."""
    path = Path(path)
    h = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as f:
        if full or size <= 3 * SAMPLE_BLOCK:
            h.update(b"full")
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        else:
            h.update(f"sample {size}".encode())
            for at in (0, (size - SAMPLE_BLOCK) // 2, size - SAMPLE_BLOCK):
                f.seek(at)
                h.update(f.read(SAMPLE_BLOCK))
    return h.hexdigest()


def options_digest(value) -> str:
    """SHA-256 of a JSON-able description of a video's options (keys sorted)."""
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Decision:
    run: bool
    reason: str  # new | input changed | options changed | output missing | interrupted | failed before | done ...


def decide(row: Optional[dict], input_hash: str, options_hash: str, output_exists: bool,
           retry_failed: bool = False) -> Decision:
    """What a run does with one video, from its journal row (None: never seen)."""
    if row is None:
        return Decision(True, "new")
    if row["input_hash"] != input_hash:
        return Decision(True, "input changed")
    if row["options_hash"] != options_hash:
        return Decision(True, "options changed")
    state = row["state"]
    if state == "done":
        return Decision(False, "done") if output_exists else Decision(True, "output missing")
    if state == "failed":
        if retry_failed:
            return Decision(True, "retry failed")
        return Decision(False, "failed before: " + (row["error"] or "?"))
    return Decision(True, "interrupted" if state in ("running", "interrupted") else state)


class Journal:
    """The journal of one output folder. ``readonly``: look without writing (``--dry-run``); no lock."""

    def __init__(self, out_dir, *, readonly: bool = False):
        self.out_dir = Path(out_dir)
        self.folder = self.out_dir / FOLDER
        self.path = self.folder / JOURNAL
        self.partial = self.folder / PARTIAL
        self.readonly = readonly
        self.run_id: Optional[int] = None
        self._lock = None
        if readonly:
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True) if self.path.is_file() else None
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._take_lock()
            self.db = sqlite3.connect(self.path, timeout=30)
            self.db.executescript(SCHEMA)
        if self.db is not None:
            self.db.row_factory = sqlite3.Row

    def _take_lock(self) -> None:
        import fcntl

        f = open(self.folder / "lock", "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip()
            f.close()
            raise InputError(f"another batch is writing to {self.out_dir} ({holder or 'unknown process'}); wait for "
                             "it to finish or stop it (its journal is " + str(self.path) + ")") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        f.flush()
        self._lock = f

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reading --------------------------------------------------------------------------------------------
    def row(self, output: str) -> Optional[dict]:
        if self.db is None:
            return None
        r = self.db.execute("SELECT * FROM videos WHERE output = ?", (str(output),)).fetchone()
        return dict(r) if r is not None else None

    def rows(self) -> list[dict]:
        if self.db is None:
            return []
        return [dict(r) for r in self.db.execute("SELECT * FROM videos ORDER BY id")]

    def attempts(self, video_id: int) -> list[dict]:
        return [dict(r) for r in self.db.execute(
            "SELECT * FROM attempts WHERE video_id = ? ORDER BY run_id, attempt", (video_id,))]

    # -- writing (one transaction per call: an interrupted driver leaves a consistent journal) ---------------
    def begin_run(self, command: str) -> int:
        # a run that died (killed driver, power cut) left rows "running": they are to be redone
        with self.db:
            self.db.execute("UPDATE videos SET state = 'interrupted' WHERE state = 'running'")
            self.db.execute("UPDATE runs SET outcome = 'died', finished_at = ? WHERE outcome IS NULL", (time.time(),))
            cur = self.db.execute("INSERT INTO runs (started_at, host, pid, command) VALUES (?, ?, ?, ?)",
                                  (time.time(), socket.gethostname(), os.getpid(), command))
        self.run_id = cur.lastrowid
        return self.run_id

    def end_run(self, outcome: str, done: int, failed: int, skipped: int, left: int) -> None:
        with self.db:
            self.db.execute("UPDATE runs SET finished_at = ?, outcome = ?, done = ?, failed = ?, skipped = ?, left = ? "
                            "WHERE id = ?", (time.time(), outcome, done, failed, skipped, left, self.run_id))

    def queue(self, output: str, src: str, input_hash: str, options_hash: str) -> int:
        """The video is to be restored in this run: pending, attempts counted from 0; its id."""
        now = time.time()
        with self.db:
            self.db.execute(
                "INSERT INTO videos (output, input, input_hash, options_hash, state, queued_at, run_id) "
                "VALUES (?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT(output) DO UPDATE SET input = excluded.input, "
                "input_hash = excluded.input_hash, options_hash = excluded.options_hash, state = 'pending', "
                "attempts = 0, error = NULL, worker = NULL, frames = NULL, seconds = NULL, plan_seconds = NULL, "
                "queued_at = excluded.queued_at, started_at = NULL, finished_at = NULL, run_id = excluded.run_id",
                (str(output), str(src), input_hash, options_hash, now, self.run_id))
        return self.db.execute("SELECT id FROM videos WHERE output = ?", (str(output),)).fetchone()[0]

    def start(self, video_id: int, attempt: int, worker: str) -> None:
        now = time.time()
        with self.db:
            self.db.execute("UPDATE videos SET state = 'running', attempts = ?, worker = ?, started_at = ? "
                            "WHERE id = ?", (attempt, worker, now, video_id))
            self.db.execute("INSERT INTO attempts (video_id, run_id, attempt, worker, started_at) VALUES (?, ?, ?, ?, ?)",
                            (video_id, self.run_id, attempt, worker, now))

    def _end_attempt(self, video_id: int, outcome: str, error: Optional[str]) -> None:
        self.db.execute("UPDATE attempts SET finished_at = ?, outcome = ?, error = ? WHERE video_id = ? AND "
                        "run_id = ? AND finished_at IS NULL", (time.time(), outcome, error, video_id, self.run_id))

    def done(self, video_id: int, *, frames: int, seconds: float, worker: str,
             plan_seconds: Optional[float] = None) -> None:
        with self.db:
            self.db.execute("UPDATE videos SET state = 'done', error = NULL, frames = ?, seconds = ?, worker = ?, "
                            "plan_seconds = ?, finished_at = ? WHERE id = ?",
                            (frames, seconds, worker, plan_seconds, time.time(), video_id))
            self._end_attempt(video_id, "done", None)

    def failed(self, video_id: int, error: str, *, attempt_outcome: str = "failed") -> None:
        with self.db:
            self.db.execute("UPDATE videos SET state = 'failed', error = ?, finished_at = ? WHERE id = ?",
                            (error, time.time(), video_id))
            self._end_attempt(video_id, attempt_outcome, error)

    def attempt_lost(self, video_id: int, error: str) -> None:
        """An attempt ended without a result (its worker died); the video goes back to pending."""
        with self.db:
            self.db.execute("UPDATE videos SET state = 'pending' WHERE id = ?", (video_id,))
            self._end_attempt(video_id, "lost", error)

    def interrupted(self, video_id: int) -> None:
        with self.db:
            self.db.execute("UPDATE videos SET state = 'interrupted' WHERE id = ? AND state IN ('pending', 'running')",
                            (video_id,))
            self._end_attempt(video_id, "interrupted", None)


__all__ = ["Journal", "Decision", "decide", "file_digest", "options_digest", "FOLDER", "JOURNAL", "PARTIAL"]
