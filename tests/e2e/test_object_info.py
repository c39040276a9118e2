"""The real ComfyUI lists every SVFR node with the inputs and outputs documented in docs/nodes.md."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HERE = Path(__file__).resolve().parent

# node id -> (required inputs, optional inputs, output types), from the one snapshot of the nodes' inputs
# (test_widget_snapshot_matches_live_server below keeps it equal to what this server publishes)
SNAPSHOT = json.loads((HERE / "node_inputs_snapshot.json").read_text())
EXPECTED = {node_id: ([i["name"] for i in d["inputs"] if not i["optional"]],
                      [i["name"] for i in d["inputs"] if i["optional"]], [t for _, t in d["outputs"]])
            for node_id, d in SNAPSHOT.items() if node_id.startswith("SVFR")}


def test_every_svfr_node_of_the_server_is_in_the_snapshot(info):
    assert sorted(k for k in info if k.startswith("SVFR")) == sorted(EXPECTED)


@pytest.fixture(scope="module")
def info(client) -> dict:
    return client.object_info()


@pytest.mark.parametrize("node_id", sorted(EXPECTED))
def test_node_listed_with_its_inputs(info, node_id, server_log):
    assert node_id in info, f"{node_id} missing from /object_info; server log:\n{server_log()}"
    node = info[node_id]
    required, optional, outputs = EXPECTED[node_id]
    assert sorted(node["input"].get("required", {})) == sorted(required)
    assert sorted(node["input"].get("optional", {})) == sorted(optional)
    assert list(node["output"]) == outputs
    assert node["category"].startswith("SVFR")
    assert node["description"], f"{node_id} has no description"
    # every input has a tooltip (the conventions ask for one)
    for section in ("required", "optional"):
        for name, spec in node["input"].get(section, {}).items():
            opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            assert opts.get("tooltip"), f"{node_id}.{name} has no tooltip"


def test_model_folder_lists_the_test_models(info):
    choices = info["SVFRModelLoader"]["input"]["required"]["model_folder"]
    options = choices[1].get("options", choices[0]) if choices[0] == "COMBO" else choices[0]
    assert "." in options and "missing_arcface" in options


def test_pack_web_directory_and_templates_served(client):
    exts = client._get("/extensions")
    assert any(e.startswith("/extensions/comfyui-svfr/") for e in exts), exts
    templates = client._get("/workflow_templates")
    shipped = sorted(p.stem for p in (HERE.parents[1] / "workflows").glob("*.json"))
    assert shipped
    pack = next(k for k in templates if k == "comfyui-svfr")
    assert set(shipped) <= set(templates[pack])
    # API-format twins live in workflows/api/, out of the template browser (they are not UI graphs)
    assert not [n for n in templates[pack] if n.endswith(".api")], templates[pack]
    for name in shipped:  # served as the UI graph the template browser opens
        graph = client._get(f"/api/workflow_templates/{pack}/{name}.json")
        assert "nodes" in graph and "links" in graph


def snapshot_path(host) -> Path:
    """The node-input snapshot of a host: node_inputs_snapshot.json (0.3.75, what the templates are built
    from) or node_inputs_snapshot.<host>.json (core video nodes grew sockets and widgets in 0.33.0)."""
    return HERE / ("node_inputs_snapshot.json" if host.name == "0.3.75" else f"node_inputs_snapshot.{host.name}.json")


def test_widget_snapshot_matches_live_server(info, host):
    """tests/e2e/node_inputs_snapshot*.json (used offline by tests/test_workflows.py) is current."""
    snap_path = snapshot_path(host)
    snap = json.loads(snap_path.read_text())
    from ui_format import node_input_order

    stale = {t: (snap[t], node_input_order(info[t])) for t in snap
             if t in info and snap[t] != node_input_order(info[t])}
    missing = [t for t in snap if t not in info]
    assert not missing, f"node types gone from the server: {missing}"
    assert not stale, ("node inputs changed; regenerate with `python scripts/build_workflows.py "
                       f"--snapshot URL`: {json.dumps(stale)[:3000]}")
