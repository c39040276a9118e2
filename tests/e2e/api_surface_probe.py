"""Run by a ComfyUI host's own interpreter (cwd = that ComfyUI): which comfy symbols this pack uses, and
whether this host has each; then the pack's entrypoint, node list and every node's schema, built there.

    <host python> tests/e2e/api_surface_probe.py REPO_ROOT  -> one JSON object on stdout

The symbols are read from the pack's source (``__init__.py`` and ``nodes/*.py``) with ``ast``, so a new use
is listed without editing anything: every attribute chain rooted at a name bound by an import of
``comfy``/``comfy_api``/``comfy_execution``/``folder_paths``/``server``/``node_helpers``/``latent_preview``
(``io.Combo.Input``, ``mm.load_models_gpu``, ``folder_paths.get_temp_directory``, ...), every name imported
from them, and every keyword passed to a call of one of them (``io.Schema(node_id=...)``). A use written as
``getattr(X, "NAME", default)`` / ``hasattr(X, "NAME")`` is a *guarded* one: listed, allowed to be absent.
Only stdlib here: it runs in any host's venv.
"""
from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import json
import os
import sys
from pathlib import Path

COMFY_ROOTS = ("comfy", "comfy_api", "comfy_execution", "folder_paths", "server", "node_helpers", "latent_preview",
               "comfy_extras")


def _dotted(node) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def scan_file(path: Path) -> dict[str, dict]:
    """symbol -> {"guarded": bool, "files": [...]} for one source file (aliases resolved per file)."""
    tree = ast.parse(path.read_text(), str(path))
    alias: dict[str, str] = {}  # local name -> dotted comfy name
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in COMFY_ROOTS:
                    alias[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] in COMFY_ROOTS:
            for a in node.names:
                alias[a.asname or a.name] = f"{node.module}.{a.name}"
    found: dict[str, dict] = {}

    def add(symbol: str, guarded: bool = False) -> None:
        entry = found.setdefault(symbol, {"guarded": True, "files": []})
        entry["guarded"] = entry["guarded"] and guarded
        if path.name not in entry["files"]:
            entry["files"].append(path.name)

    def resolve(expr) -> str | None:
        name = _dotted(expr)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        if head not in alias:
            return None
        return alias[head] + ("." + rest if rest else "")

    for local, full in alias.items():
        add(full)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            full = resolve(node)
            if full:
                add(full)
        if isinstance(node, ast.Call):
            fn = node.func
            if isinstance(fn, ast.Name) and fn.id in ("getattr", "hasattr") and len(node.args) >= 2 \
                    and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
                target = node.args[0]
                if isinstance(target, ast.Call) and isinstance(target.func, ast.Name) and target.func.id == "getattr" \
                        and len(target.args) >= 2 and isinstance(target.args[1], ast.Constant):
                    base = resolve(target.args[0])  # getattr(getattr(io, "A", None), "b", None)
                    if base:
                        add(f"{base}.{target.args[1].value}.{node.args[1].value}", guarded=True)
                        add(f"{base}.{target.args[1].value}", guarded=True)
                    continue
                base = resolve(target)
                if base:
                    add(f"{base}.{node.args[1].value}", guarded=True)
                continue
            full = resolve(fn)
            if full:
                for kw in node.keywords:
                    if kw.arg:
                        add(f"{full}({kw.arg}=)")
    # only the longest chains matter: "io.Combo.Input" implies "io.Combo" and "io"; keep all (cheap, explicit)
    return found


def scan_pack(repo: Path) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for path in [repo / "__init__.py", *sorted((repo / "nodes").glob("*.py"))]:
        for sym, info in scan_file(path).items():
            entry = out.setdefault(sym, {"guarded": True, "files": []})
            entry["guarded"] = entry["guarded"] and info["guarded"]
            entry["files"] += [f for f in info["files"] if f not in entry["files"]]
    return out


def resolve_symbol(symbol: str):
    """Import the longest module prefix of ``symbol`` and walk the rest with getattr; raises if absent."""
    call_kw = None
    if symbol.endswith("=)"):
        symbol, call_kw = symbol[:-2].split("(")
    parts = symbol.split(".")
    obj, i = None, len(parts)
    while i > 0:
        try:
            obj = importlib.import_module(".".join(parts[:i]))
            break
        except ImportError:
            i -= 1
    if obj is None:
        raise ImportError(symbol)
    for p in parts[i:]:
        obj = getattr(obj, p)
    if call_kw is not None:
        target = obj.__init__ if inspect.isclass(obj) and "__init__" in vars(obj) else obj
        params = inspect.signature(target).parameters
        if call_kw not in params and not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            raise TypeError(f"{symbol} takes no keyword {call_kw!r}")
    return obj


def load_pack(repo: Path) -> dict:
    """The pack as ComfyUI loads it: package import, comfy_entrypoint(), get_node_list(), each schema."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from pack_import import import_pack

    ext = import_pack(repo)
    if hasattr(ext, "on_load"):
        asyncio.run(ext.on_load())
    nodes = asyncio.run(ext.get_node_list())
    schemas = {}
    for cls in nodes:
        schema = cls.define_schema()
        info = cls.INPUT_TYPES()  # the V1 view ComfyUI serves as /object_info
        schemas[schema.node_id] = {"inputs": sorted(i.id for i in schema.inputs),
                                   "v1_sections": sorted(info)}
    return {"nodes": sorted(schemas), "schemas": schemas}


def main() -> None:
    repo = Path(sys.argv[1]).resolve()
    sys.path.insert(0, os.getcwd())  # the ComfyUI tree
    sys.argv = ["main.py", "--cpu"]
    import comfy.options

    comfy.options.enable_args_parsing()
    import comfy.cli_args  # noqa: F401  (parses --cpu before model_management is imported)
    import comfyui_version

    report = {"comfyui": comfyui_version.__version__, "symbols": {}, "pack": None, "pack_error": None}
    for sym, info in sorted(scan_pack(repo).items()):
        try:
            resolve_symbol(sym)
            present, why = True, ""
        except Exception as exc:  # noqa: BLE001 - reported, the test decides
            present, why = False, f"{type(exc).__name__}: {exc}"
        report["symbols"][sym] = {**info, "present": present, "why": why}
        if sym.startswith("comfy_api.latest."):  # would the pinned version serve the same name?
            try:
                resolve_symbol(sym.replace("comfy_api.latest.", "comfy_api.v0_0_2.", 1))
                report["symbols"][sym]["in_v0_0_2"] = True
            except Exception:  # noqa: BLE001
                report["symbols"][sym]["in_v0_0_2"] = False
    try:
        report["pack"] = load_pack(repo)
    except Exception as exc:  # noqa: BLE001
        import traceback

        report["pack_error"] = traceback.format_exc()[-3000:]
    print("\n@@SVFR-PROBE@@" + json.dumps(report))


if __name__ == "__main__":
    main()
