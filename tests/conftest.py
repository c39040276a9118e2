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


@pytest.fixture(scope="session")
def test_models_dir(parity_dir) -> Path:
    """Tiny SVFR model folder (official layout): the parity fixture's models + a random real-size ArcFace.

    Built by scripts/make_test_models.py (local, deterministic, no download; idempotent in < 1 s);
    ``<it>/missing_arcface`` is the same set without the ArcFace.
    """
    import importlib.util

    out = Path(os.environ.get("SVFR_TEST_MODELS", CACHE_DIR / "test_models"))
    script = require_path(REPO_ROOT / "scripts" / "make_test_models.py", "scripts/make_test_models.py")
    spec = importlib.util.spec_from_file_location("svfr_make_test_models", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build(out, quiet=True)
    return out.resolve() / "svfr"


@pytest.fixture
def one_torch_thread():
    """Behaviour tests on tiny tensors run on one torch thread (OpenMP on a shared CPU is very slow);
    the parity tests keep the fixture's 2 threads."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
