"""SVFR video face restoration for ComfyUI (V3 node pack).

ComfyUI imports this file as a package from custom_nodes/ and awaits ``comfy_entrypoint``. Importing
it anywhere else (pytest collection, tools) does nothing heavy: the nodes load only inside the entrypoint.
"""
import importlib.util
import os
import sys

WEB_DIRECTORY = "./web"

_PACK_DIR = os.path.dirname(os.path.abspath(__file__))


def _expose_engine() -> None:
    """Make this pack's engine importable as the top-level package ``svfr_model``.

    The nodes import ``svfr_model`` (the same modules the CLI and the tests use, so its exception
    classes are shared). Only that one name is registered: putting the pack folder itself on
    sys.path would also expose its ``tests``/``scripts`` folders to every other pack.
    """
    if "svfr_model" in sys.modules:
        return
    engine_dir = os.path.join(_PACK_DIR, "svfr_model")
    spec = importlib.util.spec_from_file_location(
        "svfr_model", os.path.join(engine_dir, "__init__.py"), submodule_search_locations=[engine_dir]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["svfr_model"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["svfr_model"]
        raise


async def comfy_entrypoint():
    _expose_engine()
    from .nodes.extension import SVFRExtension

    return SVFRExtension()


__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
