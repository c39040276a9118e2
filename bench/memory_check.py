"""The memory model's prediction beside a GPU measurement (issue 15, item 5): shared by ``bench_gpu.py`` and
``conv_workspace.py``.

Predictions run on the CPU (fake CUDA tensors, ``svfr_model/diffusion/memory_model.py``) in worker processes
started with ``spawn`` (one torch thread each) with ``CUDA_VISIBLE_DEVICES`` empty: they never touch the GPU
(no CUDA context there; ``torch.cuda.is_available()`` False as on the CPU machines the model was checked on),
so the measuring process's ``torch.cuda`` memory statistics stay the GPU's own, and they run while it measures.

A bench row (``preset``, ``frames``, ``size``, the precisions) is predicted with 1 + 1 steps: more steps repeat
the same calls, the peak does not change. Its ``peak_alloc_gb`` (``torch.cuda.max_memory_allocated`` since the
run started, resident weights included) is compared with the prediction's ``peak`` (weights included too).
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict
from pathlib import Path
from typing import Iterable, Optional

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

GIB = 2**30
TOLERANCE = 0.05     # |predicted - measured| / measured above this fails the bench
CONSERVATIVE = "conservative"
CALIBRATED = "calibrated"


# ---------------------------------------------------------------- the case of a row

def prediction_case(preset: str, frames: int, size: int, unet_dtype: str, vae_dtype: str):
    """The ``RestoreCase`` a bench row runs: ``restore_video`` with the preset's options, the bench's
    precisions, no ArcFace (the bench passes identity tokens), pass 1 run (no reference), 1 + 1 steps."""
    from svfr_model.diffusion import memory_model as mm

    return mm.RestoreCase.from_preset(preset, frames=int(frames), height=int(size), width=int(size),
                                      unet_dtype=mm.dtype_name(unet_dtype), vae_dtype=mm.dtype_name(vae_dtype),
                                      steps=1, pass1_steps=1, arcface=False, reference=False)


def dtype_of(value) -> str:
    """``fp16`` from ``fp16``, ``torch.float16`` or ``float16`` (the bench's meta stores ``str(torch.dtype)``)."""
    from svfr_model.diffusion import memory_model as mm

    text = str(value).replace("torch.", "")
    return mm.dtype_name({"float16": "fp16", "float32": "fp32", "bfloat16": "bf16"}.get(text, text))


# ---------------------------------------------------------------- worker functions (run in spawned processes)

def _init_worker() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # read when CUDA first initialises: never in a worker
    import torch

    torch.set_num_threads(1)


def predict_worker(case_fields: dict, workspace: str) -> dict:
    """One prediction (in a worker): peak bytes, its stage and op, seconds, and for a calibrated table the
    number of conv shapes it lacked (they fall back to the conservative term)."""
    from svfr_model.diffusion import memory_model as mm

    ws = mm.workspace_from(workspace)
    p = mm.predict_restore(mm.RestoreCase(**case_fields), ws)
    return {"peak": p.peak, "stage": p.peak_stage, "op": p.peak_op, "seconds": round(p.seconds, 1),
            "missing_shapes": len(getattr(ws, "missing", ()))}


def shapes_worker(case_fields: dict) -> dict:
    """The conv shapes of one case (in a worker), as ``{key: asdict(ConvShape)}``."""
    from svfr_model.diffusion import memory_model as mm

    return {k: asdict(v) for k, v in mm.conv_shapes(mm.RestoreCase(**case_fields)).items()}


_OPEN: list["Workers"] = []


def close_all() -> None:
    """End every pool still open (a bench that stops early: the interpreter would wait for its workers)."""
    while _OPEN:
        _OPEN.pop().close()


class Workers:
    """A spawn process pool for the CPU-side work (fake tensors), shut down without waiting for the rest."""

    def __init__(self, workers: int):
        _OPEN.append(self)
        self.pool = ProcessPoolExecutor(max_workers=max(1, workers), initializer=_init_worker,
                                        mp_context=multiprocessing.get_context("spawn"))

    def submit(self, fn, *args) -> Future:
        # a spawned worker starts inside submit() and inherits the environment then: no GPU for it (the
        # caller's CUDA, initialised or not, is unaffected: the variable is restored before returning)
        old = os.environ.get("CUDA_VISIBLE_DEVICES")
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        try:
            return self.pool.submit(fn, *args)
        finally:
            if old is None:
                del os.environ["CUDA_VISIBLE_DEVICES"]
            else:
                os.environ["CUDA_VISIBLE_DEVICES"] = old

    def close(self) -> None:
        """Cancel what has not started and end the workers still predicting (rows the bench skipped): the
        interpreter would otherwise wait for them at exit."""
        if self in _OPEN:
            _OPEN.remove(self)
        procs = list((getattr(self.pool, "_processes", None) or {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            if proc.is_alive():
                proc.terminate()


def default_workers() -> int:
    return max(1, min(8, (os.cpu_count() or 2) - 2))


class Predictor:
    """Predictions of bench rows for one or two workspace terms, submitted early, collected at the end."""

    def __init__(self, workspaces: dict[str, str], workers: int):
        self.workspaces = dict(workspaces)     # label (conservative / calibrated) -> workspace_from spec
        self.workers = Workers(workers)
        self.jobs: dict[tuple, Future] = {}

    @staticmethod
    def key(case) -> tuple:
        return tuple(sorted(asdict(case).items()))

    def submit(self, case) -> None:
        for label, spec in self.workspaces.items():
            k = (self.key(case), label)
            if k not in self.jobs:
                self.jobs[k] = self.workers.submit(predict_worker, asdict(case), spec)

    def results(self, case, deadline: float) -> dict[str, dict]:
        """``{label: worker result or {"error": ...}}`` for ``case``, waiting until ``deadline`` (monotonic)."""
        self.submit(case)
        out = {}
        for label in self.workspaces:
            fut = self.jobs[(self.key(case), label)]
            try:
                out[label] = fut.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                out[label] = {"error": "not finished in time"}
            except Exception as exc:  # a failed prediction is reported, not fatal to the measurements
                out[label] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        return out

    def close(self) -> None:
        self.workers.close()


# ---------------------------------------------------------------- the comparison (pure: tested on the CPU)

def attach_prediction(row: dict, predicted: dict[str, dict], checked: str,
                      tolerance: float = TOLERANCE) -> dict:
    """Put the predictions beside a row's measured peak and check one of them.

    ``predicted``: ``{label: {"peak": bytes, ...} or {"error": ...}}``; ``checked``: the label the check uses
    (the calibrated table when one is given, else the conservative term). Adds ``predicted_gb`` (label ->
    GiB), ``prediction_diff`` ((predicted - measured) / measured of the checked one), ``prediction_checked``
    and ``prediction_ok`` (None: nothing to compare - no measured peak or no prediction).
    """
    row["predicted_gb"] = {label: (r["peak"] / GIB if "peak" in r else None) for label, r in predicted.items()}
    row["prediction_checked"] = checked
    info = predicted.get(checked, {})
    for field in ("stage", "op", "missing_shapes", "error"):
        if field in info:
            row[f"prediction_{field}"] = info[field]
    measured, pred = row.get("peak_alloc_gb"), row["predicted_gb"].get(checked)
    if measured is None or pred is None or measured <= 0:
        row["prediction_diff"], row["prediction_ok"] = None, None
    else:
        row["prediction_diff"] = (pred - measured) / measured
        row["prediction_ok"] = abs(row["prediction_diff"]) <= tolerance
    return row


def failures(rows: Iterable[dict]) -> list[dict]:
    return [r for r in rows if r.get("prediction_ok") is False]


def unchecked(rows: Iterable[dict]) -> list[dict]:
    return [r for r in rows if "predicted_gb" in r and r.get("prediction_ok") is None]


def row_label(r: dict) -> str:
    return f"{r['preset']} {r['frames']} frames {r.get('size', '?')}² ({r.get('steps', '1+1')})"


def table(rows: list[dict], tolerance: float = TOLERANCE) -> str:
    """Measured peak beside each prediction, the checked one's difference and verdict."""
    labels: list[str] = []
    for r in rows:
        for label in r.get("predicted_gb", {}):
            if label not in labels:
                labels.append(label)
    head = f"{'preset':>9} {'frames':>6} {'steps':>6} {'peak GB':>8} " + " ".join(
        f"{label[:12]:>12}" for label in labels) + f" {'checked':>12} {'diff':>7} {'result':>6}  peak stage / op"
    lines = [head]
    for r in rows:
        if "predicted_gb" not in r:
            continue
        meas = r.get("peak_alloc_gb")
        preds = " ".join(f"{('%.3f' % r['predicted_gb'][lb]) if r['predicted_gb'].get(lb) is not None else '-':>12}"
                         for lb in labels)
        diff = r.get("prediction_diff")
        verdict = {True: "ok", False: "FAIL", None: "-"}[r.get("prediction_ok")]
        where = r.get("prediction_error") or f"{r.get('prediction_stage', '')}: {r.get('prediction_op', '')}"
        if r.get("prediction_missing_shapes"):
            where += f" ({r['prediction_missing_shapes']} conv shapes not in the table: conservative)"
        lines.append(f"{r['preset']:>9} {r['frames']:>6} {r.get('steps', ''):>6} "
                     f"{('%.3f' % meas) if meas is not None else '-':>8} {preds} {r['prediction_checked'][:12]:>12} "
                     f"{('%+.1f%%' % (100 * diff)) if diff is not None else '-':>7} {verdict:>6}  {where}")
    return "\n".join(lines)


def verdict(rows: list[dict], tolerance: float = TOLERANCE) -> tuple[int, str]:
    """Exit status (1 when a checked prediction is more than ``tolerance`` off) and the lines saying why."""
    bad, none = failures(rows), unchecked(rows)
    lines = []
    if bad:
        lines.append(f"FAIL: {len(bad)} row(s) where the measured peak and the prediction differ by more than "
                     f"{100 * tolerance:.0f} %:")
        lines += [f"  {row_label(r)}: measured {r['peak_alloc_gb']:.3f} GiB, {r['prediction_checked']} "
                  f"{r['predicted_gb'][r['prediction_checked']]:.3f} GiB ({100 * r['prediction_diff']:+.1f} %)"
                  for r in bad]
    if none:
        lines.append(f"not checked: {len(none)} row(s) without a prediction or a measured peak: "
                     + "; ".join(f"{row_label(r)} ({r.get('prediction_error', 'no measured peak')})" for r in none))
    checked = [r for r in rows if r.get("prediction_ok") is not None]
    if checked and not bad:
        lines.append(f"ok: {len(checked)} row(s) within {100 * tolerance:.0f} % of the prediction")
    return (1 if bad else 0), "\n".join(lines)


def workspace_labels(table_path: Optional[str]) -> tuple[dict[str, str], str]:
    """The workspace terms to predict with (label -> spec) and the label the check uses."""
    specs = {CONSERVATIVE: CONSERVATIVE}
    if table_path:
        specs[CALIBRATED] = str(table_path)
    return specs, (CALIBRATED if table_path else CONSERVATIVE)
