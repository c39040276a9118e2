"""Optional ``torch.compile`` of the UNet (off by default).

Issue 7: compiling the whole 1.5 B-parameter UNet (default mode) did not finish within 150 s on an H200.
``regional`` compiles each repeated block (spatio-temporal transformer and resnet blocks) on its own:
blocks of one shape share a compiled graph, so compilation is far shorter. The compiled module computes
the same function (fused kernels round differently); bench/bench_gpu.py measures compile time and gain.
"""
from __future__ import annotations

import torch

from ..errors import InputError

COMPILE_MODES = ("off", "regional", "full")
# diffusers classes repeated through the SVD UNet: compiled one by one in "regional" mode
REPEATED_BLOCKS = ("TransformerSpatioTemporalModel", "SpatioTemporalResBlock")


def compile_unet(unet: torch.nn.Module, mode: str = "regional", backend: str = "inductor") -> int:
    """Compile ``unet`` in place; returns how many modules were wrapped (0 for ``off``).

    Compilation itself happens lazily at the first call (per input shape); time that call to see its cost.
    """
    if mode not in COMPILE_MODES:
        raise InputError(f"compile must be one of {', '.join(COMPILE_MODES)}, got {mode!r}")
    if mode == "off":
        return 0
    if mode == "full":
        unet.compile(backend=backend)
        return 1
    count = 0
    for module in unet.modules():
        if type(module).__name__ in REPEATED_BLOCKS:
            module.compile(backend=backend, dynamic=False)
            count += 1
    return count
