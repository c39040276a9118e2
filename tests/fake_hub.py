"""A stand-in for the Hugging Face Hub on loopback: the endpoints and headers ``huggingface_hub`` uses to
fetch one file, and nothing else.

* ``HEAD /{repo}/resolve/{revision}/{path}`` (``get_hf_file_metadata``):
  - a small file (git-stored): ``200`` with ``ETag: "<git blob sha1>"``, ``Content-Length`` and
    ``X-Repo-Commit``;
  - an LFS file: ``302`` to the storage host with ``Location``, ``X-Linked-Etag: "<sha256>"``,
    ``X-Linked-Size``, ``X-Repo-Commit`` (huggingface_hub does not follow a redirect to another origin, and
    reads the metadata off the 302);
  - errors as the Hub words them: ``X-Error-Code: GatedRepo`` (401 without / 403 with a wrong token),
    ``RevisionNotFound`` / ``EntryNotFound`` (404);
* ``GET`` of the same URL (a small file: its bytes; an LFS file: the same 302);
* ``GET /lfs/{sha256}`` on the storage server (a second port, so another origin): the bytes, honouring
  ``Range: bytes=N-`` with ``206`` and ``Content-Range``; ``Accept-Ranges: bytes``.

Faults for the tests: ``corrupt`` (one byte flipped in what is served, the advertised SHA-256 unchanged),
``cut`` (the connection closes after a given file offset, for the next N requests), ``refuse`` (the storage
host answers the next N resumed (ranged) requests with 403, as an expired signed link), ``gated`` (a repo needing ``Authorization: Bearer
<token>``). Every request is logged (method, path, Range, Authorization).
"""
from __future__ import annotations

import hashlib
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LFS_THRESHOLD = 10_000  # bytes; the Hub's real rule is by .gitattributes, any split works for the client


@dataclass
class HubFile:
    data: bytes
    lfs: bool
    sha256: str = ""
    git_sha1: str = ""

    def __post_init__(self):
        self.sha256 = hashlib.sha256(self.data).hexdigest()
        self.git_sha1 = hashlib.sha1(f"blob {len(self.data)}\0".encode() + self.data).hexdigest()


@dataclass
class Logged:
    method: str
    path: str
    range: str | None
    authorization: str | None


@dataclass
class FakeHub:
    files: dict[tuple[str, str], HubFile] = field(default_factory=dict)
    gated: dict[str, str] = field(default_factory=dict)  # repo -> the token it accepts
    corrupt: set[tuple[str, str]] = field(default_factory=set)
    cuts: dict[str, list] = field(default_factory=dict)  # sha256 -> [offset, times left]
    refuse: dict[str, int] = field(default_factory=dict)  # sha256 -> ranged storage GETs still answered 403
    log: list[Logged] = field(default_factory=list)

    def add(self, repo: str, path: str, data: bytes, lfs: bool | None = None) -> HubFile:
        f = HubFile(bytes(data), len(data) > LFS_THRESHOLD if lfs is None else lfs)
        self.files[(repo, path)] = f
        return f

    def cut(self, repo: str, path: str, at: int, times: int = 1) -> None:
        self.cuts[self.files[(repo, path)].sha256] = [at, times]

    def requests(self, method: str | None = None) -> list[Logged]:
        return [r for r in self.log if method is None or r.method == method]

    # ---- servers ----
    def start(self) -> "FakeHub":
        self._hub = _serve(self, storage=False)
        self._storage = _serve(self, storage=True)
        return self

    def stop(self) -> None:
        for server in (self._hub, self._storage):
            server.shutdown()
            server.server_close()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._hub.server_address[1]}"

    @property
    def storage(self) -> str:
        return f"http://127.0.0.1:{self._storage.server_address[1]}"


def _serve(hub: FakeHub, storage: bool) -> ThreadingHTTPServer:
    handler = type("Handler", (_Handler,), {"hub": hub, "is_storage": storage})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: FakeHub
    is_storage: bool

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    # ---- helpers ----
    def _send(self, status: int, headers: dict[str, str], body: bytes = b"", send_body: bool = True) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body and body:
            self.wfile.write(body)

    def _error(self, status: int, code: str | None, message: str, send_body: bool) -> None:
        headers = {"Content-Type": "application/json", "X-Repo-Commit": COMMIT} if code != "RepoNotFound" else {}
        if code:
            headers["X-Error-Code"] = code
        headers["X-Error-Message"] = message
        self._send(status, headers, f'{{"error": "{message}"}}'.encode(), send_body)

    def _answer(self, body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        self.hub.log.append(Logged(self.command, path, self.headers.get("Range"), self.headers.get("Authorization")))
        try:
            if self.is_storage:
                self._storage(path, body)
            else:
                self._resolve(path, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _resolve(self, path: str, body: bool) -> None:
        parts = path.lstrip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return self._error(404, "RepoNotFound", "Repository not found", body)
        repo, revision, file_path = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
        if not any(r == repo for r, _ in self.hub.files):
            return self._error(401, "RepoNotFound", "Repository not found", body)
        token = self.hub.gated.get(repo)
        if token is not None:
            given = self.headers.get("Authorization")
            if given is None:
                return self._error(401, "GatedRepo", "Access to this model is restricted", body)
            if given != f"Bearer {token}":
                return self._error(403, "GatedRepo", "Access to this model is restricted", body)
        if revision != "main" and revision != COMMIT:
            return self._error(404, "RevisionNotFound", "Invalid rev id", body)
        f = self.hub.files.get((repo, file_path))
        if f is None:
            return self._error(404, "EntryNotFound", "Entry not found", body)
        if f.lfs:
            return self._send(302, {"Location": f"{self.hub.storage}/lfs/{f.sha256}", "X-Repo-Commit": COMMIT,
                                    "X-Linked-Etag": f'"{f.sha256}"', "X-Linked-Size": str(len(f.data)),
                                    "ETag": f'"{f.git_sha1}"'}, b"", body)
        self._send(200, {"ETag": f'"{f.git_sha1}"', "X-Repo-Commit": COMMIT, "Accept-Ranges": "bytes",
                         "Content-Type": "application/octet-stream"}, f.data, body)

    def _storage(self, path: str, body: bool) -> None:
        sha = path.rsplit("/", 1)[-1]
        match = [(k, f) for k, f in self.hub.files.items() if f.sha256 == sha]
        if not path.startswith("/lfs/") or not match:
            return self._send(404, {}, b"no such object", body)
        key, f = match[0]
        if self.hub.refuse.get(sha, 0) > 0 and self.headers.get("Range"):
            self.hub.refuse[sha] -= 1
            return self._send(403, {"Content-Type": "text/plain"}, b"Request has expired", body)
        data = f.data
        if key in self.hub.corrupt:
            data = bytearray(data)
            data[len(data) // 2] ^= 0x55
            data = bytes(data)
        start, status, headers = 0, 200, {"Accept-Ranges": "bytes", "ETag": f'"{f.sha256}"',
                                          "Content-Type": "application/octet-stream"}
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[len("bytes="):-1])
            if start >= len(data):
                return self._send(416, {"Content-Range": f"bytes */{len(data)}"}, b"", body)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        payload = data[start:]
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if not body:
            return
        cut = self.hub.cuts.get(sha)
        stop = len(data)
        if cut is not None and cut[1] > 0 and cut[0] > start:
            cut[1] -= 1
            stop = cut[0]
        pos = start
        while pos < stop:
            n = min(1 << 20, stop - pos)
            self.wfile.write(data[pos:pos + n])
            pos += n
        if stop < len(data):  # cut: close mid-body, as a dropped connection does
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# ---- pytest fixtures (imported by the conftest files that use them) -------------------------------------
import os  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

SVFR_REPO = "fffiloni/SVFR"
SVD_REPO = "stabilityai/stable-video-diffusion-img2vid-xt"


def _torchscript_bytes(tmp: Path) -> bytes:
    import warnings

    import torch

    class Tiny(torch.nn.Module):
        def forward(self, x):
            return x * 2

    path = tmp / "yoloface_v5m.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated; the format is what counts
        torch.jit.script(Tiny()).save(str(path))
    return path.read_bytes()


@pytest.fixture(scope="session")
def hub_files(parity_dir, test_models_dir, tmp_path_factory) -> dict[tuple[str, str], bytes]:
    """The files of the two real repositories, at their real paths: the parity fixture's tiny UNet /
    id_linear / VAE (+ configs) and the random ArcFace of the real IResNet-100 layout, saved as a .pth."""
    import torch
    from safetensors.torch import load_file

    tmp = tmp_path_factory.mktemp("hub_files")
    models = parity_dir / "models"
    svd = models / "stable-video-diffusion-img2vid-xt"
    arc = tmp / "insightface_glint360k.pth"
    torch.save(load_file(str(test_models_dir / "face_restoration" / "insightface_glint360k.safetensors")), str(arc))
    return {
        (SVFR_REPO, "face_restoration/unet.pth"): (models / "face_restoration" / "unet.pth").read_bytes(),
        (SVFR_REPO, "face_restoration/id_linear.pth"): (models / "face_restoration" / "id_linear.pth").read_bytes(),
        (SVFR_REPO, "face_restoration/insightface_glint360k.pth"): arc.read_bytes(),
        (SVFR_REPO, "face_align/yoloface_v5m.pt"): _torchscript_bytes(tmp),
        (SVD_REPO, "vae/config.json"): (svd / "vae" / "config.json").read_bytes(),
        (SVD_REPO, "vae/diffusion_pytorch_model.fp16.safetensors"):
            (svd / "vae" / "diffusion_pytorch_model.fp16.safetensors").read_bytes(),
        (SVD_REPO, "unet/config.json"): (svd / "unet" / "config.json").read_bytes(),
        (SVD_REPO, "scheduler/scheduler_config.json"): (svd / "scheduler" / "scheduler_config.json").read_bytes(),
    }


@pytest.fixture(scope="session")
def _hub_objects(hub_files) -> dict[tuple[str, str], HubFile]:
    """Digests computed once (the 130 MB ArcFace takes a while); tests replace entries, never mutate them."""
    return {key: HubFile(data, len(data) > LFS_THRESHOLD) for key, data in hub_files.items()}


@pytest.fixture
def hub(_hub_objects, monkeypatch, tmp_path):
    """A started FakeHub serving ``hub_files``; HF_ENDPOINT points at it, no token anywhere, 1 MiB chunks
    (so a few-MB file is several writes: cancel and resume points inside it)."""
    from huggingface_hub import constants

    fake = FakeHub(files=dict(_hub_objects))
    fake.start()
    monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no_token"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 1 << 20)
    yield fake
    fake.stop()
    assert os.environ.get("HF_ENDPOINT") == fake.endpoint  # the test did not leak another endpoint
