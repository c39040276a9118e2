"""The pack imported as ComfyUI imports a custom-node folder, for the probes that run in a host's own
interpreter (api_surface_probe.py, memory_probe.py): a package from the folder's ``__init__.py``, then its
``comfy_entrypoint()``. The example inputs it copies on load go to a fresh temporary input folder."""
from __future__ import annotations

import asyncio
import importlib.util
import sys
import tempfile
from pathlib import Path

PACKAGE = "comfyui_svfr_probe"  # the probes reach the pack's modules as sys.modules[PACKAGE + ".nodes...."]


def import_pack(repo: Path):
    """The pack's ComfyExtension (``comfy_entrypoint()``), its package imported under ``PACKAGE``."""
    import folder_paths

    folder_paths.set_input_directory(tempfile.mkdtemp(prefix="svfr-probe-input-"))
    spec = importlib.util.spec_from_file_location(PACKAGE, Path(repo) / "__init__.py",
                                                  submodule_search_locations=[str(repo)])
    pack = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = pack
    spec.loader.exec_module(pack)
    return asyncio.run(pack.comfy_entrypoint())


__all__ = ["PACKAGE", "import_pack"]
