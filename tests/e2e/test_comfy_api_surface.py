"""Every comfy symbol the pack uses exists in each test host, and the pack loads against that host's comfy_api.

``api_surface_probe.py`` runs in the host's own interpreter (its torch, its ComfyUI tree on sys.path, --cpu):
it lists, from the pack's source, each name it takes from ComfyUI (``comfy_api.latest.io.Combo.Input``,
``comfy.model_management.load_models_gpu(memory_required=)``, ``folder_paths.get_temp_directory`` ...) and
resolves each there; then it imports the pack as ComfyUI does and builds every node's schema. A symbol that a
host lacks fails here, named, unless the pack only reaches it through ``getattr``/``hasattr`` with a fallback
(a *guarded* use: listed, allowed to be absent). No server is started (a few seconds per host).
"""
from __future__ import annotations

import json
import subprocess
import textwrap

import pytest

from conftest import REPO_ROOT

pytestmark = [pytest.mark.e2e]

PROBE = REPO_ROOT / "tests" / "e2e" / "api_surface_probe.py"
# every SVFR node, as the one snapshot of the nodes' inputs lists them
NODES = sorted(t for t in json.loads((REPO_ROOT / "tests" / "e2e" / "node_inputs_snapshot.json").read_text())
               if t.startswith("SVFR"))
_reports: dict[str, dict] = {}


def probe(host) -> dict:
    if host.name not in _reports:
        done = subprocess.run([str(host.python), str(PROBE), str(REPO_ROOT)], cwd=host.root, capture_output=True,
                              text=True, timeout=300)
        out = done.stdout + done.stderr
        assert "@@SVFR-PROBE@@" in out, f"the probe failed in ComfyUI {host.name} ({done.returncode}):\n{out[-4000:]}"
        _reports[host.name] = json.loads(out.split("@@SVFR-PROBE@@", 1)[1].splitlines()[0])
    return _reports[host.name]


def test_pack_loads_against_the_hosts_comfy_api(host):
    report = probe(host)
    assert report["comfyui"] == host.name
    assert report["pack_error"] is None, report["pack_error"]
    assert report["pack"]["nodes"] == NODES


def test_every_comfy_symbol_the_pack_uses_exists_in_the_host(host):
    symbols = probe(host)["symbols"]
    table = "\n".join(f"  {'guarded ' if s['guarded'] else '        '}{'ok     ' if s['present'] else 'ABSENT '}{name}"
                      f"  ({', '.join(s['files'])})" for name, s in sorted(symbols.items()))
    print(f"comfy symbols used by the pack, in ComfyUI {host.name}:\n{table}")
    # the scan itself works: the pack's core uses are among them
    # the pack imports the pinned comfy_api.v0_0_2 (docs/comfy_host.md), never latest
    assert not [n for n in symbols if n.startswith("comfy_api.latest")], "the pack imports comfy_api.latest"
    for must in ("comfy_api.v0_0_2.io.Schema", "comfy_api.v0_0_2.ComfyExtension",
                 "comfy.model_management.load_models_gpu(memory_required=)", "comfy.model_patcher.ModelPatcher",
                 "comfy.utils.ProgressBar", "folder_paths.get_temp_directory"):
        assert must in symbols, f"the scan missed {must}"
    # comfy_api.v0_0_2 (the pinned version a maintainer advises) serves every comfy_api name we use
    not_pinned = [n for n, s in symbols.items() if s.get("in_v0_0_2") is False and s["present"]]
    assert not not_pinned, f"ComfyUI {host.name}: comfy_api.v0_0_2 lacks {not_pinned}"
    missing = {n: s["why"] for n, s in symbols.items() if not s["present"] and not s["guarded"]}
    assert not missing, f"ComfyUI {host.name} lacks symbols the pack uses unguarded: {json.dumps(missing, indent=1)}"


def test_scan_sees_imports_calls_keywords_and_guards(tmp_path):
    """The scanner on a small pack: aliases, nested attributes, keywords, guarded getattr/hasattr."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("svfr_api_probe", PROBE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    (tmp_path / "nodes").mkdir()
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "nodes" / "a.py").write_text(textwrap.dedent("""
        from comfy_api.latest import io
        import os

        def f():
            import comfy.model_management as mm
            mm.load_models_gpu([], memory_required=1)
            x = getattr(getattr(io, "ControlAfterGenerate", None), "fixed", None)
            return io.Schema(node_id="X", inputs=[io.Int.Input("n", min=0)]), os.path.join("a"), hasattr(mm, "new")
        """))
    found = mod.scan_pack(tmp_path)
    assert {k for k, v in found.items() if not v["guarded"]} == {
        "comfy_api.latest.io", "comfy_api.latest.io.Schema", "comfy_api.latest.io.Schema(node_id=)",
        "comfy_api.latest.io.Schema(inputs=)", "comfy_api.latest.io.Int", "comfy_api.latest.io.Int.Input",
        "comfy_api.latest.io.Int.Input(min=)", "comfy.model_management", "comfy.model_management.load_models_gpu",
        "comfy.model_management.load_models_gpu(memory_required=)"}
    assert {k for k, v in found.items() if v["guarded"]} == {
        "comfy_api.latest.io.ControlAfterGenerate", "comfy_api.latest.io.ControlAfterGenerate.fixed",
        "comfy.model_management.new"}
