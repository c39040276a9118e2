"""The front-end extension: valid JavaScript, every import resolves where ComfyUI serves the files,
and the task label matches the node's own wording. (tests/e2e/test_frontend_page.py loads it in the page.)"""
from __future__ import annotations

import importlib.util
import itertools
import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

from conftest import IN_CI, REPO_ROOT

pytestmark = pytest.mark.comfy
WEB = REPO_ROOT / "web" / "js"
IMPORT = re.compile(r"""^\s*import\s+(?:[^'"]*?\s+from\s+)?["']([^"']+)["']""", re.M)


def _web_directory() -> Path:
    """The pack's WEB_DIRECTORY, as ComfyUI reads it from the package's __init__.py."""
    m = re.search(r"""^WEB_DIRECTORY\s*=\s*["']([^"']+)["']""", (REPO_ROOT / "__init__.py").read_text(), re.M)
    assert m, "__init__.py sets no WEB_DIRECTORY"
    return (REPO_ROOT / m.group(1)).resolve()


def _frontend_static() -> Path:
    spec = importlib.util.find_spec("comfyui_frontend_package")
    if spec is None:
        if IN_CI:
            pytest.fail("comfyui_frontend_package (ComfyUI's requirements) is needed under CI")
        pytest.skip("comfyui_frontend_package is not installed")
    return Path(spec.submodule_search_locations[0]) / "static"


def unresolved_imports(js: Path, web_dir: Path, static: Path, pack: str = "comfyui-svfr") -> list[str]:
    """Imports of ``js`` that do not reach a file once served: ComfyUI serves WEB_DIRECTORY at
    /extensions/<pack folder>/ and the frontend (app.js, api.js...) from its package's static/ at /."""
    served = f"http://host/extensions/{pack}/{js.relative_to(web_dir).as_posix()}"
    bad = []
    for spec in IMPORT.findall(js.read_text()):
        path = urlparse(urljoin(served, spec)).path
        prefix = f"/extensions/{pack}/"
        target = web_dir / path[len(prefix):] if path.startswith(prefix) else static / path.lstrip("/")
        if not target.is_file():
            bad.append(f"{spec} -> {path}")
    return bad


@pytest.mark.parametrize("name", sorted(p.name for p in WEB.glob("*.js")))
def test_imports_resolve_where_comfyui_serves_them(name):
    assert unresolved_imports(WEB / name, _web_directory(), _frontend_static()) == []


def test_import_check_catches_a_path_one_level_short(tmp_path):
    """The bug this guards against: ../../scripts/app.js from web/js/ is /extensions/scripts/app.js (404)."""
    web = tmp_path / "web"
    (web / "js").mkdir(parents=True)
    (web / "js" / "x.js").write_text('import { app } from "../../scripts/app.js";\nimport "./y.js";\n')
    (web / "js" / "y.js").write_text("")
    assert unresolved_imports(web / "js" / "x.js", web, _frontend_static()) == [
        "../../scripts/app.js -> /extensions/scripts/app.js"]


def _node() -> str:
    exe = shutil.which("node")
    if exe is None:
        if IN_CI:
            pytest.fail("node (JavaScript runtime) is needed to check web/js under CI")
        pytest.skip("node is not installed")
    return exe


@pytest.mark.parametrize("name", sorted(p.name for p in WEB.glob("*.js")))
def test_javascript_parses(name):
    out = subprocess.run([_node(), "--check", str(WEB / name)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_task_label_matches_the_node(pack, node_classes):
    combos = [dict(zip(("bfr", "colorization", "inpainting"), bits))
              for bits in itertools.product((False, True), repeat=3)]
    script = (f"import {{ svfrTaskLabel, svfrTaskValid }} from {json.dumps((WEB / 'svfr_task_label.js').as_uri())};"
              f"const combos = {json.dumps(combos)};"
              "console.log(JSON.stringify(combos.map(c => [svfrTaskLabel(c), svfrTaskValid(c)])));")
    out = subprocess.run([_node(), "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    labels = json.loads(out.stdout)
    for combo, (label, valid) in zip(combos, labels):
        bits = [int(combo[k]) for k in ("bfr", "colorization", "inpainting")]
        assert valid == any(bits)
        if any(bits):
            assert label == pack.nodes.task.task_label(bits)
        else:
            assert label == "no task selected"
