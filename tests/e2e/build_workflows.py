#!/usr/bin/env python3
"""Write the example workflows: ``workflows/NAME.json`` (UI graph users drag in),
``workflows/api/NAME.api.json`` (its API twin, run by the e2e tests with fewer steps) and
``example_workflows/NAME.json`` (ComfyUI's template browser shows those).

Every graph is declared once below as an API prompt with the full (official) settings; the UI file
is generated from it with the node input order of ``node_inputs_snapshot.json``; the twin only
lowers what ``TWIN_OVERRIDES`` allows (sampler steps, frames loaded).

    python tests/e2e/build_workflows.py                       # regenerate the workflow files
    python tests/e2e/build_workflows.py --snapshot URL        # refresh the snapshot from a live server first
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
from e2e import example_inputs as ex  # noqa: E402
from e2e.ui_format import api_to_ui, node_input_order  # noqa: E402

SNAPSHOT = HERE / "node_inputs_snapshot.json"
VHS_INPUTS = HERE / "vhs_node_inputs.json"
WORKFLOWS = REPO / "workflows"
API_DIR = WORKFLOWS / "api"  # API twins: out of the folder ComfyUI lists as templates
TEMPLATES = REPO / "example_workflows"

# What an API twin may change (lower) with respect to its UI workflow, per node type.
TWIN_OVERRIDES = {
    "SVFRSampler": {"steps": 1, "pass1_steps": 1},
    "VHS_LoadVideo": {"frame_load_cap": 16},
}

MODELS_NOTE = (
    "## SVFR models\n"
    "Put the official SVFR files in `ComfyUI/models/svfr/` (or a sub-folder, chosen in the loader):\n\n"
    "- `face_restoration/unet.pth`, `id_linear.pth`, `insightface_glint360k.pth` (SVFR Google Drive)\n"
    "- `stable-video-diffusion-img2vid-xt/` with `vae/` (Hugging Face stabilityai/stable-video-diffusion-img2vid-xt)\n\n"
    "Or connect the VAE of *Image Only Checkpoint Loader* (svd_xt.safetensors) to the loader's `vae` input.\n"
)


def _base(video: str = ex.VIDEO_NAME, faces: str = "all", bfr: bool = True, colorization: bool = False,
          inpainting: bool = False, prefix: str = "svfr/restored") -> dict:
    """LoadVideo -> GetVideoComponents -> crop -> sampler -> paste back -> CreateVideo -> SaveVideo."""
    return {
        "1": {"class_type": "LoadVideo", "inputs": {"file": video}},
        "2": {"class_type": "GetVideoComponents", "inputs": {"video": ["1", 0]}},
        "3": {"class_type": "SVFRModelLoader", "inputs": {"model_folder": ".", "precision": "auto"}},
        "4": {"class_type": "SVFRFaceDetectorLoader", "inputs": {"detector": "retinaface (embedded)"}},
        "5": {"class_type": "SVFRFaceCrop", "inputs": {
            "images": ["2", 0], "detector": ["4", 0], "mode": "tracked", "faces": faces, "index": 0,
            "crop_size": 512, "if_no_face": "pass through"}},
        "6": {"class_type": "SVFRTaskVector", "inputs": {"bfr": bfr, "colorization": colorization,
                                                         "inpainting": inpainting}},
        "7": {"class_type": "SVFRSampler", "inputs": {
            "model": ["3", 0], "crops": ["5", 0], "task": ["6", 0], "faces": ["5", 1],
            "seed": 77, "steps": 30, "pass1_steps": 50, "guidance_min": 2.0, "guidance_max": 2.0,
            "window": 16, "overlap": 3, "noise_aug": 0.0, "i2i_strength": 1.0, "decode_chunk": 16}},
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
        "video": ex.VIDEO_NAME, "force_rate": 0, "force_size": "Disabled", "custom_width": 512,
        "custom_height": 512, "frame_load_cap": 0, "skip_first_frames": 0, "select_every_nth": 1}}
    g["9"] = {"class_type": "VHS_VideoInfoLoaded", "inputs": {"video_info": ["2", 3]}}
    g["10"] = {"class_type": "VHS_VideoCombine", "inputs": {
        "images": ["8", 0], "frame_rate": ["9", 0], "loop_count": 0, "filename_prefix": "svfr/vhs",
        "format": "video/h264-mp4", "pingpong": False, "save_output": True, "audio": ["2", 2],
        "pix_fmt": "yuv420p", "crf": 19, "save_metadata": True, "trim_to_audio": False}}
    return g


WORKFLOWS_SPEC = {
    "svfr_bfr_video": (wf_bfr, "Blind face restoration of every face in a (non-square) video; fps and audio kept."),
    "svfr_bfr_colorization": (wf_bfr_colorization, "Restoration + colorization of an old black-and-white clip."),
    "svfr_inpainting": (wf_inpainting, "Restoration + inpainting: a mask drawn on the video frames fills the region."),
    "svfr_restore_upscale": (wf_restore_upscale, "Restore the faces, then upscale the whole frame 2x."),
    "svfr_srr_reference_photo": (wf_srr_reference_photo,
                                 "Self-referred refinement with your own reference photo of the face (pass 1 skipped)."),
    "svfr_vhs": (wf_vhs, "The same restoration with VideoHelperSuite's Load Video / Video Combine."),
}


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


def used_types() -> set[str]:
    return {n["class_type"] for f, _ in WORKFLOWS_SPEC.values() for n in f().values()}


def refresh_snapshot(url: str) -> None:
    with urllib.request.urlopen(url.rstrip("/") + "/object_info", timeout=120) as r:
        info = json.loads(r.read())
    snap = {t: node_input_order(info[t]) for t in sorted(used_types()) if not t.startswith("VHS_")}
    # file choices depend on the server's folders: keep only the structure
    SNAPSHOT.write_text(json.dumps(snap, indent=1, sort_keys=True) + "\n")
    print(f"wrote {SNAPSHOT} ({len(snap)} node types)")


def layout(api: dict) -> dict[str, tuple[int, int]]:
    depth: dict[str, int] = {}

    def d(nid: str) -> int:
        if nid not in depth:
            srcs = [v[0] for v in api[nid]["inputs"].values() if isinstance(v, list)]
            depth[nid] = 1 + max((d(s) for s in srcs), default=-1)
        return depth[nid]

    pos, rows = {}, {}
    for nid in sorted(api, key=int):
        col = d(nid)
        row = rows.get(col, 0)
        rows[col] = row + 1
        pos[nid] = (40 + 380 * col, 60 + 260 * row)
    return pos


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
    pos = layout(api)
    max_x = max(x for x, _ in pos.values())
    notes = [{"pos": (max_x + 400, 60), "size": (420, 300), "title": "About this workflow",
              "text": f"# {name}\n{description}\n\nInput files go to `ComfyUI/input/`.\n\n" + MODELS_NOTE}]
    ui = api_to_ui(api, defs, pos, notes=notes)
    for node in ui["nodes"]:
        if node["type"].startswith("VHS_"):
            _vhs_widgets(node, api[str(node["id"])], defs)
    return ui, twin_of(api)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--snapshot", metavar="URL", help="refresh node_inputs_snapshot.json from a running ComfyUI")
    args = ap.parse_args()
    if args.snapshot:
        refresh_snapshot(args.snapshot)
    defs = load_defs()
    API_DIR.mkdir(parents=True, exist_ok=True)
    TEMPLATES.mkdir(exist_ok=True)
    for name in WORKFLOWS_SPEC:
        ui, twin = build_one(name, defs)
        text = json.dumps(ui, indent=1, ensure_ascii=False) + "\n"
        (WORKFLOWS / f"{name}.json").write_text(text)
        (TEMPLATES / f"{name}.json").write_text(text)
        (API_DIR / f"{name}.api.json").write_text(json.dumps(twin, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
