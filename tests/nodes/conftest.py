"""Fixtures for node-level tests: ComfyUI on sys.path (CPU mode) and the pack loaded as ComfyUI does.

ComfyUI comes from $COMFYUI_DIR or .cache/comfyui (bash scripts/comfy_host.sh install). It goes first
on sys.path: ComfyUI's top-level `nodes` module must win over this repo's `nodes/` package, which is
only ever imported as a sub-package of the pack.
"""
from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from pathlib import Path

import pytest

from conftest import CACHE_DIR, REPO_ROOT, require_path

SAMPLER_CROP_SIZE = 64  # the tiny parity UNet runs at 64x64 crops

PACK_NAME = "svfr_pack_under_test"


def _comfy_dir() -> Path:
    return Path(os.environ.get("COMFYUI_DIR", CACHE_DIR / "comfyui"))


@pytest.fixture(scope="session")
def comfy():
    """Import ComfyUI's core modules in CPU mode; returns comfy.model_management."""
    root = require_path(_comfy_dir() / "comfy" / "model_management.py",
                        "ComfyUI tree (run: bash scripts/comfy_host.sh install)").parents[1]
    if str(root) in sys.path:
        sys.path.remove(str(root))
    sys.path.insert(0, str(root))
    from comfy.cli_args import args

    args.cpu = True  # before anything imports comfy.model_management (CUDA torch build, no GPU)
    import comfy.model_management as mm

    return mm


@pytest.fixture(scope="session")
def pack(comfy):
    """The pack package loaded from the repo root the way ComfyUI's custom-node loader does."""
    if PACK_NAME in sys.modules:
        return sys.modules[PACK_NAME]
    spec = importlib.util.spec_from_file_location(
        PACK_NAME, REPO_ROOT / "__init__.py", submodule_search_locations=[str(REPO_ROOT)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACK_NAME] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def node_classes(pack) -> dict:
    """node_id -> V3 node class, through comfy_entrypoint() / get_node_list()."""
    async def _load():
        ext = await pack.comfy_entrypoint()
        return await ext.get_node_list()

    classes = asyncio.run(_load())
    return {c.define_schema().node_id: c for c in classes}


@pytest.fixture
def svfr_models_dir(comfy, tmp_path):
    """Register a models/svfr folder for one test; returns a function adding a folder to it."""
    import folder_paths

    saved = {k: (list(v[0]), set(v[1])) for k, v in folder_paths.folder_names_and_paths.items()}

    def add(path: Path) -> None:
        folder_paths.add_model_folder_path("svfr", str(path), is_default=True)

    yield add
    folder_paths.folder_names_and_paths.clear()
    folder_paths.folder_names_and_paths.update(saved)
    folder_paths.filename_list_cache.clear()


@pytest.fixture(scope="session")
def test_models_svfr(test_models_dir) -> Path:
    """The shared tiny model folder (tests/conftest.py: test_models_dir)."""
    return test_models_dir


@pytest.fixture(scope="session")
def svfr_handle(comfy, node_classes, test_models_svfr):
    """SVFR_MODEL from the loader node on the tiny models (fp32, CPU), shared by the sampler tests."""
    import folder_paths

    folder_paths.add_model_folder_path("svfr", str(test_models_svfr), is_default=True)
    return node_classes["SVFRModelLoader"].execute(model_folder=".", precision="fp32").result[0]


@pytest.fixture(scope="session")
def crops_and_record(node_classes):
    """A 3-frame 560x400 clip of a moving real face, cropped by the nodes at the tiny UNet's 64 px."""
    import numpy as np
    import torch
    from testdata import astronaut

    face = astronaut()[:400, 40:440].astype(np.float32) / 255.0
    frames = np.full((3, 400, 560, 3), 0.3, np.float32)
    for i in range(3):
        frames[i, :, 60 + 4 * i:460 + 4 * i] = face
    det = node_classes["SVFRFaceDetectorLoader"].execute(detector="retinaface (embedded)").result[0]
    crops, record, _ = node_classes["SVFRFaceCrop"].execute(
        images=torch.from_numpy(frames), detector=det, mode="tracked", faces="largest", index=0,
        crop_size=SAMPLER_CROP_SIZE, if_no_face="error").result
    return crops, record
