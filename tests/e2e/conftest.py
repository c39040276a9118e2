"""End-to-end fixtures: one real ComfyUI server per session, with this pack and the tiny models.

The server runs the ComfyUI tree installed by ``scripts/comfy_host.sh install`` (or ``$COMFYUI_DIR``)
with the project interpreter, on a free loopback port, with its own input/output/temp/user folders
under pytest's tmp dir and ``--extra-model-paths-config`` pointing at the models built by
``scripts/make_test_models.py``. Outside CI a missing ComfyUI skips; under CI=true it fails.
"""
from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import IN_CI, REPO_ROOT, require_path

from e2e.comfy_client import ComfyClient
from e2e import example_inputs

START_TIMEOUT = 240


def comfyui_dir() -> Path:
    return Path(os.environ.get("COMFYUI_DIR") or REPO_ROOT / ".cache" / "comfyui").resolve()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def comfy_root() -> Path:
    root = comfyui_dir()
    require_path(root / "main.py", "ComfyUI tree (run: bash scripts/comfy_host.sh install)")
    links = [p for p in (root / "custom_nodes").iterdir() if p.resolve() == REPO_ROOT]
    if not links:
        msg = f"this pack is not linked into {root / 'custom_nodes'} (run: bash scripts/comfy_host.sh install)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return root


@pytest.fixture(scope="session")
def test_models_yaml() -> Path:
    return _load_script("make_test_models").build(REPO_ROOT / ".cache" / "test_models", quiet=True)


@pytest.fixture(scope="session")
def server_dirs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("comfy")
    dirs = {k: base / k for k in ("input", "output", "temp", "user")}
    for d in dirs.values():
        d.mkdir()
    dirs["log"] = base / "comfy.log"
    return dirs


@pytest.fixture(scope="session")
def example_files(server_dirs) -> dict[str, Path]:
    """The workflows' input files (the ones the repository ships in example_inputs/, the video cut to
    E2E_FRAMES frames), written into the server's input folder under the names they use."""
    return example_inputs.make_all(server_dirs["input"], example_inputs.E2E_FRAMES)


@pytest.fixture(scope="session")
def comfy_server(comfy_root, test_models_yaml, server_dirs, example_files):
    """Start ComfyUI once; yields its base URL; stops it (by its own pid) at the end."""
    port = free_port()
    cmd = [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
           "--extra-model-paths-config", str(test_models_yaml),
           "--input-directory", str(server_dirs["input"]), "--output-directory", str(server_dirs["output"]),
           "--temp-directory", str(server_dirs["temp"]), "--user-directory", str(server_dirs["user"]),
           "--disable-auto-launch"]
    log = open(server_dirs["log"], "wb")
    proc = subprocess.Popen(cmd, cwd=comfy_root, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"ComfyUI exited with {proc.returncode}:\n{_tail(server_dirs['log'])}")
            try:
                urllib.request.urlopen(url + "/object_info/SaveImage", timeout=5).read()
                break
            except OSError:
                pass
            if time.monotonic() - t0 > START_TIMEOUT:
                pytest.fail(f"ComfyUI not answering after {START_TIMEOUT}s:\n{_tail(server_dirs['log'])}")
            time.sleep(1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


@pytest.fixture(scope="session")
def client(comfy_server) -> ComfyClient:
    return ComfyClient(comfy_server)


@pytest.fixture(scope="session")
def server_log(server_dirs):
    return lambda: _tail(server_dirs["log"], 200)


def _tail(path: Path, n: int = 60) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"
