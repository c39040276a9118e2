"""End-to-end fixtures: real ComfyUI servers with this pack and the tiny models, on each test host.

``host`` is parametrised by host name (``tests/e2e/hosts.py``: 0.3.75 everywhere, 0.33.0 where
``../shared/hosts`` is beside the checkout); every fixture below it (server, client, folders, example
inputs) is per host, so each test that takes ``client`` runs once per host (ids ``[comfy0.3.75]``,
``[comfy0.33.0]``). Servers are started by a session-wide pool, at most one alive at a time (2 cores): a
server is keyed by (host, frontend root), so the page test's 1.32.9 and 1.49.6 pages reuse the hosts' own
servers and only 1.58.1 (``--front-end-root``) starts another. Each server runs its host's interpreter on a
free loopback port, with its own input/output/temp/user folders under pytest's tmp dir and
``--extra-model-paths-config`` pointing at the models built by ``scripts/make_test_models.py``.

A host that is absent (its tree is not beside the checkout) skips with that reason, even under CI=true; a
host that could be installed but is not skips locally and fails under CI=true.
"""
from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from e2e.comfy_client import ComfyClient
from e2e import example_inputs
from e2e import hosts as host_set
from e2e.hosts import skip_or_fail

START_TIMEOUT = 240


def comfyui_dir() -> Path:
    return host_set.all_hosts()["0.3.75"].root


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def check_host(h: host_set.Host) -> host_set.Host:
    """Skip an absent host (always); skip (locally) or fail (CI) a host that is not set up."""
    if h.absent:
        pytest.skip(h.absent)
    if not (h.root / "main.py").is_file():
        skip_or_fail(f"ComfyUI {h.name} tree not found at {h.root} (run: {h.install_hint})")
    if not h.python.exists():
        skip_or_fail(f"ComfyUI {h.name} interpreter {h.python} not found (run: {h.install_hint})")
    links = [p for p in (h.root / "custom_nodes").iterdir() if p.resolve() == REPO_ROOT]
    if not links:
        skip_or_fail(f"this pack is not linked into {h.root / 'custom_nodes'} (run: {h.install_hint})")
    return h


@pytest.fixture(scope="session", params=host_set.selected(), ids=lambda n: f"comfy{n}")
def host(request) -> host_set.Host:
    return check_host(host_set.all_hosts()[request.param])


@pytest.fixture(scope="session")
def comfy_root(host) -> Path:
    return host.root


@pytest.fixture(scope="session")
def test_models_yaml() -> Path:
    return _load_script("make_test_models").build(REPO_ROOT / ".cache" / "test_models", quiet=True)


@dataclass
class Server:
    port: int  # kept across restarts, so a client made earlier stays valid
    dirs: dict[str, Path]
    files: dict[str, Path]  # the workflows' input files in dirs["input"]
    proc: subprocess.Popen | None = None
    log_file: object = None
    started_s: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self, n: int = 200) -> str:
        return _tail(self.dirs["log"], n)


@dataclass
class ServerPool:
    """Starts ComfyUI servers on demand, keyed by (host, frontend root); keeps at most one running."""

    base: Path
    models_yaml: Path
    servers: dict = field(default_factory=dict)  # key -> Server (stopped ones keep their folders)
    running: tuple | None = None

    def get(self, h: host_set.Host, front_end_root: Path | None = None) -> Server:
        key = (h.name, str(front_end_root or ""))
        srv = self.servers.get(key)
        if self.running == key and srv is not None and srv.proc.poll() is None:
            return srv
        self.stop()
        if srv is None:
            tag = h.name + (f"-fe{front_end_root.parents[1].name}" if front_end_root else "")
            base = self.base / tag
            dirs = {k: base / k for k in ("input", "output", "temp", "user")}
            for d in dirs.values():
                d.mkdir(parents=True)
            dirs["log"] = base / "comfy.log"
            # the workflows' inputs, the video cut to the host's frame count (before the pack starts: it
            # copies the shipped inputs only where no file of that name exists)
            files = example_inputs.make_all(dirs["input"], h.frames)
            srv = self.servers[key] = Server(free_port(), dirs, files)
        self._start(h, srv, front_end_root)
        self.running = key
        return srv

    def _start(self, h: host_set.Host, srv: Server, front_end_root: Path | None) -> None:
        d = srv.dirs
        cmd = [str(h.python), "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(srv.port),
               "--extra-model-paths-config", str(self.models_yaml),
               "--input-directory", str(d["input"]), "--output-directory", str(d["output"]),
               "--temp-directory", str(d["temp"]), "--user-directory", str(d["user"]),
               "--disable-auto-launch"]
        if front_end_root is not None:
            cmd += ["--front-end-root", str(front_end_root)]
        srv.log_file = open(d["log"], "ab")
        t0 = time.monotonic()
        srv.proc = subprocess.Popen(cmd, cwd=h.root, stdout=srv.log_file, stderr=subprocess.STDOUT)
        while True:
            if srv.proc.poll() is not None:
                pytest.fail(f"ComfyUI {h.name} exited with {srv.proc.returncode}:\n{_tail(d['log'])}")
            try:
                urllib.request.urlopen(srv.url + "/object_info/SaveImage", timeout=5).read()
                break
            except OSError:
                pass
            if time.monotonic() - t0 > START_TIMEOUT:
                self._terminate(srv)
                pytest.fail(f"ComfyUI {h.name} not answering after {START_TIMEOUT}s:\n{_tail(d['log'])}")
            time.sleep(1)
        srv.started_s = round(time.monotonic() - t0, 1)

    @staticmethod
    def _terminate(srv: Server) -> None:
        if srv.proc is None:
            return
        srv.proc.terminate()  # our own child, by its pid
        try:
            srv.proc.wait(30)
        except subprocess.TimeoutExpired:
            srv.proc.kill()
            srv.proc.wait(10)
        srv.log_file.close()

    def stop(self) -> None:
        if self.running is not None:
            self._terminate(self.servers[self.running])
            self.running = None


@pytest.fixture(scope="session")
def comfy_servers(tmp_path_factory, test_models_yaml):
    pool = ServerPool(tmp_path_factory.mktemp("comfy"), test_models_yaml)
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture(autouse=True)
def _host_server_running(request):
    """Before each test that talks to a host's server: that server is the one running (the pool may have
    stopped it for another host's or frontend's; it restarts on the same port, so clients stay valid)."""
    if "host_server" in request.fixturenames:
        request.getfixturevalue("comfy_servers").get(request.getfixturevalue("host"))


@pytest.fixture(scope="session")
def host_server(host, comfy_servers) -> Server:
    return comfy_servers.get(host)


@pytest.fixture(scope="session")
def comfy_server(host_server) -> str:
    """The host's server's base URL."""
    return host_server.url


@pytest.fixture(scope="session")
def server_dirs(host_server) -> dict[str, Path]:
    return host_server.dirs


@pytest.fixture(scope="session")
def example_files(host_server) -> dict[str, Path]:
    """The workflows' input files (the ones the repository ships in example_inputs/, the video cut to the
    host's frame count), in the server's input folder under the names they use."""
    return host_server.files


@pytest.fixture(scope="session")
def client(comfy_server) -> ComfyClient:
    return ComfyClient(comfy_server)


@pytest.fixture(scope="session")
def server_log(host_server):
    return lambda: host_server.log()


def _tail(path: Path, n: int = 60) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"
