"""``python -m svfr_model batch INPUT... --out DIR --models DIR [restore's options] [--ray auto|local|ADDRESS]``

Restores many videos: INPUT is a video, a folder (searched recursively), a glob (quote it: ``'tapes/**/*.mov'``)
or a manifest (``.csv`` with a header, or ``.jsonl``): one row per video with an ``input`` column and optional
``output`` (name under DIR) and per-video options named like the flags below (``tasks``, ``mask``,
``reference``, ``faces``, ``crop_mode``...; relative paths are relative to the manifest). Every flag applies
to every video; a manifest's cell wins for its row. Outputs mirror the inputs' relative paths under DIR, as
``.mp4``, each written whole (a temporary name, renamed when complete).

Without ``--ray`` the videos are restored here, one after another, with the models loaded once. With
``--ray`` the batch runs on a Ray cluster (an optional extra: ``pip install -r requirements-cluster.txt``):
one worker per GPU (or per ``--cpus-per-worker`` cores without GPUs) loads the models once and restores whole
videos, while CPU planners detect and track the faces of the next videos. Inputs and DIR must be on storage
every node sees at the same path.

DIR/.svfr-batch/journal.sqlite records each video's state, input and options hashes, timings and error.
Running the same command again skips finished videos and redoes changed, interrupted or missing ones
(``--retry-failed``: failed ones too; ``--dry-run``: only say what would run). A video whose worker dies is
retried on another (``--max-attempts``); one that cannot be restored (unreadable, no face with
``--if-no-face error``) is recorded as failed and the rest go on. Ctrl-C stops the running videos (nothing
half-written is kept) and the journal says what is left. Exit code: 0 all done, 1 some failed, 130
interrupted (143 on SIGTERM), 2 a usage error.
"""
from __future__ import annotations

import argparse
import copy
import shlex
import signal
import sys
import threading
from pathlib import Path

from ..errors import InputError, OptionError
from .restore import MODEL_FLAGS, add_restore_options, flat_options

TRUE = ("1", "true", "yes", "y", "on")
FALSE = ("0", "false", "no", "n", "off", "")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "batch", help="restore many videos (folders, globs, manifests), resumable, here or on a Ray cluster",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="videos, folders, globs or .csv/.jsonl manifests")
    p.add_argument("--out", type=Path, required=True, help="output folder (its journal: OUT/.svfr-batch/)")
    add_restore_options(p)
    g = p.add_argument_group("batch")
    g.add_argument("--ray", metavar="auto|local|ADDRESS",
                   help="run on a Ray cluster: auto (the one this machine is part of), local (start one here), "
                        "or its address (HOST:PORT, ray://HOST:10001)")
    g.add_argument("--workers", type=int, help="restore workers (default: one per GPU, or per --cpus-per-worker cores)")
    g.add_argument("--cpus-per-worker", type=int, default=4,
                   help="cores per worker on a cluster without GPUs (default 4)")
    g.add_argument("--planners", type=int,
                   help="CPU workers that detect and track the next videos' faces (default: the spare cores of a GPU "
                        "cluster, up to one per GPU; none without GPUs)")
    g.add_argument("--max-attempts", type=int, default=3,
                   help="attempts per video when its worker dies (default 3)")
    g.add_argument("--retry-failed", action="store_true", help="redo the videos that failed in an earlier run")
    g.add_argument("--dry-run", action="store_true", help="only say what would be restored and what skipped")
    g.add_argument("--full-hash", action="store_true",
                   help="hash whole input files (default: size + 3 MiB samples, enough to see a changed file)")
    g.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    g.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    p.set_defaults(func=run)


class _RowParser(argparse.ArgumentParser):
    """restore's per-video flags, to read a manifest's cells exactly as the command line reads them."""

    def error(self, message):
        raise InputError(message)


def _row_parser() -> tuple[_RowParser, dict]:
    rp = _RowParser(add_help=False, prog="manifest")
    add_restore_options(rp, model_flags=False)
    return rp, {a.dest: a for a in rp._actions if a.option_strings}


def _truthy(value, origin: str, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE or text in FALSE:
        return text in TRUE
    raise InputError(f"{origin}: {key} must be true or false, got {value!r}")


def video_args(args: argparse.Namespace, entry, parser=None) -> argparse.Namespace:
    """The restore flags of one video: the command's, with the manifest row's cells read as flags over them."""
    ns = copy.copy(args)
    if not entry.options:
        return ns
    rp, actions = parser or _row_parser()
    flags = []
    for key, value in entry.options.items():
        action = actions.get(key)
        if action is None:
            why = "is set for the whole batch, not per video" if key in MODEL_FLAGS else "is not a restore option"
            raise InputError(f"{entry.origin}: column {key!r} {why}; per-video columns: input, output, "
                             + ", ".join(sorted(actions)))
        if action.nargs == 0:  # a switch (--no-crop, --lossless)
            setattr(ns, key, _truthy(value, entry.origin, key))
        else:
            flags += [action.option_strings[0], str(value).lower() if isinstance(value, bool) else str(value)]
    try:
        rp.parse_args(flags, namespace=ns)
    except InputError as exc:
        raise InputError(f"{entry.origin}: {exc}") from None
    return ns


def _absolute(path):
    return Path(path).expanduser().resolve() if path is not None else None


def _model_identity(args) -> dict:
    """What of the model set makes the result: its files (name and size) and precisions. Checked here,
    before any worker starts: a missing file is one error listing them all."""
    from ..weights.model_files import find_model_files

    files = find_model_files(args.models, require_arcface=False)
    named = {k: getattr(files, k) for k in ("unet", "id_linear", "arcface", "vae_weights")}
    return {"files": {k: [p.name, p.stat().st_size] if p is not None else None for k, p in named.items()},
            "dtype": args.dtype, "vae_dtype": args.vae_dtype}


def specs_from_args(args: argparse.Namespace) -> list:
    """One ``VideoSpec`` per input video, every option checked (a bad cell names its manifest row)."""
    from ..batch.inputs import find_inputs
    from ..batch.runner import VideoSpec
    from ..restore.options import options_for_preset
    from .cli import flag_for

    args = copy.copy(args)
    args.mask, args.reference = _absolute(args.mask), _absolute(args.reference)
    identity = _model_identity(args)
    parser = _row_parser()
    specs = []
    for entry in find_inputs(args.inputs, args.out):
        ns = video_args(args, entry, parser)
        where = f"{entry.origin}: " if entry.options else ""
        if ns.max_frames is not None and ns.max_frames < 1:
            raise InputError(f"{where}--max-frames must be >= 1, got {ns.max_frames}")
        flat = flat_options(ns)
        try:
            options_for_preset(flat, ns.preset)  # checked now, not on a worker hours later
        except OptionError as exc:
            if not entry.options:
                raise
            raise InputError(f"{where}{exc.worded(flag_for)}") from None
        for name in ("mask", "reference"):
            path = getattr(ns, name)
            if path is not None and not Path(path).is_file():
                raise InputError(f"{where}{name} file not found: {path}")
        specs.append(VideoSpec(src=entry.src, output=entry.output, flat=flat, preset=ns.preset,
                               mask=_absolute(ns.mask), reference=_absolute(ns.reference), no_crop=ns.no_crop,
                               max_frames=ns.max_frames, lossless=ns.lossless, identity=identity,
                               origin=entry.origin))
    return specs


def _pool_factory(args):
    from ..batch.worker import WorkerSetup

    setup = WorkerSetup(models=str(_absolute(args.models)), dtype=args.dtype, vae_dtype=args.vae_dtype,
                        device=args.device, compile=args.compile)
    if args.ray:
        from ..batch.cluster import RayPool, import_ray

        import_ray()  # a missing extra is said now, before any hashing
        return lambda on_progress: RayPool(args.ray, setup, workers=args.workers,
                                           cpus_per_worker=args.cpus_per_worker, planners=args.planners,
                                           on_progress=on_progress)
    if args.workers not in (None, 1) or args.planners:
        raise InputError("--workers and --planners need --ray (without a cluster the videos run one after another "
                         "here; use --ray local to run several workers on this machine)")
    from ..batch.local import LocalPool

    return lambda on_progress: LocalPool(setup, on_progress)


def _raise_stopped(signum, frame):
    from ..batch.runner import Stopped

    raise Stopped(signum)


def run(args: argparse.Namespace) -> int:
    from ..batch.report import Report, as_json, dry_run_table, summary_table
    from ..batch.runner import run_batch

    for name in ("max_attempts", "cpus_per_worker"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    make_pool = _pool_factory(args)
    specs = specs_from_args(args)
    report = Report(quiet=args.quiet)
    in_main = threading.current_thread() is threading.main_thread()  # signal handlers: main thread only
    previous = signal.signal(signal.SIGTERM, _raise_stopped) if in_main else None
    try:
        result = run_batch(specs, args.out, make_pool, retry_failed=args.retry_failed, dry_run=args.dry_run,
                           max_attempts=args.max_attempts, full_hash=args.full_hash, report=report,
                           command=shlex.join(sys.argv))
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
    if args.json:
        print(as_json(result))
    else:
        print(dry_run_table(result) if args.dry_run else summary_table(result))
        if result.get("resume"):
            print(result["resume"])
    if result["outcome"] == "interrupted":
        return 128 + (result.get("signal") or signal.SIGINT)
    return {"complete": 0, "dry-run": 0}.get(result["outcome"], 1)


__all__ = ["register", "run", "video_args", "specs_from_args"]
