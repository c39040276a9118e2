"""What a batch restores: files, folders, globs and manifests -> one ``Entry`` per video.

A folder is searched recursively for videos (hidden folders and the output folder left out); a glob is
expanded (``**`` too); a ``.csv`` or ``.jsonl`` file is a manifest: one row per video, an ``input`` column
and optional ones: ``output`` (the output name, relative to the output folder) and per-video options named
like ``restore``'s flags (``tasks``, ``mask``, ``reference``, ``faces``, ``crop_mode`` or ``crop-mode``, ...).
Relative paths in a manifest are relative to the manifest's folder.

Output names mirror the inputs' paths relative to the folder they all share (a folder given on the command
line counts as itself, a file as its folder), with the suffix ``.mp4``: ``tapes/1998/a.mov`` given as
``tapes/`` is written as ``OUT/1998/a.mp4``; ``a/ b/`` as ``OUT/a/...`` and ``OUT/b/...``. Two inputs that
would be written to one name (``x.mov`` beside ``x.mp4``) are an error.
"""
from __future__ import annotations

import csv
import glob
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from ..errors import InputError

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".mts",
                            ".m2ts", ".wmv", ".flv", ".3gp", ".ogv", ".dv", ".mxf", ".vob"})
MANIFEST_SUFFIXES = frozenset({".csv", ".jsonl", ".ndjson"})
OUTPUT_SUFFIX = ".mp4"
PATH_OPTIONS = ("mask", "reference")  # per-video options that name files: relative to the manifest


@dataclass(frozen=True)
class Entry:
    """One video of the batch. ``options``: per-video option values from a manifest (raw, as written:
    strings, or JSON numbers and booleans), keyed by the option's name with underscores."""
    src: Path
    output: Path  # relative to the output folder
    options: dict = field(default_factory=dict, hash=False, compare=False)
    origin: str = ""  # where it came from, for messages: the argument, or manifest.csv:3


@dataclass
class _Found:
    src: Path
    output: Optional[Path] = None
    options: dict = field(default_factory=dict)
    origin: str = ""


def _is_glob(arg: str) -> bool:
    return any(c in arg for c in "*?[")


def _walk(folder: Path, skip: Optional[Path]) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and (skip is None or (here / d).resolve() != skip))
        found += [here / f for f in sorted(filenames)
                  if not f.startswith(".") and Path(f).suffix.lower() in VIDEO_SUFFIXES]
    return found


def _normal_key(key: str) -> str:
    return str(key).strip().lower().replace("-", "_")


def read_manifest(path: Path) -> list[_Found]:
    """The rows of a CSV (with a header) or JSON-lines manifest."""
    path = Path(path).resolve()
    rows: list[tuple[str, dict]] = []
    try:
        if path.suffix.lower() == ".csv":
            with open(path, newline="", encoding="utf-8-sig") as f:
                reader = csv.DictReader(f)
                if not reader.fieldnames:
                    raise InputError(f"manifest {path} is empty: it needs a header row with an 'input' column")
                for i, row in enumerate(reader, start=2):
                    if None in row:
                        raise InputError(f"{path.name}:{i}: more cells than header columns")
                    rows.append((f"{path.name}:{i}", {k: v for k, v in row.items() if v not in (None, "")}))
        else:
            with open(path, encoding="utf-8") as f:
                for i, line in enumerate(f, start=1):
                    if not line.strip() or line.lstrip().startswith("#"):
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise InputError(f"{path.name}:{i}: not a JSON object ({exc.msg})") from None
                    if not isinstance(row, dict):
                        raise InputError(f"{path.name}:{i}: each line must be a JSON object, got {type(row).__name__}")
                    rows.append((f"{path.name}:{i}", {k: v for k, v in row.items() if v is not None}))
    except OSError as exc:
        raise InputError(f"cannot read manifest {path}: {exc}") from None
    out = []
    for origin, row in rows:
        row = {_normal_key(k): v for k, v in row.items()}
        src = row.pop("input", None)
        if src in (None, ""):
            raise InputError(f"{origin}: no 'input' (the video to restore)")
        output = row.pop("output", None)
        for name in PATH_OPTIONS:
            if isinstance(row.get(name), str):
                row[name] = str((path.parent / row[name]).resolve())
        out.append(_Found((path.parent / str(src)).resolve(),
                          Path(str(output)) if output not in (None, "") else None, row, origin))
    return out


def _checked_output(name: Path, origin: str) -> Path:
    if name.is_absolute() or ".." in name.parts or not name.parts:
        raise InputError(f"{origin}: output {str(name)!r} must be a relative path inside the output folder")
    return name if name.suffix else name.with_suffix(OUTPUT_SUFFIX)


def find_inputs(args: Iterable[str], out_dir: Optional[Path] = None) -> list[Entry]:
    """Every video named by ``args`` (files, folders, globs, manifests), in the order given (a folder's and a
    glob's files sorted), each once, with its output name."""
    skip = Path(out_dir).resolve() if out_dir is not None else None
    found: list[_Found] = []
    roots: list[Path] = []
    for arg in args:
        arg = str(arg)
        p = Path(arg).expanduser()
        if p.is_dir():
            root = p.resolve()
            files = _walk(root, skip)
            if not files:
                raise InputError(f"no video files in folder {arg} (looked for {', '.join(sorted(VIDEO_SUFFIXES))})")
            found += [_Found(f.resolve(), origin=arg) for f in files]
            roots.append(root)
        elif p.is_file() and p.suffix.lower() in MANIFEST_SUFFIXES:
            rows = read_manifest(p)
            found += rows
            roots += [r.src.parent for r in rows]
        elif p.is_file():
            found.append(_Found(p.resolve(), origin=arg))
            roots.append(p.resolve().parent)
        elif _is_glob(arg):
            files = sorted(Path(f) for f in glob.glob(os.path.expanduser(arg), recursive=True))
            files = [f for f in files if f.is_file() and (skip is None or skip not in f.resolve().parents)]
            if not files:
                raise InputError(f"no file matches {arg}")
            found += [_Found(f.resolve(), origin=arg) for f in files]
            roots += [f.resolve().parent for f in files]
        else:
            raise InputError(f"input {arg} does not exist (a video, a folder, a glob, or a .csv/.jsonl manifest)")
    if not found:
        raise InputError("no input videos given")
    common = Path(os.path.commonpath([str(r) for r in roots])) if roots else Path("/")
    entries: list[Entry] = []
    seen_src: set[Path] = set()
    by_output: dict[Path, str] = {}
    clashes = []
    for f in found:
        if f.src in seen_src:
            continue
        seen_src.add(f.src)
        if f.output is not None:
            output = _checked_output(f.output, f.origin)
        else:
            output = f.src.relative_to(common).with_suffix(OUTPUT_SUFFIX)
        if output in by_output:
            clashes.append(f"{by_output[output]} and {f.src} -> {output}")
        by_output[output] = str(f.src)
        entries.append(Entry(f.src, output, dict(f.options), f.origin))
    if clashes:
        raise InputError("two inputs would be written to one output name: " + "; ".join(clashes) +
                         " (give the outputs names in a manifest, or rename an input)")
    return entries


__all__ = ["Entry", "find_inputs", "read_manifest", "VIDEO_SUFFIXES", "MANIFEST_SUFFIXES", "OUTPUT_SUFFIX"]
