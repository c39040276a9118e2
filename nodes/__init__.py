"""ComfyUI adapters for the SVFR engine: one small module per node family, no algorithm here.

Import these modules only as a sub-package of the pack (``<pack>.nodes``): ComfyUI itself owns the
top-level module name ``nodes``.
"""
