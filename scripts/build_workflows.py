#!/usr/bin/env python3
"""Write the example workflows: ``workflows/NAME.json`` (UI graph users drag in; ComfyUI's template
browser lists the top-level JSONs of this one folder), ``workflows/NAME.jpg`` (its thumbnail there) and
``workflows/api/NAME.api.json`` (its API twin, run by the e2e tests with fewer steps).

Every graph is declared once below as an API prompt with the full (official) settings; the UI file
is generated from it with the node input order of ``node_inputs_snapshot.json``; the twin only
lowers what ``TWIN_OVERRIDES`` allows (sampler steps, frames loaded).

    python scripts/build_workflows.py                       # regenerate the workflow files
    python scripts/build_workflows.py --snapshot URL        # refresh the snapshot from a live server first
    python scripts/build_workflows.py --thumbnails URL      # and screenshot each graph (headless Chromium)
    python scripts/build_workflows.py --only NAME ...       # only these workflows (files and thumbnails)
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
E2E = REPO / "tests" / "e2e"
sys.path[:0] = [str(HERE), str(REPO / "tests")]
from e2e import example_inputs as ex  # noqa: E402
from ui_format import NODE_W, TITLE_H, VIRTUAL_NODES, api_to_ui, node_input_order, node_size  # noqa: E402

SNAPSHOT = E2E / "node_inputs_snapshot.json"  # the one record of every node's inputs (tests read it too)
# what newer hosts publish where core nodes differ (node_inputs_snapshot.<host>.json): saved sizes fit all
HOST_SNAPSHOT = "node_inputs_snapshot.{host}.json"
VHS_VERSION = "VideoHelperSuite 1.7.9"  # the version the tests install (tests/e2e/hosts.py)
VHS_INPUTS = E2E / "vhs_node_inputs.json"
WORKFLOWS = REPO / "workflows"
API_DIR = WORKFLOWS / "api"  # API twins: out of the folder ComfyUI lists as templates
THUMB_W = 640  # thumbnail width (px): the card shows it ~250 px wide (object-contain); small jpg files

# What an API twin may change (lower) with respect to its UI workflow, per node type.
TWIN_OVERRIDES = {
    "SVFRSampler": {"steps": 1, "pass1_steps": 1},
    "SVFRVideoRestore": {"steps": 1, "pass1_steps": 1},
    "VHS_LoadVideo": {"frame_load_cap": 16},
}

MODELS_NOTE = (
    "## SVFR models\n"
    "Put the official SVFR files in `ComfyUI/models/svfr/` (or a sub-folder, chosen in the loader):\n\n"
    "- `face_restoration/unet.pth`, `id_linear.pth`, `insightface_glint360k.pth` (SVFR Google Drive)\n"
    "- `stable-video-diffusion-img2vid-xt/` with `vae/` (Hugging Face stabilityai/stable-video-diffusion-img2vid-xt)\n\n"
    "Or connect the VAE of *Image Only Checkpoint Loader* (svd_xt.safetensors) to the loader's `vae` input.\n\n"
    "Missing files: in a new, empty workflow tab add *SVFR Download Models*, turn on `accept_licence` (SVFR weights: "
    "non-commercial research only) and queue it; or run\n"
    "`python -m svfr_model download ComfyUI/models/svfr --accept-licence`.\n"
)


def _base(video: str = ex.VIDEO_NAME, faces: str = "all", bfr: bool = True, colorization: bool = False,
          inpainting: bool = False, prefix: str = "svfr/restored") -> dict:
    """LoadVideo -> GetVideoComponents -> crop -> sampler -> paste back -> CreateVideo -> SaveVideo."""
    return {
        "1": {"class_type": "LoadVideo", "inputs": {"file": video}},
        "2": {"class_type": "GetVideoComponents", "inputs": {"video": ["1", 0]}},
        "3": {"class_type": "SVFRModelLoader", "inputs": {"model_folder": ".", "precision": "auto",
                                                          "vae_precision": "auto"}},
        "4": {"class_type": "SVFRFaceDetectorLoader", "inputs": {"detector": "retinaface (embedded)"}},
        "5": {"class_type": "SVFRFaceCrop", "inputs": {
            "images": ["2", 0], "detector": ["4", 0], "mode": "tracked", "faces": faces, "index": 0,
            "crop_size": 512, "if_no_face": "pass through", "reid": "appearance"}},
        "6": {"class_type": "SVFRTaskVector", "inputs": {"bfr": bfr, "colorization": colorization,
                                                         "inpainting": inpainting}},
        "7": {"class_type": "SVFRSampler", "inputs": {
            "model": ["3", 0], "crops": ["5", 0], "task": ["6", 0], "faces": ["5", 1],
            "seed": 77, "steps": 30, "pass1_steps": 50, "guidance_min": 2.0, "guidance_max": 2.0,
            "window": 16, "overlap": 3, "noise_aug": 0.0, "i2i_strength": 1.0, "decode_chunk": 16,
            "preset": "default"}},
        "8": {"class_type": "SVFRPasteBack", "inputs": {
            "images": ["2", 0], "restored": ["7", 0], "faces": ["5", 1], "feather": 32,
            "color_match": "lab", "erode": 24}},
        "9": {"class_type": "CreateVideo", "inputs": {"images": ["8", 0], "fps": ["2", 2], "audio": ["2", 1]}},
        "10": {"class_type": "SaveVideo", "inputs": {"video": ["9", 0], "filename_prefix": prefix,
                                                     "format": "auto", "codec": "auto"}},
        "11": {"class_type": "PreviewImage", "inputs": {"images": ["5", 2]}},
    }


def wf_bfr() -> dict:
    return _base(prefix="svfr/bfr")


def wf_bfr_colorization() -> dict:
    return _base(faces="largest", colorization=True, prefix="svfr/bfr_colorization")


def wf_inpainting() -> dict:
    g = _base(faces="largest", inpainting=True, prefix="svfr/inpainting")
    g["12"] = {"class_type": "LoadImageMask", "inputs": {"image": ex.MASK_NAME, "channel": "red"}}
    g["13"] = {"class_type": "SVFRInpaintMask", "inputs": {"mask": ["12", 0], "space": "frame", "faces": ["5", 1]}}
    g["7"]["inputs"]["mask"] = ["13", 0]
    return g


def wf_restore_upscale() -> dict:
    g = _base(faces="largest", prefix="svfr/restore_upscale")
    g["12"] = {"class_type": "ImageScaleBy", "inputs": {"image": ["8", 0], "upscale_method": "lanczos",
                                                        "scale_by": 2.0}}
    g["9"]["inputs"]["images"] = ["12", 0]
    return g


def wf_srr_reference_photo() -> dict:
    g = _base(faces="largest", prefix="svfr/srr_reference")
    g["12"] = {"class_type": "LoadImage", "inputs": {"image": ex.REFERENCE_NAME}}
    g["7"]["inputs"]["reference"] = ["12", 0]
    g["13"] = {"class_type": "PreviewImage", "inputs": {"images": ["7", 1]}}
    return g


def wf_vhs() -> dict:
    g = _base(prefix="svfr/vhs")
    del g["1"], g["9"], g["10"]
    g["2"] = {"class_type": "VHS_LoadVideo", "inputs": {
        "video": ex.VIDEO_NAME, "force_rate": 0, "custom_width": 0, "custom_height": 0, "frame_load_cap": 0,
        "skip_first_frames": 0, "select_every_nth": 1, "format": "None"}}  # 0 / None: frames as they are
    g["9"] = {"class_type": "VHS_VideoInfoLoaded", "inputs": {"video_info": ["2", 3]}}
    g["10"] = {"class_type": "VHS_VideoCombine", "inputs": {
        "images": ["8", 0], "frame_rate": ["9", 0], "loop_count": 0, "filename_prefix": "svfr/vhs",
        "format": "video/h264-mp4", "pingpong": False, "save_output": True, "audio": ["2", 2],
        "pix_fmt": "yuv420p", "crf": 19, "save_metadata": True, "trim_to_audio": False}}
    return g


def wf_long_video() -> dict:
    """LoadVideo -> SVFRVideoRestore (streamed from file to file) -> SaveVideo: no IMAGE batch anywhere."""
    return {
        "1": {"class_type": "LoadVideo", "inputs": {"file": ex.VIDEO_NAME}},
        "2": {"class_type": "SVFRModelLoader", "inputs": {"model_folder": ".", "precision": "auto",
                                                          "vae_precision": "auto"}},
        "3": {"class_type": "SVFRFaceDetectorLoader", "inputs": {"detector": "retinaface (embedded)"}},
        "4": {"class_type": "SVFRTaskVector", "inputs": {"bfr": True, "colorization": False, "inpainting": False}},
        "5": {"class_type": "SVFRVideoRestore", "inputs": {
            "model": ["2", 0], "detector": ["3", 0], "task": ["4", 0], "video": ["1", 0],
            "mode": "tracked", "faces": "all", "index": 0, "crop_size": 512, "if_no_face": "pass through",
            "seed": 77, "steps": 30, "pass1_steps": 50, "guidance_min": 2.0, "guidance_max": 2.0,
            "window": 16, "overlap": 3, "noise_aug": 0.0, "i2i_strength": 1.0, "decode_chunk": 16,
            "feather": 32, "erode": 24, "color_match": "lab", "preset": "default", "reid": "auto"}},
        # format/codec "auto": Save Video copies the restored file's streams, no frame is decoded
        "6": {"class_type": "SaveVideo", "inputs": {"video": ["5", 0], "filename_prefix": "svfr/long_video",
                                                    "format": "auto", "codec": "auto"}},
    }


LONG_VIDEO_NOTE = (
    "## Why this node for long clips\n"
    "The modular graph (Face Crop -> Sampler -> Paste Back) passes IMAGE batches: every frame as float32, "
    "H x W x 3 x 4 bytes (1080p: ~24 MB a frame, so one minute at 30 fps is ~45 GB of RAM for the frames, "
    "and as much again for the pasted result). "
    "**SVFR Restore Video** reads the video from its file and writes the result chunk by chunk, so RAM does "
    "not grow with the length. For the whole video it keeps only the crop record (a transform and landmarks "
    "per frame and face) and each face's latents (64 KB a frame at 512); frames are decoded and pasted a chunk "
    "at a time. Its output is a file-backed VIDEO (an MP4 in ComfyUI's temp folder): Save Video with format "
    "and codec `auto` copies it without decoding. Fps, timestamps and audio are kept.\n\n"
    "## What to change\n"
    "- **Load Video**: your clip (any size and length).\n"
    "- `faces`: `all` (every face), `largest`, or `index`.\n"
    "- **SVFR Task**: add colorization; inpainting takes one `mask` for all frames.\n"
    "- `steps` / `pass1_steps`: 30 / 50 are the official values; fewer is faster.\n"
    "- `preset`: `low_vram` for 8 GB GPUs; `reference`: a good photo of the face skips pass 1.\n\n"
)
# Notes longer than the others: their height (graph units) so the text fits
NOTE_HEIGHTS = {"svfr_long_video": 440}


WORKFLOWS_SPEC = {
    "svfr_bfr_video": (wf_bfr, "Blind face restoration of every face in a (non-square) video; fps and audio kept."),
    "svfr_bfr_colorization": (wf_bfr_colorization, "Restoration + colorization of an old black-and-white clip."),
    "svfr_inpainting": (wf_inpainting, "Restoration + inpainting: a mask drawn on the video frames fills the region."),
    "svfr_restore_upscale": (wf_restore_upscale, "Restore the faces, then upscale the whole frame 2x."),
    "svfr_srr_reference_photo": (wf_srr_reference_photo,
                                 "Self-referred refinement with your own reference photo of the face (pass 1 skipped)."),
    "svfr_vhs": (wf_vhs, "The same restoration with VideoHelperSuite's Load Video / Video Combine."),
    "svfr_long_video": (wf_long_video, "Long videos: every face restored by the streaming node, from file to file, "
                                       "with memory that does not grow with the length."),
}
NOTE_EXTRA = {"svfr_long_video": LONG_VIDEO_NOTE}


def vhs_defs() -> dict:
    """node_input_order-style definitions of the VHS nodes, from VHS's published inputs."""
    data = json.loads(VHS_INPUTS.read_text())
    defs = {}
    for node, spec in data.items():
        if node.startswith("_"):
            continue
        inputs = []
        for section in ("required", "optional"):
            for name, s in spec.get(section, {}).items():
                e = {"name": name, "type": s["type"], "optional": section == "optional"}
                if s["type"] in ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"):
                    e["widget"] = True
                    e["default"] = s.get("default", (s.get("options") or [None])[0])
                inputs.append(e)
        defs[node] = {"inputs": inputs, "outputs": spec["outputs"], "format_widgets": spec.get("format_widgets", {})}
    return defs


def load_defs() -> dict:
    defs = json.loads(SNAPSHOT.read_text())
    defs.update(vhs_defs())
    return defs


def host_defs() -> list[dict]:
    """The other hosts' snapshots: a node saved at the largest size any tested host computes for it is drawn
    at that size everywhere (a frontend keeps a larger saved size, and grows a smaller one over its neighbour)."""
    return [json.loads(p.read_text()) for p in sorted(E2E.glob(HOST_SNAPSHOT.format(host="*")))]


def fit_all_hosts(ui: dict, others: list[dict]) -> None:
    for node in ui["nodes"]:
        if node["type"] in VIRTUAL_NODES or node["type"].startswith("VHS_"):
            continue
        for defs in others:
            if node["type"] in defs:
                size = node_size(node["type"], defs)
                node["size"] = [max(a, b) for a, b in zip(node["size"], size)]


def used_types() -> set[str]:
    return {n["class_type"] for f, _ in WORKFLOWS_SPEC.values() for n in f().values()}


def object_info(url: str) -> dict:
    with urllib.request.urlopen(url.rstrip("/") + "/object_info", timeout=120) as r:
        return json.loads(r.read())


def refresh_snapshot(url: str, path: Path = SNAPSHOT) -> None:
    """The inputs of every node type the workflows use and every SVFR node, as ``url`` publishes them."""
    info = object_info(url)
    types = (used_types() | {t for t in info if t.startswith("SVFR")}) - {t for t in info if t.startswith("VHS_")}
    snap = {t: node_input_order(info[t]) for t in sorted(types) if t in info}
    # file choices depend on the server's folders: keep only the structure
    write_atomic(path, json.dumps(snap, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path} ({len(snap)} node types)")


def refresh_vhs_inputs(url: str) -> None:
    """vhs_node_inputs.json from a server running VideoHelperSuite: the VHS nodes' inputs, and the widgets of
    the h264-mp4 format the workflow uses (VHS publishes them under the format combo's ``formats``)."""
    info = object_info(url)
    out: dict = {"_source": {"from": f"/object_info of a ComfyUI running VideoHelperSuite ({VHS_VERSION})",
                             "note": "widgets_values of VHS nodes are serialized by VHS's frontend as an object "
                                     "keyed by widget name (plus a 'videopreview' entry)."}}
    for node in sorted(t for t in used_types() if t.startswith("VHS_")):
        spec = info[node]
        entry: dict = {}
        for section in ("required", "optional"):
            for name, s in spec["input"].get(section, {}).items():
                typ, opts = s[0], (s[1] if len(s) > 1 and isinstance(s[1], dict) else {})
                e: dict = {"type": "COMBO" if isinstance(typ, list) else typ}
                if isinstance(typ, list) and not (node == "VHS_LoadVideo" and name == "video"):  # files differ
                    e["options"] = typ
                for k in ("default", "min", "max"):
                    if k in opts:
                        e[k] = opts[k]
                entry.setdefault(section, {})[name] = e
                if name == "format" and "formats" in opts:
                    entry["format_widgets"] = {f: _format_widgets(w) for f, w in opts["formats"].items()
                                               if f == "video/h264-mp4"}
        entry["outputs"] = [[n, t] for n, t in zip(spec.get("output_name") or spec["output"], spec["output"])]
        out[node] = entry
    write_atomic(VHS_INPUTS, json.dumps(out, indent=2) + "\n")
    print(f"wrote {VHS_INPUTS}")


def _format_widgets(widgets: list) -> dict:
    """VHS's [name, type or options, {default...}] format widgets -> {name: {type, options | default}}."""
    out = {}
    for w in widgets:
        name, kind = w[0], w[1]
        opts = w[2] if len(w) > 2 and isinstance(w[2], dict) else {}
        e = {"type": "COMBO", "options": kind} if isinstance(kind, list) else {"type": kind}
        if "default" in opts:
            e["default"] = opts["default"]
        out[name] = e
    return out


# Layout, in graph units: columns by data flow, nodes stacked in a column with room for their title bars.
COL_GAP, ROW_GAP, ORIGIN = 50, 30, (0, 0)
NOTE_SIZE = (NODE_W * 2 + COL_GAP, 300)
# The saved view (extra.ds) fits the graph into this part of a 1600x900 page: right of the sidebar (59 px),
# below the tab bar, banner and floating menu (~130 px), above the minimap (bottom right from ~640 px).
VIEW_BOX = (80, 145, 1580, 630)
# Below this zoom the frontend draws nodes without text (min_font_size_for_lod 8 px / 14 px text).
MIN_SCALE = 0.6


def depths(api: dict) -> dict[str, int]:
    """Longest path from a source, per node."""
    depth: dict[str, int] = {}

    def d(nid: str) -> int:
        if nid not in depth:
            srcs = [v[0] for v in api[nid]["inputs"].values() if isinstance(v, list)]
            depth[nid] = 1 + max((d(s) for s in srcs), default=-1)
        return depth[nid]

    for nid in api:
        d(nid)
    return depth


def place(ui: dict, api: dict, note_height: int = NOTE_SIZE[1]) -> None:
    """Set every node's pos (no two overlap at their real size, title bars included) and the saved view.

    Nodes with inputs go in the column of their depth; each source then goes, left of its first
    consumer, into the column that is least tall so far (keeps the graph low enough to stay readable).
    """
    depth = depths(api)
    nodes = {str(n["id"]): n for n in ui["nodes"] if str(n["id"]) in api}
    consumers = {nid: [c for c, cs in api.items() if any(isinstance(v, list) and v[0] == nid
                                                         for v in cs["inputs"].values())] for nid in api}
    bottoms: dict[int, int] = {}

    def stack(node: dict, c: int) -> None:
        y = bottoms.get(c, ORIGIN[1] - ROW_GAP) + ROW_GAP + TITLE_H
        node["pos"] = [ORIGIN[0] + c * (NODE_W + COL_GAP), y]
        bottoms[c] = y + node["size"][1]

    is_source = {nid: not any(isinstance(v, list) for v in api[nid]["inputs"].values()) for nid in api}
    for nid in sorted((n for n in api if not is_source[n]), key=lambda n: (depth[n], int(n))):
        stack(nodes[nid], depth[nid])
    for nid in sorted((n for n in api if is_source[n]), key=int):
        last = max(0, min((depth[c] for c in consumers[nid]), default=1) - 1)
        stack(nodes[nid], min(range(last + 1), key=lambda c: (bottoms.get(c, 0), -c)))
    # the note goes under two neighbouring columns or right of the last one: where the graph, fitted
    # into the view, stays largest
    n_cols = max(bottoms) + 1
    spots = [(c * (NODE_W + COL_GAP), max(bottoms.get(c, 0), bottoms.get(c + 1, 0)) + ROW_GAP + TITLE_H)
             for c in range(max(1, n_cols - 1))] + [(n_cols * (NODE_W + COL_GAP), TITLE_H)]
    notes = [n for n in ui["nodes"] if str(n["id"]) not in api]
    for note in notes:
        note["size"] = [NOTE_SIZE[0], note_height]

    def fitted_scale(note: dict, spot: tuple[int, int]) -> float:
        note["pos"] = [ORIGIN[0] + spot[0], spot[1]]
        return _fit(graph_box(ui["nodes"]))[0]

    for note in notes:
        best = max(spots, key=lambda spot: fitted_scale(note, spot))
        note["pos"] = [ORIGIN[0] + best[0], best[1]]
    ui["extra"] = {**ui.get("extra", {}), "ds": saved_view(ui["nodes"])}


def graph_box(nodes: list[dict]) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of all nodes, title bars included."""
    return (min(n["pos"][0] for n in nodes), min(n["pos"][1] - TITLE_H for n in nodes),
            max(n["pos"][0] + n["size"][0] for n in nodes), max(n["pos"][1] + n["size"][1] for n in nodes))


def _fit(box: tuple[float, float, float, float]) -> tuple[float, list[float]]:
    """(scale, offset) showing ``box`` centred in VIEW_BOX: screen = (graph + offset) * scale."""
    left, top, right, bottom = box
    vx0, vy0, vx1, vy1 = VIEW_BOX
    scale = min(1.0, (vx1 - vx0) / (right - left), (vy1 - vy0) / (bottom - top))
    scale = int(scale * 1000) / 1000  # round down: never larger than the box
    return scale, [round(((vx0 + vx1) / 2) / scale - (left + right) / 2, 1),
                   round(((vy0 + vy1) / 2) / scale - (top + bottom) / 2, 1)]


def saved_view(nodes: list[dict]) -> dict:
    """extra.ds that shows the whole graph in VIEW_BOX, at a zoom where its text is drawn."""
    box = graph_box(nodes)
    scale, offset = _fit(box)
    if scale < MIN_SCALE:
        raise ValueError(f"the graph ({box[2] - box[0]:.0f}x{box[3] - box[1]:.0f}) needs zoom {scale} to fit the "
                         f"view; below {MIN_SCALE} its text is not drawn: make the layout more compact")
    return {"scale": scale, "offset": offset}


def twin_of(api: dict) -> dict:
    twin = copy.deepcopy(api)
    for node in twin.values():
        node["inputs"].update(TWIN_OVERRIDES.get(node["class_type"], {}))
    return twin


def _vhs_widgets(node: dict, api_node: dict, defs: dict) -> None:
    """VHS's frontend stores widgets_values as {name: value} (format widgets included)."""
    d = defs[node["type"]]
    values = {}
    for e in d["inputs"]:
        if e.get("widget"):
            v = api_node["inputs"].get(e["name"], e.get("default"))
            values[e["name"]] = e.get("default") if isinstance(v, list) else v
    for name in d.get("format_widgets", {}).get(api_node["inputs"].get("format"), {}):
        values[name] = api_node["inputs"][name]
    values["videopreview"] = {"hidden": False, "paused": False, "params": {}}
    node["widgets_values"] = values


def build_one(name: str, defs: dict) -> tuple[dict, dict]:
    make, description = WORKFLOWS_SPEC[name]
    api = make()
    notes = [{"pos": (0, 0), "title": "About this workflow",
              "text": f"# {name}\n{description}\n\n{NOTE_EXTRA.get(name, '')}Input files go to `ComfyUI/input/`.\n\n"
                      + MODELS_NOTE}]
    ui = api_to_ui(api, defs, {}, notes=notes, name=name)
    fit_all_hosts(ui, host_defs())
    for node in ui["nodes"]:
        if node["type"].startswith("VHS_"):
            _vhs_widgets(node, api[str(node["id"])], defs)
            node["size"] = node_size(node["type"], defs, node["widgets_values"])
    place(ui, api, NOTE_HEIGHTS.get(name, NOTE_SIZE[1]))
    return ui, twin_of(api)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write to a temporary name beside ``path``, then rename: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    tmp.replace(path)


def write_thumbnails(url: str, names: list[str]) -> None:
    """``workflows/NAME.jpg``: the graph as the template browser opens it, screenshotted in Chromium.

    Frontend 1.32 asks for a custom-node template's thumbnail at ``/api/workflow_templates/<pack>/NAME.jpg``.
    """
    import io

    from PIL import Image

    from e2e.frontend_page import open_page

    with open_page(url) as page:
        for name in names:
            page.load_graph(json.loads((WORKFLOWS / f"{name}.json").read_text()))
            page.close_dialogs()  # e.g. VHS missing here: its nodes are drawn as missing, the dialog goes
            png = page.graph_screenshot()
            img = Image.open(io.BytesIO(png)).convert("RGB")
            img.thumbnail((THUMB_W, THUMB_W))
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=82, optimize=True)
            write_atomic(WORKFLOWS / f"{name}.jpg", buf.getvalue())
            print(f"wrote {name}.jpg ({len(buf.getvalue()) // 1024} KB, {img.width}x{img.height})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--snapshot", metavar="URL", help="refresh node_inputs_snapshot.json from a running ComfyUI 0.3.75")
    ap.add_argument("--host-snapshot", metavar="HOST=URL", action="append", default=[],
                    help="refresh node_inputs_snapshot.HOST.json from that host running at URL (e.g. 0.33.0=http://...)")
    ap.add_argument("--vhs", metavar="URL", help="refresh vhs_node_inputs.json from a server running VideoHelperSuite")
    ap.add_argument("--thumbnails", metavar="URL",
                    help="screenshot each UI workflow in a running ComfyUI (headless Chromium) into workflows/NAME.jpg")
    ap.add_argument("--only", nargs="+", metavar="NAME", choices=list(WORKFLOWS_SPEC),
                    help="write only these workflows (e.g. a new one, leaving the others' thumbnails as they are)")
    args = ap.parse_args()
    names = args.only or list(WORKFLOWS_SPEC)
    if args.snapshot:
        refresh_snapshot(args.snapshot)
    for item in args.host_snapshot:
        host, url = item.split("=", 1)
        refresh_snapshot(url, E2E / HOST_SNAPSHOT.format(host=host))
    if args.vhs:
        refresh_vhs_inputs(args.vhs)
    defs = load_defs()
    API_DIR.mkdir(parents=True, exist_ok=True)
    for name in names:
        ui, twin = build_one(name, defs)
        write_atomic(WORKFLOWS / f"{name}.json", json.dumps(ui, indent=1, ensure_ascii=False) + "\n")
        write_atomic(API_DIR / f"{name}.api.json", json.dumps(twin, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {name}")
    if args.thumbnails:
        write_thumbnails(args.thumbnails, names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
