"""Shared test helpers: where the test fixtures live, and skip-or-fail when one is absent.

Every fixture the tests read is in the repository, under ``tests/fixtures`` (see its README): the parity
cases, key manifests and demo clips are committed; the parity fixture's tiny weights are rebuilt from
their recipe by ``scripts/make_test_models.py`` at session start and checked against recorded digests.
``SVFR_PARITY_DIR`` points the parity tests at another folder of the same format (e.g. the held-out case).
Outside CI a missing fixture skips the test with a reason; under ``CI=true`` it fails.
"""
from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES_DIR = REPO_ROOT / "tests" / "fixtures"
REPO_PARITY_DIR = FIXTURES_DIR / "svfr_parity"
PARITY_DIR = Path(os.environ.get("SVFR_PARITY_DIR") or REPO_PARITY_DIR).resolve()
DEMO_DIR = FIXTURES_DIR / "svfr_demo"
KEYS_DIR = FIXTURES_DIR / "svfr_keys"
CACHE_DIR = Path(os.environ.get("SVFR_CACHE_DIR", REPO_ROOT / ".cache")).resolve()
IN_CI = os.environ.get("CI", "").lower() == "true"


@lru_cache(maxsize=1)
def make_test_models():
    """scripts/make_test_models.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("svfr_make_test_models",
                                                  REPO_ROOT / "scripts" / "make_test_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@lru_cache(maxsize=1)
def parity_weights_problem() -> str | None:
    """Rebuild the repository parity fixture's tiny weights if needed (once per process); the error
    message when they cannot be rebuilt exactly, else None. Another SVFR_PARITY_DIR brings its own."""
    if PARITY_DIR != REPO_PARITY_DIR.resolve():
        return None
    mtm = make_test_models()
    try:
        mtm.ensure_parity_weights(REPO_PARITY_DIR)
    except mtm.TestModelsError as exc:
        return str(exc)
    return None


def pytest_sessionstart(session):
    # build before any test reads PARITY_DIR / "models"; a failure is reported by the tests that need them
    parity_weights_problem()


def require_path(path: Path, what: str) -> Path:
    """Return ``path`` if it exists; otherwise skip (locally) or fail (under CI=true).

    A path inside the parity model folder fails (always) when the tiny weights could not be rebuilt."""
    path = Path(path)
    if path.resolve().is_relative_to(PARITY_DIR / "models"):
        problem = parity_weights_problem()
        if problem:
            pytest.fail(f"{what}: {problem}")
    if path.exists():
        return path
    msg = f"{what} not found at {path}"
    if IN_CI:
        pytest.fail(msg + " (CI=true: missing fixtures are a failure)")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    require_path(PARITY_DIR / "models", "SVFR parity fixture models (SVFR_PARITY_DIR)")
    return require_path(PARITY_DIR, "SVFR parity fixtures (SVFR_PARITY_DIR)")


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return require_path(DEMO_DIR, "SVFR demo clips (tests/fixtures/svfr_demo)")


@pytest.fixture(scope="session")
def keys_dir() -> Path:
    return require_path(KEYS_DIR, "SVFR key manifests (tests/fixtures/svfr_keys)")


@pytest.fixture(scope="session")
def test_models_dir(parity_dir) -> Path:
    """Tiny SVFR model folder (official layout): the parity fixture's models + a random real-size ArcFace.

    Built by scripts/make_test_models.py (local, deterministic, no download; idempotent in < 1 s);
    ``<it>/missing_arcface`` is the same set without the ArcFace.
    """
    out = Path(os.environ.get("SVFR_TEST_MODELS", CACHE_DIR / "test_models"))
    mtm = make_test_models()
    try:
        mtm.build(out, quiet=True)
    except mtm.TestModelsError as exc:
        pytest.fail(f"tiny test models could not be built: {exc}")
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
