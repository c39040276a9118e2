"""The engine's layout: stages that import only downwards, no import cycle, every module checked.

Stages, lowest first (docs/layout.md): leaves (errors, value_checks, precision) < networks < weights <
video, faces < diffusion < restore < batch < commands < the old names kept for one release. Imports inside
functions count too: a lazy import is still a dependency.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "svfr_model"

RANK = {"leaves": 0, "networks": 1, "weights": 2, "video": 3, "faces": 3,
        "diffusion": 4, "restore": 5, "batch": 6, "commands": 7, "__main__": 8, "__init__": 0,
        # old names (re-export shims of the README's API), above everything they re-export
        "models": 8, "pipeline": 8, "video_io": 8, "restore_tracks": 8}


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = p.relative_to(PKG.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


MODULES = _modules()


def _resolve(name: str) -> str:
    """The module an imported name lives in: the longest prefix that is a module of the package."""
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        if ".".join(parts[:k]) in MODULES:
            return ".".join(parts[:k])
    return name


def imports_of(module: str) -> set[str]:
    """Modules of the package that ``module`` imports anywhere (also inside functions)."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "svfr_model":
                target = node.module
            else:
                continue
            for alias in node.names:  # "from . import x": x may be a module
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in MODULES else _resolve(target))
        elif isinstance(node, ast.Import):
            out |= {_resolve(a.name) for a in node.names if a.name.split(".")[0] == "svfr_model"}
    out.discard(module)
    return {m for m in out if m in MODULES}


LEAVES = ("errors", "value_checks", "precision")


def stage(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return "leaves" if parts[1] in LEAVES else parts[1]


def test_every_module_belongs_to_a_stage():
    assert {m: stage(m) for m in MODULES if stage(m) not in RANK} == {}


def test_no_module_imports_a_higher_stage_or_a_sibling_stage():
    bad = {}
    for m in MODULES:
        for t in imports_of(m):
            if stage(t) == stage(m) or t == "svfr_model":
                continue
            if RANK[stage(t)] >= RANK[stage(m)]:  # higher, or a different stage of the same rank (faces/video)
                bad.setdefault(m, []).append(t)
    assert bad == {}


def test_no_import_cycle_between_modules():
    graph = {m: imports_of(m) - {"svfr_model"} for m in MODULES}
    state: dict[str, int] = {}
    cycles = []

    def visit(m, path):
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycles.append(path[path.index(t):] + [t])
            elif t not in state:
                visit(t, path + [t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_the_checks_see_lazy_and_relative_imports():
    """The premise of the checks above: imports inside functions and relative ones are found."""
    assert "svfr_model.weights.model_files" in imports_of("svfr_model.weights.models")  # inside a function
    assert "svfr_model.networks.configs" in imports_of("svfr_model.weights.svd_single_file")
    assert "svfr_model.video.heap" in imports_of("svfr_model.video.read")


def test_shipped_configs_are_defined_once():
    from svfr_model.networks.configs import PACKAGED_CONFIGS
    from svfr_model.weights import model_files, svd_single_file

    assert model_files.PACKAGED_CONFIGS is PACKAGED_CONFIGS
    assert svd_single_file.PACKAGED_VAE_CONFIG == PACKAGED_CONFIGS["vae"] and PACKAGED_CONFIGS["vae"].is_file()


def test_importing_the_faces_package_loads_no_engine_module():
    code = ("import sys, svfr_model.faces, svfr_model.faces.stream; "
            "print(sorted(m for m in sys.modules if m.startswith(('svfr_model.diffusion', 'svfr_model.weights', "
            "'svfr_model.restore')) or m == 'diffusers'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PKG.parent).stdout.strip()
    assert out == "[]"


@pytest.mark.parametrize("old, new, names", [
    ("svfr_model.models", "svfr_model.weights.models", ["load_svfr_models"]),
    ("svfr_model.pipeline", "svfr_model.diffusion.passes", ["restore_video", "restore_stream"]),
    ("svfr_model.video_io", "svfr_model.video", ["read_video", "write_video"]),
    ("svfr_model.restore_tracks", "svfr_model.restore.tracks", ["restore_tracks"]),
])
def test_the_readme_api_keeps_its_old_names_for_one_release(old, new, names):
    """The README's examples before the staged layout still run, with a DeprecationWarning naming the new home."""
    code = (f"import warnings; warnings.simplefilter('error')\n"
            f"try:\n    import {old}\nexcept DeprecationWarning as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PKG.parent).stdout
    assert new in out
    import importlib
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        shim, home = importlib.import_module(old), importlib.import_module(new)
    assert all(getattr(shim, n) is getattr(home, n) for n in names)
