"""Every shipped workflow: the UI graph and its API twin describe the same graph (no server needed).

Same nodes, same links, same widget values, except that the twin may LOWER the sampler's step counts
and the number of frames loaded. The VideoHelperSuite variant is checked against VHS's published
node inputs (tests/e2e/vhs_node_inputs.json) because VHS cannot be installed here.
"""
from __future__ import annotations

import copy
import itertools
import json
import uuid
from pathlib import Path

import pytest

from build_workflows import MIN_SCALE, VIEW_BOX, graph_box
from ui_format import TITLE_H, VIRTUAL_NODES, node_size, ui_to_api, widget_values_of, workflow_id

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / "workflows"
API_DIR = WORKFLOWS / "api"  # API twins: out of the folder ComfyUI lists as templates
# ComfyUI 0.3.75 (app/custom_node_manager.py) lists <pack>/<folder>/*.json for each of these folder names,
# and serves /api/workflow_templates/<pack>/ from the first that exists
TEMPLATE_FOLDERS = ["example_workflows", "example", "examples", "workflow", "workflows"]
THUMB_MAX_BYTES = 60 * 1024
E2E = REPO / "tests" / "e2e"
# input name -> how a twin may differ: it may only lower these (0 = "no limit" for frame caps)
LOWERABLE = {"steps", "pass1_steps", "frame_load_cap"}
UI_FILES = sorted(p for p in WORKFLOWS.glob("*.json") if not p.name.endswith(".api.json"))
EXPECTED = {"svfr_bfr_video", "svfr_bfr_colorization", "svfr_inpainting", "svfr_restore_upscale",
            "svfr_srr_reference_photo", "svfr_vhs", "svfr_long_video"}


def _defs() -> dict:
    defs = json.loads((E2E / "node_inputs_snapshot.json").read_text())
    vhs = json.loads((E2E / "vhs_node_inputs.json").read_text())
    for node, spec in vhs.items():
        if node.startswith("_"):
            continue
        inputs = [{"name": n, "type": s["type"], "optional": sec == "optional",
                   **({"widget": True} if s["type"] in ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO") else {})}
                  for sec in ("required", "optional") for n, s in spec.get(sec, {}).items()]
        defs[node] = {"inputs": inputs, "outputs": spec["outputs"]}
    return defs


DEFS = _defs()
VHS = json.loads((E2E / "vhs_node_inputs.json").read_text())


def twin_differences(ui: dict, twin: dict) -> list[str]:
    """Everything in which ``twin`` differs from the prompt the UI graph would queue, beyond what is allowed."""
    expected = ui_to_api(ui, DEFS)
    diffs = []
    if set(expected) != set(twin):
        diffs.append(f"node ids differ: UI {sorted(expected)} vs twin {sorted(twin)}")
    for nid in sorted(set(expected) & set(twin)):
        a, b = expected[nid], twin[nid]
        if a["class_type"] != b["class_type"]:
            diffs.append(f"node {nid}: class {a['class_type']} vs {b['class_type']}")
            continue
        for name in sorted(set(a["inputs"]) | set(b["inputs"])):
            va, vb = a["inputs"].get(name), b["inputs"].get(name)
            if va == vb:
                continue
            if name in LOWERABLE and isinstance(va, int) and isinstance(vb, int) and 0 < vb and (va == 0 or vb < va):
                continue
            diffs.append(f"node {nid} ({a['class_type']}).{name}: UI {va!r} vs twin {vb!r}")
    return diffs


def _load(p: Path) -> dict:
    return json.loads(p.read_text())


def test_the_documented_workflows_ship():
    assert {p.stem for p in UI_FILES} == EXPECTED


@pytest.mark.parametrize("ui_path", UI_FILES, ids=lambda p: p.stem)
def test_ui_and_api_twin_in_sync(ui_path):
    ui = _load(ui_path)
    twin_path = API_DIR / f"{ui_path.stem}.api.json"
    assert "nodes" in ui and "links" in ui, "the UI file must be a UI-format graph"
    twin = _load(twin_path)
    assert all("class_type" in n for n in twin.values()), "the twin must be an API-format prompt"
    assert twin_differences(ui, twin) == []


@pytest.mark.parametrize("ui_path", UI_FILES, ids=lambda p: p.stem)
def test_ui_graph_is_well_typed(ui_path):
    """Every link joins an output and an input of the same type, at the slots the UI says."""
    ui = _load(ui_path)
    nodes = {n["id"]: n for n in ui["nodes"]}
    for link_id, src, src_slot, dst, dst_slot, typ in ui["links"]:
        src_def, dst_node = DEFS[nodes[src]["type"]], nodes[dst]
        assert src_def["outputs"][src_slot][1] == typ, f"link {link_id}: source type"
        assert link_id in nodes[src]["outputs"][src_slot]["links"]
        slot = dst_node["inputs"][dst_slot]
        assert slot["link"] == link_id, f"link {link_id}: target slot {dst_slot} of node {dst}"
        input_def = next(e for e in DEFS[dst_node["type"]]["inputs"] if e["name"] == slot["name"])
        assert input_def["type"] == typ or (input_def["type"] == "FLOAT" and typ in ("FLOAT", "INT")), \
            f"link {link_id}: {typ} into {dst_node['type']}.{slot['name']} ({input_def['type']})"
    # required socket inputs are all connected
    for node in ui["nodes"]:
        if node["type"] in VIRTUAL_NODES:
            continue
        linked = {s["name"] for s in node["inputs"] if s.get("link") is not None}
        for e in DEFS[node["type"]]["inputs"]:
            if not e["optional"] and not e.get("widget"):
                assert e["name"] in linked, f"{node['type']} {node['id']}: required input {e['name']} unconnected"


def template_listing(pack: Path) -> list[str]:
    """The names ComfyUI 0.3.75's /workflow_templates lists for a pack folder (same glob, same order)."""
    return [p.stem for folder in TEMPLATE_FOLDERS for p in sorted((pack / folder).glob("*.json"))]


def test_each_template_listed_once_from_workflows():
    names = template_listing(REPO)
    assert sorted(names) == sorted(EXPECTED), names  # once each; API twins (workflows/api/) not listed
    served_from = next(f for f in TEMPLATE_FOLDERS if (REPO / f).is_dir())
    assert served_from == "workflows"


def test_listing_emulation_sees_duplicates(tmp_path):
    for folder in ("example_workflows", "workflows"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.json").write_text("{}")
    assert template_listing(tmp_path) == ["a", "a"]


@pytest.mark.parametrize("ui_path", UI_FILES, ids=lambda p: p.stem)
def test_workflow_id_is_a_stable_uuid(ui_path):
    wid = _load(ui_path)["id"]
    assert str(uuid.UUID(wid)) == wid  # the frontend's schema rejects anything else ("Invalid uuid")
    assert wid == workflow_id(ui_path.stem)


def test_workflow_ids_differ():
    ids = [_load(p)["id"] for p in UI_FILES]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("ui_path", UI_FILES, ids=lambda p: p.stem)
def test_thumbnail_ships(ui_path):
    """Frontend 1.32 shows /api/workflow_templates/<pack>/NAME.jpg on a custom node template's card."""
    thumb = ui_path.with_suffix(".jpg")
    data = thumb.read_bytes()
    assert data[:3] == b"\xff\xd8\xff", f"{thumb.name} is not a JPEG"
    assert 2_000 < len(data) <= THUMB_MAX_BYTES, f"{thumb.name}: {len(data)} bytes"


def _boxes(ui: dict) -> dict[int, tuple]:
    return {n["id"]: (n["pos"][0], n["pos"][1] - TITLE_H, n["pos"][0] + n["size"][0], n["pos"][1] + n["size"][1])
            for n in ui["nodes"]}


@pytest.mark.parametrize("ui_path", UI_FILES, ids=lambda p: p.stem)
def test_layout_no_overlap_at_frontend_size(ui_path):
    """Saved sizes are at least what the frontend computes (it would grow them), and no two nodes overlap."""
    ui = _load(ui_path)
    for n in ui["nodes"]:
        if n["type"] not in VIRTUAL_NODES:
            want = node_size(n["type"], DEFS, n["widgets_values"] if isinstance(n["widgets_values"], dict) else None)
            assert n["size"][1] >= want[1], f"{n['type']} {n['id']}: saved height {n['size'][1]} < {want[1]}"
    for (a, ba), (b, bb) in itertools.combinations(_boxes(ui).items(), 2):
        apart = ba[2] <= bb[0] or bb[2] <= ba[0] or ba[3] <= bb[1] or bb[3] <= ba[1]
        assert apart, f"nodes {a} and {b} overlap: {ba} {bb}"


@pytest.mark.parametrize("ui_path", UI_FILES, ids=lambda p: p.stem)
def test_saved_view_shows_the_whole_graph(ui_path):
    """extra.ds puts every node inside the view box (right of the sidebar, under the menus), readable."""
    ui = _load(ui_path)
    ds = ui["extra"]["ds"]
    assert ds["scale"] >= MIN_SCALE
    left, top, right, bottom = graph_box(ui["nodes"])
    sx = lambda x: (x + ds["offset"][0]) * ds["scale"]  # noqa: E731
    sy = lambda y: (y + ds["offset"][1]) * ds["scale"]  # noqa: E731
    assert VIEW_BOX[0] <= sx(left) and sx(right) <= VIEW_BOX[2] + 0.5, (sx(left), sx(right))
    assert VIEW_BOX[1] <= sy(top) and sy(bottom) <= VIEW_BOX[3] + 0.5, (sy(top), sy(bottom))


def test_sync_check_catches_a_changed_value_and_allows_lower_steps():
    ui = _load(WORKFLOWS / "svfr_bfr_video.json")
    twin = _load(API_DIR / "svfr_bfr_video.api.json")
    sampler = next(k for k, v in twin.items() if v["class_type"] == "SVFRSampler")
    changed = copy.deepcopy(twin)
    changed[sampler]["inputs"]["seed"] += 1
    assert any(".seed" in d for d in twin_differences(ui, changed))
    higher = copy.deepcopy(twin)
    higher[sampler]["inputs"]["steps"] = 500
    assert any(".steps" in d for d in twin_differences(ui, higher))
    relinked = copy.deepcopy(twin)
    relinked[sampler]["inputs"].pop("faces")
    assert twin_differences(ui, relinked)
    ui_values = widget_values_of(next(n for n in ui["nodes"] if n["type"] == "SVFRSampler"), DEFS)
    assert ui_values["steps"] > twin[sampler]["inputs"]["steps"]  # the twin really is lighter
    assert ui_values["seed.control"] == "fixed"


def test_vhs_variant_matches_vhs_published_inputs():
    twin = _load(API_DIR / "svfr_vhs.api.json")
    vhs_nodes = {k: v for k, v in twin.items() if v["class_type"].startswith("VHS_")}
    assert {v["class_type"] for v in vhs_nodes.values()} == {"VHS_LoadVideo", "VHS_VideoInfoLoaded",
                                                              "VHS_VideoCombine"}
    for nid, node in vhs_nodes.items():
        spec = VHS[node["class_type"]]
        allowed = set(spec["required"]) | set(spec.get("optional", {}))
        fmt = node["inputs"].get("format")
        allowed |= set(spec.get("format_widgets", {}).get(fmt, {}))
        assert set(spec["required"]) <= set(node["inputs"]), f"{node['class_type']}: required inputs missing"
        assert set(node["inputs"]) <= allowed, f"{node['class_type']}: unknown inputs {set(node['inputs']) - allowed}"
        for name, value in node["inputs"].items():
            s = {**spec["required"], **spec.get("optional", {}), **spec.get("format_widgets", {}).get(fmt, {})}[name]
            if isinstance(value, list):  # a link: the source output type must be what VHS takes
                src = twin[value[0]]
                out_type = DEFS[src["class_type"]]["outputs"][value[1]][1]
                assert out_type == s["type"] or (s["type"] == "FLOAT" and out_type in ("INT", "FLOAT")), \
                    f"{node['class_type']}.{name} gets {out_type}"
            elif "options" in s:
                assert value in s["options"], f"{node['class_type']}.{name}={value!r}"
            elif "options_include" in s:
                assert value in s["options_include"]
            elif s["type"] == "INT":
                assert isinstance(value, int) and value >= s.get("min", value)
    # VHS's video_info/audio outputs are used the VHS way: fps from the loaded video, its audio kept
    combine = next(v for v in vhs_nodes.values() if v["class_type"] == "VHS_VideoCombine")
    assert twin[combine["inputs"]["frame_rate"][0]]["class_type"] == "VHS_VideoInfoLoaded"
    assert twin[combine["inputs"]["audio"][0]]["class_type"] == "VHS_LoadVideo"
    assert combine["inputs"]["audio"][1] == 2


def test_long_video_template_streams_from_file_to_file():
    """svfr_long_video holds no frame batch: the VIDEO goes from Load Video through the streaming node
    to Save Video (no IMAGE link), all faces, official steps in the UI file, format/codec auto (Save
    Video then copies the restored file's streams instead of decoding every frame)."""
    ui = _load(WORKFLOWS / "svfr_long_video.json")
    api = ui_to_api(ui, DEFS)
    assert [lk[5] for lk in ui["links"] if lk[5] == "IMAGE"] == []
    restore = next(v for v in api.values() if v["class_type"] == "SVFRVideoRestore")
    assert api[restore["inputs"]["video"][0]]["class_type"] == "LoadVideo"
    save = next(v for v in api.values() if v["class_type"] == "SaveVideo")
    assert api[save["inputs"]["video"][0]]["class_type"] == "SVFRVideoRestore"
    assert (save["inputs"]["format"], save["inputs"]["codec"]) == ("auto", "auto")
    assert restore["inputs"]["faces"] == "all"
    assert (restore["inputs"]["steps"], restore["inputs"]["pass1_steps"]) == (30, 50)
    twin = _load(API_DIR / "svfr_long_video.api.json")
    twin_restore = next(v for v in twin.values() if v["class_type"] == "SVFRVideoRestore")
    assert (twin_restore["inputs"]["steps"], twin_restore["inputs"]["pass1_steps"]) == (1, 1)
    note = next(n for n in ui["nodes"] if n["type"] == "MarkdownNote")["widgets_values"][0]
    for point in ("memory", "RAM", "file-backed", "24 MB", "What to change"):
        assert point in note, f"the note lacks {point!r}"
