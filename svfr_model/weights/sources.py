"""The table of where each model file comes from (``sources.json``), and ``--source`` overrides.

One row per file: the Hub repository, revision and path it is fetched from, where it goes under the models
folder (``dest``, the official layout), its size and SHA-256 when recorded (``null`` otherwise: never
guessed), its licence and whether it is needed. Nothing here touches the network.

Overrides (``--source``, repeatable):

* ``OLD_REPO=NEW_REPO[@REVISION]``: every file of ``OLD_REPO`` is fetched from ``NEW_REPO`` (a moved or
  private mirror with the same file paths);
* ``FILE_ID=NEW_REPO[@REVISION][:PATH]``: one file (ids: ``unet``, ``id_linear``, ``arcface``, ``vae``,
  ``vae_config``, ``unet_config``, ``scheduler_config``, ``yoloface``);
* ``table.json``: a table of the same format; its rows replace the rows with the same ``id`` (only the
  keys a row gives), its licences are added.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

from ..errors import InputError

SOURCES_JSON = Path(__file__).resolve().parent / "sources.json"
KINDS = ("config", "unet", "id_linear", "arcface", "vae", "yoloface")
_FIELDS = ("id", "kind", "group", "needed", "dest", "repo", "revision", "path", "size", "sha256", "approx_size",
           "licence")


class SourceError(InputError):
    """The sources table or a ``--source`` override cannot be used."""


@dataclass(frozen=True)
class Licence:
    id: str
    name: str
    url: str


@dataclass(frozen=True)
class SourceFile:
    id: str
    kind: str  # what checks it: config | unet | id_linear | arcface | vae | yoloface
    group: str  # svfr | vae | yoloface: what a selection asks for
    needed: bool  # False: fetched only along with a needed file (optional SVD-xt configs)
    dest: str  # relative to the models folder, official layout, "/"-separated
    repo: str
    revision: str
    path: str
    size: int | None
    sha256: str | None
    approx_size: str | None
    licence: str

    @property
    def origin(self) -> str:
        return f"{self.repo}@{self.revision}:{self.path}"


@dataclass(frozen=True)
class SourceTable:
    files: tuple[SourceFile, ...]
    licences: dict[str, Licence]

    def get(self, file_id: str) -> SourceFile:
        for f in self.files:
            if f.id == file_id:
                return f
        raise SourceError(f"no file '{file_id}' in the sources table (ids: {', '.join(self.ids())})")

    def ids(self) -> list[str]:
        return [f.id for f in self.files]

    def licence(self, file: SourceFile) -> Licence:
        return self.licences[file.licence]

    def with_overrides(self, specs: Iterable[str | Path]) -> "SourceTable":
        table = self
        for spec in specs:
            table = table._override(str(spec))
        return table

    def _override(self, spec: str) -> "SourceTable":
        if spec.endswith(".json") or ("=" not in spec and Path(spec).expanduser().is_file()):
            return _merge(self, _read_json(Path(spec).expanduser()), Path(spec))
        if "=" not in spec:
            raise SourceError(f"--source {spec!r}: expected OLD_REPO=NEW_REPO[@REVISION], "
                              "FILE_ID=NEW_REPO[@REVISION][:PATH] or a table .json file")
        old, new = (s.strip() for s in spec.split("=", 1))
        path = None
        if ":" in new:
            new, path = new.split(":", 1)
        repo, _, revision = new.partition("@")
        if repo.count("/") != 1 or not all(repo.split("/")):
            raise SourceError(f"--source {spec!r}: {repo!r} is not a Hub repository id (owner/name)")
        if old in self.ids():
            targets = [old]
        elif any(f.repo == old for f in self.files):
            if path:
                raise SourceError(f"--source {spec!r}: a file path (:PATH) needs a file id on the left, not a repo")
            targets = [f.id for f in self.files if f.repo == old]
        else:
            repos = sorted({f.repo for f in self.files})
            raise SourceError(f"--source {spec!r}: {old!r} is neither a file id ({', '.join(self.ids())}) "
                              f"nor a repository of the table ({', '.join(repos)})")
        files = tuple(
            replace(f, repo=repo, revision=revision or f.revision, path=path or f.path) if f.id in targets else f
            for f in self.files)
        return SourceTable(files, self.licences)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceError(f"sources table not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise SourceError(f"sources table {path} is not readable JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("files", []), list):
        raise SourceError(f"sources table {path}: expected an object with a 'files' list")
    return data


def _licences(data: dict, where: Path) -> dict[str, Licence]:
    out = {}
    for key, value in (data.get("licences") or {}).items():
        if not isinstance(value, dict) or not value.get("name"):
            raise SourceError(f"sources table {where}: licence {key!r} needs a 'name'")
        out[key] = Licence(key, str(value["name"]), str(value.get("url") or ""))
    return out


def _row(raw: dict, where: Path, base: SourceFile | None = None) -> SourceFile:
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        raise SourceError(f"sources table {where}: unknown keys {unknown} in row {raw.get('id')!r}")
    values = {**(base.__dict__ if base is not None else {}), **raw}
    missing = [k for k in _FIELDS if k not in values and k not in ("approx_size", "needed", "size", "sha256")]
    if missing:
        raise SourceError(f"sources table {where}: row {raw.get('id')!r} lacks {missing}")
    values.setdefault("approx_size", None)
    values.setdefault("needed", True)
    values.setdefault("size", None)
    values.setdefault("sha256", None)
    if values["kind"] not in KINDS:
        raise SourceError(f"sources table {where}: row {values['id']!r} has kind {values['kind']!r}; one of {KINDS}")
    size, sha = values["size"], values["sha256"]
    if size is not None and (not isinstance(size, int) or size < 0):
        raise SourceError(f"sources table {where}: row {values['id']!r}: size must be a byte count or null")
    if sha is not None:
        sha = str(sha).lower()
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise SourceError(f"sources table {where}: row {values['id']!r}: sha256 must be 64 hex digits or null")
    dest = str(values["dest"])
    if dest.startswith(("/", "\\")) or ".." in Path(dest).parts or ":" in dest:
        raise SourceError(f"sources table {where}: row {values['id']!r}: dest {dest!r} must stay inside the folder")
    return SourceFile(id=str(values["id"]), kind=values["kind"], group=str(values["group"]),
                      needed=bool(values["needed"]), dest=dest, repo=str(values["repo"]),
                      revision=str(values["revision"]), path=str(values["path"]), size=size, sha256=sha,
                      approx_size=values["approx_size"], licence=str(values["licence"]))


def _check(table: SourceTable, where: Path) -> SourceTable:
    ids = table.ids()
    if len(set(ids)) != len(ids):
        raise SourceError(f"sources table {where}: duplicate file ids in {ids}")
    for f in table.files:
        if f.licence not in table.licences:
            raise SourceError(f"sources table {where}: row {f.id!r} names licence {f.licence!r}, which the "
                              f"table does not define ({', '.join(table.licences)})")
    return table


def _merge(table: SourceTable, data: dict, where: Path) -> SourceTable:
    licences = {**table.licences, **_licences(data, where)}
    rows = {f.id: f for f in table.files}
    order = list(rows)
    for raw in data.get("files", []):
        if not isinstance(raw, dict) or "id" not in raw:
            raise SourceError(f"sources table {where}: every row needs an 'id'")
        rows[raw["id"]] = _row(raw, where, rows.get(raw["id"]))
        if raw["id"] not in order:
            order.append(raw["id"])
    return _check(SourceTable(tuple(rows[i] for i in order), licences), where)


def load_sources(path: str | Path | None = None, overrides: Iterable[str | Path] = ()) -> SourceTable:
    """The table shipped with the package (or ``path``), with ``--source`` overrides applied in order."""
    where = Path(path).expanduser() if path is not None else SOURCES_JSON
    data = _read_json(where)
    table = _check(SourceTable(tuple(_row(r, where) for r in data.get("files", [])), _licences(data, where)), where)
    return table.with_overrides(overrides)
