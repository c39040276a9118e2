"""Shared test helpers: where the shared fixtures live, and skip-or-fail when they are absent.

Fixtures come from ``../shared`` beside the checkout (override with ``SVFR_SHARED_DIR``).
Outside CI a missing fixture skips the test with a reason; under ``CI=true`` it fails.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("SVFR_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()
CACHE_DIR = Path(os.environ.get("SVFR_CACHE_DIR", REPO_ROOT / ".cache")).resolve()
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_path(path: Path, what: str) -> Path:
    """Return ``path`` if it exists; otherwise skip (locally) or fail (under CI=true)."""
    path = Path(path)
    if path.exists():
        return path
    msg = f"{what} not found at {path}"
    if IN_CI:
        pytest.fail(msg + " (CI=true: missing fixtures are a failure)")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return require_path(SHARED_DIR, "shared fixtures directory")


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    d = Path(os.environ.get("SVFR_PARITY_DIR", SHARED_DIR / "fixtures" / "svfr_parity"))
    return require_path(d, "SVFR parity fixtures (SVFR_PARITY_DIR)")


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return require_path(SHARED_DIR / "fixtures" / "svfr_demo", "SVFR demo clips")


@pytest.fixture(scope="session")
def keys_dir() -> Path:
    return require_path(SHARED_DIR / "fixtures" / "svfr_keys", "SVFR key manifests")
