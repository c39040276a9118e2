"""SVFR video face restoration for ComfyUI (V3 node pack).

ComfyUI imports this file as a package from custom_nodes/ and awaits ``comfy_entrypoint``. Importing
it anywhere else (pytest collection, tools) does nothing heavy: the nodes load only inside the entrypoint.
"""
import os
import sys

WEB_DIRECTORY = "./web"

_PACK_DIR = os.path.dirname(os.path.abspath(__file__))
# The nodes import the engine as the top-level package `svfr_model` (the same modules the CLI and the
# tests use, so exception classes are shared). Appended, not prepended: ComfyUI's own modules win.
if _PACK_DIR not in sys.path:
    sys.path.append(_PACK_DIR)


async def comfy_entrypoint():
    from .nodes.extension import SVFRExtension

    return SVFRExtension()


__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
