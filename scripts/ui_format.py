"""ComfyUI workflow formats: the UI graph users drag in, and the API prompt /prompt executes.

The UI format stores widget values positionally (``widgets_values``), so mapping them to input names
needs each node type's input order, which comes from ``/object_info``. We keep the part we need in
``node_inputs_snapshot.json`` (checked against the live server by the e2e tests) so the UI/API sync
test runs without a server. Frontend rules reproduced here (ComfyUI frontend 1.32, litegraph):

* widgets follow the input order, required then optional; linked widget inputs keep their slot in
  ``widgets_values`` (the link wins);
* an INT named ``seed``/``noise_seed`` (or with ``control_after_generate``) is followed by its
  "control after generate" value (``fixed``/``randomize``...);
* a combo with ``image_upload``/``video_upload``... adds an upload button after the required inputs
  whose value (``"image"``) is serialized too.
"""
from __future__ import annotations

import uuid

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
UPLOAD_KEYS = ("image_upload", "video_upload", "animated_image_upload", "audio_upload")
CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}
# frontend-only nodes: not in /object_info, never part of the API prompt
VIRTUAL_NODES = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}

# Node geometry of frontend 1.32 (litegraph), in graph units (= CSS px at zoom 1), measured in the page:
# body height = 6 + 20 per socket row (max of socket inputs and outputs) + 24 per widget + 8 if any widget;
# the title bar (30) sits above ``pos``. A saved size below this is grown on load (and then overlaps).
TITLE_H, SLOT_H, WIDGET_ROW_H, WIDGETS_PAD, BODY_PAD = 30, 20, 24, 8, 6
NODE_W = 254  # the frontend's own minimum is 210; frontends 1.49+ size SVFR Restore Video 252 px wide
# what some nodes draw below their widgets: media previews (the image loaders' preview widget asks for
# 220 + 4; the others are sized here and fit their picture into it), the task label of web/js/svfr_task.js
EXTRA_H = {"LoadVideo": 200, "LoadImage": 224, "LoadImageMask": 224, "PreviewImage": 200,
           "SVFRTaskVector": 18, "VHS_LoadVideo": 200, "VHS_VideoCombine": 200}
UI_NAMESPACE = uuid.UUID("5b0f3c52-7f0e-4d35-9a57-51f8d0c7e3a1")  # fixed: ids stay the same across regenerations


def workflow_id(name: str) -> str:
    """The workflow's UUID (the frontend's schema requires one); derived from its name, so stable."""
    return str(uuid.uuid5(UI_NAMESPACE, name))


def node_size(class_type: str, defs: dict, widget_values: list | dict | None = None) -> list[int]:
    """[width, body height] the frontend gives a node of this type (at least; widths are uniform)."""
    if class_type in VIRTUAL_NODES:
        raise ValueError(f"{class_type} has no computed size; give it one")
    d = defs[class_type]
    sockets = sum(1 for e in d["inputs"] if not e.get("widget"))
    rows = max(sockets, len(d["outputs"]), 1)
    if isinstance(widget_values, dict):  # VHS: widgets by name (the preview entry is not a row)
        widgets = sum(1 for k in widget_values if k != "videopreview")
    else:
        widgets = len(_widget_slots(d))
    height = BODY_PAD + SLOT_H * rows + (WIDGET_ROW_H * widgets + WIDGETS_PAD if widgets else 0)
    return [NODE_W, height + EXTRA_H.get(class_type, 0)]


def node_input_order(node_info: dict) -> dict:
    """What the UI format depends on for one node type: inputs in order (+ widget rules), outputs."""
    order = node_info.get("input_order") or {s: list(node_info["input"].get(s, {})) for s in ("required", "optional")}
    inputs = []
    for section in ("required", "optional"):
        for name in order.get(section, []):
            spec = node_info["input"][section][name]
            typ = spec[0]
            opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            if isinstance(typ, list):
                typ = "COMBO"
            entry = {"name": name, "type": typ, "optional": section == "optional"}
            if typ in WIDGET_TYPES:
                entry["widget"] = True
                # no fallback to a combo's first option: file lists differ between servers
                entry["default"] = opts.get("default")
                if (typ == "INT" and opts.get("control_after_generate", name in ("seed", "noise_seed"))) or (
                        typ == "COMBO" and opts.get("control_after_generate")):
                    entry["control"] = True
                if any(opts.get(k) for k in UPLOAD_KEYS):
                    entry["upload"] = True
            inputs.append(entry)
    names = node_info.get("output_name") or node_info["output"]
    return {"inputs": inputs, "outputs": [[n, t] for n, t in zip(names, node_info["output"])]}


def _widget_slots(node_def: dict) -> list[tuple[str | None, str]]:
    """Positional meaning of widgets_values: (input name or None, kind) with kind value/control/upload."""
    slots = []
    required = [e for e in node_def["inputs"] if not e["optional"]]
    optional = [e for e in node_def["inputs"] if e["optional"]]
    for group, last_required in ((required, True), (optional, False)):
        for e in group:
            if e.get("widget"):
                slots.append((e["name"], "value"))
                if e.get("control"):
                    slots.append((e["name"], "control"))
        if last_required and any(e.get("upload") for e in required):
            slots.append((None, "upload"))
    return slots


def ui_to_api(ui: dict, defs: dict) -> dict:
    """Convert a UI graph to the API prompt the frontend would queue (virtual nodes dropped)."""
    links = {lk[0]: lk for lk in ui["links"]}
    api = {}
    for node in ui["nodes"]:
        if node["type"] in VIRTUAL_NODES or node.get("mode", 0) in (2, 4):
            continue
        node_def = defs[node["type"]]
        inputs = {}
        values = node.get("widgets_values") or []
        if isinstance(values, dict):  # VHS nodes serialize widgets by name
            inputs.update({k: v for k, v in values.items() if k != "videopreview"})
        else:
            for (name, kind), value in zip(_widget_slots(node_def), values):
                if kind == "value":
                    inputs[name] = value
        for slot in node.get("inputs", []):
            if slot.get("link") is not None:
                lk = links[slot["link"]]
                inputs[slot["name"]] = [str(lk[1]), lk[2]]
        api[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return api


def widget_values_of(node: dict, defs: dict) -> dict:
    """{input name: value} of a UI node's widgets, plus {'<name>.control': value} for control widgets."""
    values = node.get("widgets_values") or []
    if isinstance(values, dict):  # VHS nodes serialize widgets by name
        return {k: v for k, v in values.items() if k != "videopreview"}
    out = {}
    for (name, kind), value in zip(_widget_slots(defs[node["type"]]), values):
        if kind == "value":
            out[name] = value
        elif kind == "control":
            out[f"{name}.control"] = value
        else:
            out["<upload>"] = value
    return out


def api_to_ui(api: dict, defs: dict, layout: dict[str, tuple[int, int]], titles: dict[str, str] | None = None,
              notes: list[dict] | None = None, extra: dict | None = None, *, name: str) -> dict:
    """Build a UI graph from an API prompt: node ids kept, links numbered in node order.

    ``name`` gives the workflow its UUID (see ``workflow_id``); node sizes come from ``node_size``.
    """
    graph_id = workflow_id(name)
    titles = titles or {}
    nodes, links = [], []
    out_links: dict[tuple[str, int], list[int]] = {}
    link_id = 0
    for nid in sorted(api, key=int):
        spec = api[nid]
        node_def = defs[spec["class_type"]]
        ui_inputs = []
        for e in node_def["inputs"]:
            value = spec["inputs"].get(e["name"])
            linked = isinstance(value, list)
            if e.get("widget") and not linked:
                continue
            if not e.get("widget") or linked:
                if value is None and not e.get("widget"):
                    if not e["optional"]:
                        raise ValueError(f"node {nid} ({spec['class_type']}): required input {e['name']} unset")
                    continue
                slot = {"name": e["name"], "type": e["type"], "link": None}
                if e.get("widget"):
                    slot["widget"] = {"name": e["name"]}
                if linked:
                    link_id += 1
                    src, src_slot = value
                    links.append([link_id, int(src), src_slot, int(nid), len(ui_inputs),
                                  defs[api[src]["class_type"]]["outputs"][src_slot][1]])
                    slot["link"] = link_id
                    out_links.setdefault((src, src_slot), []).append(link_id)
                ui_inputs.append(slot)
        widgets_values = []
        for name, kind in _widget_slots(node_def):
            if kind == "upload":
                widgets_values.append("image")
            elif kind == "control":
                widgets_values.append("fixed")
            else:
                value = spec["inputs"].get(name)
                if isinstance(value, list) or value is None:
                    value = next(e["default"] for e in node_def["inputs"] if e["name"] == name)
                widgets_values.append(value)
        x, y = layout.get(nid, (0, 0))
        node = {"id": int(nid), "type": spec["class_type"], "pos": [x, y],
                "size": node_size(spec["class_type"], defs), "flags": {},
                "order": 0, "mode": 0, "inputs": ui_inputs, "outputs": [],
                "properties": {"Node name for S&R": spec["class_type"]}, "widgets_values": widgets_values}
        if nid in titles:
            node["title"] = titles[nid]
        nodes.append(node)
    for node in nodes:
        node_def = defs[node["type"]]
        node["outputs"] = [{"name": name, "type": typ, "links": out_links.get((str(node["id"]), i), []),
                            "slot_index": i} for i, (name, typ) in enumerate(node_def["outputs"])]
    _topological_order(nodes, links)
    last_id = max(int(n) for n in api)
    for note in notes or []:
        last_id += 1
        nodes.append({"id": last_id, "type": "MarkdownNote", "pos": list(note["pos"]), "size": list(note.get("size", [400, 220])),
                      "flags": {}, "order": len(nodes), "mode": 0, "inputs": [], "outputs": [],
                      "properties": {}, "widgets_values": [note["text"]], "title": note.get("title", "Note"),
                      "color": "#432", "bgcolor": "#653"})
    return {"id": graph_id, "revision": 0, "last_node_id": last_id, "last_link_id": link_id, "nodes": nodes,
            "links": links, "groups": [], "config": {}, "extra": extra or {"ds": {"scale": 0.8, "offset": [0, 0]}},
            "version": 0.4}


def _topological_order(nodes: list[dict], links: list[list]) -> None:
    by_id = {n["id"]: n for n in nodes}
    deps = {n["id"]: {lk[1] for lk in links if lk[3] == n["id"]} for n in nodes}
    done, order = set(), 0
    while len(done) < len(nodes):
        ready = sorted(i for i in deps if i not in done and deps[i] <= done)
        if not ready:
            raise ValueError("workflow graph has a cycle")
        for i in ready:
            by_id[i]["order"] = order
            order += 1
            done.add(i)
