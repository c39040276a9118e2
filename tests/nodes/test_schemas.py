"""Every SVFR node loads through comfy_entrypoint with the documented ids, sockets and tooltips."""
from __future__ import annotations

import re

import pytest

from conftest import REPO_ROOT

pytestmark = pytest.mark.comfy

EXPECTED = {
    # node_id: (inputs in order, outputs in order) -- the contract in docs/nodes.md
    "SVFRModelLoader": (["model_folder", "precision", "vae_precision", "vae"], [("svfr_model", "SVFR_MODEL")]),
    "SVFRFaceDetectorLoader": (["detector"], [("detector", "SVFR_FACE_DETECTOR")]),
    "SVFRFaceCrop": (["images", "detector", "mode", "faces", "index", "crop_size", "if_no_face", "reid"],
                     [("crops", "IMAGE"), ("faces", "SVFR_FACE_CROPS"), ("preview", "IMAGE")]),
    "SVFRTaskVector": (["bfr", "colorization", "inpainting"], [("task", "SVFR_TASK")]),
    "SVFRInpaintMask": (["mask", "space", "faces"], [("mask", "SVFR_MASK")]),
    "SVFRSampler": (["model", "crops", "task", "mask", "reference", "faces", "seed", "steps", "pass1_steps",
                     "guidance_min", "guidance_max", "window", "overlap", "noise_aug", "i2i_strength",
                     "decode_chunk", "preset"],
                    [("restored", "IMAGE"), ("reference", "IMAGE")]),
    "SVFRPasteBack": (["images", "restored", "faces", "feather", "color_match", "erode"],
                      [("images", "IMAGE"), ("mask", "MASK")]),
    "SVFRVideoRestore": (["model", "detector", "task", "video", "mask", "reference", "mode", "faces", "index",
                          "crop_size", "if_no_face", "seed", "steps", "pass1_steps", "guidance_min", "guidance_max",
                          "window", "overlap", "noise_aug", "i2i_strength", "decode_chunk", "feather", "erode",
                          "color_match", "preset", "reid"],
                         [("video", "VIDEO")]),
}


def test_entrypoint_lists_exactly_the_documented_nodes(node_classes):
    assert sorted(node_classes) == sorted(EXPECTED)


@pytest.mark.parametrize("node_id", sorted(EXPECTED))
def test_schema_sockets_tooltips_and_description(node_classes, node_id):
    schema = node_classes[node_id].define_schema()
    schema.validate()
    inputs, outputs = EXPECTED[node_id]
    assert [i.id for i in schema.inputs] == inputs
    # API-format links address outputs by index; display names are what users see (ids must differ
    # from input ids, so e.g. the sampler's 'reference' output has the id 'reference_used')
    # every output carries a display name, else the graph editor shows only its type ("IMAGE")
    assert [(o.display_name, o.io_type) for o in schema.outputs] == outputs
    assert schema.category == "SVFR" and len(schema.description) > 40
    for i in schema.inputs:
        assert i.tooltip and len(i.tooltip) > 10, f"{node_id}.{i.id} has no tooltip"
    for o in schema.outputs:
        assert o.tooltip, f"{node_id} output {o.id} has no tooltip"


def test_v1_info_is_what_the_server_publishes(node_classes):
    """The V1 view (/object_info) keeps optional sockets optional and the defaults documented."""
    info = node_classes["SVFRSampler"].GET_NODE_INFO_V1()
    assert set(info["input"]["optional"]) == {"mask", "reference", "faces", "preset"}
    req = info["input"]["required"]
    assert req["seed"][1]["default"] == 77 and req["steps"][1]["default"] == 30
    assert req["pass1_steps"][1]["default"] == 50 and req["overlap"][1]["default"] == 3
    assert req["guidance_min"][1]["default"] == 2.0 and req["decode_chunk"][1]["default"] == 16


def test_documentation_names_every_input(node_classes):
    """docs/nodes.md (what workflows are written against) names every node and input."""
    doc = (REPO_ROOT / "docs" / "nodes.md").read_text()
    for node_id, (inputs, outputs) in EXPECTED.items():
        section = doc.split(f"## {node_id}")[1].split("\n## ")[0]
        for name in inputs + [o for o, _ in outputs]:
            assert re.search(rf"`{re.escape(name)}`", section), f"docs/nodes.md: {node_id} lacks `{name}`"


def test_help_pages_exist_for_every_node(node_classes):
    for node_id in node_classes:
        page = REPO_ROOT / "web" / "docs" / f"{node_id}.md"
        assert page.is_file() and node_id.replace("SVFR", "") in page.read_text().replace(" ", "")


def test_pack_init_imports_without_comfyui():
    """Importing the pack root outside ComfyUI defines the entrypoint without touching comfy."""
    import subprocess
    import sys

    code = ("import importlib.util, sys; s = importlib.util.spec_from_file_location('p', sys.argv[1], "
            "submodule_search_locations=[sys.argv[2]]); m = importlib.util.module_from_spec(s); "
            "s.loader.exec_module(m); assert m.WEB_DIRECTORY == './web' and callable(m.comfy_entrypoint); "
            "assert 'comfy' not in sys.modules and 'comfy_api' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code, str(REPO_ROOT / "__init__.py"), str(REPO_ROOT)],
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


def test_engine_loads_when_the_pack_folder_is_not_on_sys_path(comfy):
    """Inside ComfyUI the pack folder is not on sys.path: the entrypoint registers `svfr_model` itself."""
    import subprocess
    import sys
    from pathlib import Path

    comfy_root = Path(comfy.__file__).parents[1]
    code = ("import asyncio, importlib.util, sys\n"
            "root, comfy_root = sys.argv[1], sys.argv[2]\n"
            "sys.path = [p for p in sys.path if p not in ('', root)]\n"
            "sys.path.insert(0, comfy_root)\n"
            "from comfy.cli_args import args; args.cpu = True\n"
            "s = importlib.util.spec_from_file_location('comfyui-svfr', root + '/__init__.py', "
            "submodule_search_locations=[root])\n"
            "m = importlib.util.module_from_spec(s); sys.modules['comfyui-svfr'] = m; s.loader.exec_module(m)\n"
            "nodes = asyncio.run(asyncio.run(m.comfy_entrypoint()).get_node_list())\n"
            "import svfr_model.diffusion.passes\n"
            "assert svfr_model.__file__ == root + '/svfr_model/__init__.py' and root not in sys.path\n"
            "print(len(nodes))\n")
    out = subprocess.run([sys.executable, "-c", code, str(REPO_ROOT), str(comfy_root)], capture_output=True,
                         text=True, timeout=300, cwd="/")
    assert out.stdout.strip() == str(len(EXPECTED)), out.stderr[-2000:]


TUNING = ["guidance_min", "guidance_max", "window", "overlap", "noise_aug", "i2i_strength", "decode_chunk"]


@pytest.mark.parametrize("node_id", ["SVFRSampler", "SVFRVideoRestore"])
def test_sampler_seed_fixed_and_tuning_widgets_advanced(node_classes, node_id):
    """The seed control starts at "fixed" where ComfyUI can say so; tuning widgets are marked advanced
    (frontend 1.32+ hides them until "Show Advanced"), the everyday ones stay visible."""
    from comfy_api.latest import io

    req = node_classes[node_id].GET_NODE_INFO_V1()["input"]["required"]
    fixed = getattr(getattr(io, "ControlAfterGenerate", None), "fixed", None)
    # 0.3.75 has no ControlAfterGenerate: True + web/js/svfr_sampler.js (tested in test_sampler_seed_control)
    assert req["seed"][1]["control_after_generate"] == (fixed if fixed is not None else True)
    advanced = sorted(name for name, spec in req.items() if len(spec) > 1 and spec[1].get("advanced"))
    assert advanced == sorted(TUNING)
    for name in ("seed", "steps", "pass1_steps"):
        assert "advanced" not in req[name][1]
