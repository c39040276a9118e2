"""The pack in ComfyUI's real page (headless Chromium) on three frontends: extension, templates, queueing.

Frontends (tests/e2e/hosts.py FRONTENDS): 1.32.9 (ComfyUI 0.3.75's own), 1.49.6 (0.33.0's own) and the
newest on the registry, 1.58.1, served by 0.33.0 with ``--front-end-root`` (``bash scripts/comfy_host.sh
frontend 1.58.1``). 1.49.6 skips, with its reason, where 0.33.0 is absent; 1.58.1 is then served by 0.3.75.

Each UI template is loaded the way the template browser does (``app.loadGraphData``): no warning or
error toast, no console error from our extension, the task label drawn on the SVFR Task node, every
node at the size the frontend computes, no two overlapping, all inside the visible canvas (nothing of
the page over them). Then the page queues it (``app.queuePrompt``, the twin's lower step counts set in
the widgets first, as a user would): the server must accept it, and the prompt the frontend built must be
the API twin in workflows/api/, which test_workflows_run runs to the end (so the page's copy is taken off
the queue). Where VideoHelperSuite is not installed in the host, its template is only loaded.
On failure a screenshot is kept under pytest's tmp dir and copied to .cache/test-artifacts/.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import shutil
from pathlib import Path

import pytest

from conftest import IN_CI, REPO_ROOT
from e2e import frontend_page
from e2e import hosts as host_set
from build_workflows import TWIN_OVERRIDES
from e2e.comfy_client import ComfyClient
from e2e.conftest import check_host
from e2e.hosts import skip_or_fail
from ui_format import VIRTUAL_NODES

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

WORKFLOWS = REPO_ROOT / "workflows"
# nodes whose own frontend extension sizes them (VideoHelperSuite fits its nodes to their video preview, a few
# pixels apart between frontends): saved a little taller, so they only ever shrink into free space
SELF_SIZED = {"VHS_LoadVideo", "VHS_VideoCombine"}
API_DIR = WORKFLOWS / "api"
ARTIFACTS = REPO_ROOT / ".cache" / "test-artifacts"
UI_NAMES = sorted(p.stem for p in WORKFLOWS.glob("*.json"))
NEEDS_VHS = {"svfr_vhs"}  # VideoHelperSuite, from shared/hosts (not on PyPI)
SNAPSHOT = json.loads((REPO_ROOT / "tests" / "e2e" / "node_inputs_snapshot.json").read_text())
EXTENSION_URL = "/extensions/comfyui-svfr/"


@pytest.fixture(scope="module", params=host_set.FRONTENDS, ids=lambda f: f"fe{f.version}")
def frontend(request, comfy_servers):
    """(frontend, its host, the server serving it); the server is started by the session's pool."""
    fe = request.param
    hosts = host_set.all_hosts()
    h = hosts[fe.host]
    if h.absent and fe.fallback_host:
        h = hosts[fe.fallback_host]
    h = check_host(h)
    if fe.front_end_root is not None and not (fe.front_end_root / "index.html").is_file():
        skip_or_fail(f"frontend {fe.version} not installed at {fe.front_end_root} (run: {fe.install_hint})")
    return fe, h, comfy_servers.get(h, fe.front_end_root)


@pytest.fixture(scope="module")
def page(frontend):
    fe, _, server = frontend
    if not frontend_page.CHROMIUM.exists():
        msg = f"{frontend_page.CHROMIUM} missing (run: bash scripts/install_browser.sh)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    pytest.importorskip("playwright", reason="pip install -r requirements-dev.txt")
    with frontend_page.open_page(server.url) as p:
        assert p.frontend_version() == fe.version, "the page runs another frontend than asked for"
        yield p


@pytest.fixture(autouse=True)
def _page_server_running(request, comfy_servers):
    """The page's server is the one running (the pool may have stopped it for another host's tests)."""
    if "frontend" in request.fixturenames:
        fe, h, _ = request.getfixturevalue("frontend")
        comfy_servers.get(h, fe.front_end_root)


@pytest.fixture(scope="module")
def page_client(frontend) -> ComfyClient:
    return ComfyClient(frontend[2].url)


@pytest.fixture(scope="module")
def not_installed(frontend) -> set[str]:
    """Templates whose packs the page's host lacks (load-only: the missing-nodes dialog expected)."""
    return set() if frontend[1].vhs_installed else set(NEEDS_VHS)


@contextlib.contextmanager
def screenshot_on_failure(page, tmp_path: Path, name: str):
    try:
        yield
    except BaseException:
        shot = page.screenshot(tmp_path / f"{name}.png")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, ARTIFACTS / shot.name)
        print(f"screenshot: {shot} (copy: {ARTIFACTS / shot.name})")
        raise


def _ui(name: str) -> dict:
    return json.loads((WORKFLOWS / f"{name}.json").read_text())


def _twin(name: str) -> dict:
    return json.loads((API_DIR / f"{name}.api.json").read_text())


def _expected_label(ui: dict) -> str:
    task = next(n for n in ui["nodes"] if n["type"] == "SVFRTaskVector")
    on = [label for label, v in zip(("BFR", "colorization", "inpainting"), task["widgets_values"]) if v]
    return " + ".join(on)


def _extension_errors(console: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return [c for c in console if c[0] in ("error", "pageerror", "warning")
            and ("svfr" in c[1].lower() or EXTENSION_URL in c[2] or "Error loading extension" in c[1])]


def test_extension_loads(page):
    names = page.extension_names()
    assert "svfr.TaskVectorLabel" in names, names
    assert _extension_errors(page.console) == []


def test_template_listing_once_each(page):
    listing = json.loads(page.page.evaluate("() => fetch('/api/workflow_templates').then(r => r.text())"))
    assert sorted(listing["comfyui-svfr"]) == UI_NAMES  # once each: one template folder
    for name in UI_NAMES:
        status = page.page.evaluate(f"() => fetch('/api/workflow_templates/comfyui-svfr/{name}.jpg')"
                                    ".then(r => [r.status, r.headers.get('content-type')])")
        assert status == [200, "image/jpeg"], (name, status)


@pytest.mark.parametrize("name", UI_NAMES)
def test_template_loads_clean(name, page, not_installed, tmp_path):
    ui = _ui(name)
    with screenshot_on_failure(page, tmp_path, f"load_{name}"):
        before = len(page.console)
        page.load_graph(ui)
        assert page.toasts() == []
        dialogs = page.dialogs()
        if name in not_installed:  # the missing-nodes dialog names exactly the VHS nodes
            assert dialogs and "VHS_LoadVideo" in dialogs[0], dialogs
            page.close_dialogs()
        else:
            assert dialogs == []
        assert _extension_errors(page.console[before:]) == []
        assert _expected_label(ui) in page.drawn_text()

        nodes = page.nodes()
        saved = {str(n["id"]): n for n in ui["nodes"]}  # frontends >= 1.4x keep node ids as strings
        assert sorted(str(n["id"]) for n in nodes) == sorted(saved)
        for n in nodes:  # the frontend kept the saved size: it computes no more than that
            want = saved[str(n["id"])]["size"]
            if n["type"] in SELF_SIZED:  # its own extension fits it to its preview: never taller than saved
                assert n["size"][0] == pytest.approx(want[0], abs=0.5) and n["size"][1] <= want[1] + 0.5, (
                    n["type"], n["size"], want)
            else:
                assert n["size"] == pytest.approx(want, abs=0.5), (n["type"], n["size"])
            if n["type"] not in VIRTUAL_NODES and name not in not_installed:
                assert n["computed"][1] <= n["size"][1] + 0.5, (n["type"], n["computed"], n["size"])
        for a, b in itertools.combinations(nodes, 2):
            sa, sb = a["screen"], b["screen"]
            apart = sa[2] <= sb[0] or sb[2] <= sa[0] or sa[3] <= sb[1] or sb[3] <= sa[1]
            assert apart, f"{a['type']} {a['id']} and {b['type']} {b['id']} overlap on screen: {sa} {sb}"
        width, height = frontend_page.VIEWPORT["width"], frontend_page.VIEWPORT["height"]
        for n in nodes:
            x0, y0, x1, y1 = n["screen"]
            assert 0 <= x0 and x1 <= width and 0 <= y0 and y1 <= height, (n["type"], n["screen"])
            assert n["covered"] == [], f"{n['type']} {n['id']} is under the page's UI: {n['covered'][:3]}"


@pytest.mark.parametrize("name", UI_NAMES)
def test_template_queued_from_page_is_the_twin(name, page, page_client, not_installed, frontend, tmp_path):
    """Queued from the page, the template's prompt is accepted by the server (validated: page.queue raises on a
    refusal) and equals its API twin, which test_workflows_run runs to the end and checks. The page's copy is
    then taken off the queue: running every template twice would double the e2e time for the same prompt."""
    if name in not_installed:
        host_set.require_vhs(frontend[1])  # skips with the reason (VHS absent) or fails in CI (not installed)
    ui, twin = _ui(name), _twin(name)
    with screenshot_on_failure(page, tmp_path, f"queue_{name}"):
        page.load_graph(ui, settle_s=1.0)
        for nid, spec in twin.items():  # the twin's lower step counts, typed in as a user would
            for input_name in TWIN_OVERRIDES.get(spec["class_type"], {}):
                page.set_widget(int(nid), input_name, spec["inputs"][input_name])
        body = page.queue()
        try:
            assert prompt_differences(body["prompt"], twin, ui) == []
        finally:
            page_client.cancel(body["_prompt_id"])


def prompt_differences(sent: dict, twin: dict, ui: dict) -> list[str]:
    """How the page's prompt differs from the twin: class types, links, widget values; a seed may differ
    only where its control widget would change it (not "fixed"). Values of frontend-only widgets that
    the node does not declare (LoadVideo's "video-preview") are ignored, as ComfyUI ignores them."""
    declared = {t: {e["name"] for e in d["inputs"]} for t, d in SNAPSHOT.items()}
    controls = {str(n["id"]): n["widgets_values"] for n in ui["nodes"] if isinstance(n.get("widgets_values"), list)}
    diffs = []
    if set(sent) != set(twin):
        return [f"node ids: page {sorted(sent)} vs twin {sorted(twin)}"]
    for nid, spec in twin.items():
        got = sent[nid]
        if got["class_type"] != spec["class_type"]:
            diffs.append(f"{nid}: class {got['class_type']} vs {spec['class_type']}")
        for key in set(got["inputs"]) | set(spec["inputs"]):
            if key not in spec["inputs"] and key not in declared.get(spec["class_type"], {key}):
                continue
            a, b = got["inputs"].get(key), spec["inputs"].get(key)
            if a == b:
                continue
            if key == "seed" and "fixed" not in controls.get(nid, []):
                continue
            diffs.append(f"{nid} ({spec['class_type']}).{key}: page {a!r} vs twin {b!r}")
    return diffs


def test_prompt_differences_sees_a_changed_value():
    twin = _twin("svfr_bfr_video")
    sent = json.loads(json.dumps(twin))
    sampler = next(k for k, v in sent.items() if v["class_type"] == "SVFRSampler")
    sent[sampler]["inputs"]["seed"] += 1
    sent[sampler]["inputs"]["crops"] = ["4", 0]
    sent[sampler]["inputs"]["not_an_input"] = 1  # ignored by ComfyUI, and here
    sent[sampler]["inputs"].pop("steps")
    diffs = prompt_differences(sent, twin, _ui("svfr_bfr_video"))
    assert sorted(d.split(".")[-1].split(":")[0] for d in diffs) == ["crops", "seed", "steps"], diffs
