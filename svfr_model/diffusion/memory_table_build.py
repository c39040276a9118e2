"""Generating ``memory_table.json`` with the memory model (kept apart from the lookup in ``memory_table``, which
the engine reads on every run without importing the fake-tensor machinery)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Iterable, Optional

from .memory_table import STAGES, TABLE_PATH, UNET_DTYPES, VAE_DTYPES, grid


def measure_weights() -> dict:
    """Resident bytes of each network (allocator blocks), by precision where it has one."""
    from . import memory_model as mm

    out: dict = {"unet": {}, "vae_decoder": {}}
    with mm.fake_cuda() as tracker:
        for dt in UNET_DTYPES:
            before = tracker.current
            unet = mm.fake_unet(dt)
            out["unet"][dt] = tracker.current - before
            del unet
        for dt in VAE_DTYPES:
            vae = mm.fake_vae(dt)
            out["vae_decoder"][dt] = sum(mm.block_bytes(p.numel() * p.element_size())
                                         for p in vae.decoder.parameters())
            out["vae_encoder"] = sum(mm.block_bytes(p.numel() * p.element_size())
                                     for n, p in vae.named_parameters() if not n.startswith("decoder."))
            del vae
    out["arcface_and_projector"] = _arcface_bytes()
    return out


def _arcface_bytes() -> int:
    import torch

    from . import memory_model as mm

    from ..networks.arcface import iresnet100
    from ..networks.id_projector import IDProjector
    with torch.device("meta"):
        mods = [iresnet100(), IDProjector()]
    return sum(mm.block_bytes(t.numel() * t.element_size()) for m in mods
               for t in list(m.parameters()) + list(m.buffers()))


def measure_row(stage: str, size: int, frames: int, dtype: str = "fp32", batch: int = 1,
                workspace="conservative") -> dict:
    """One table row, measured now."""
    from . import memory_model as mm

    if stage == "unet":
        r = mm.predict_unet_call(batch=batch, frames=frames, height=size, width=size, dtype=dtype,
                                 workspace=workspace)
    elif stage == "decode":
        r = mm.predict_decode(frames=frames, height=size, width=size, dtype=dtype, workspace=workspace)
    elif stage == "encode":
        r = mm.predict_encode(frames=frames, height=size, width=size, workspace=workspace, input_on_device=False)
        dtype = "fp32"
    else:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    row = {"stage": stage, "size": size, "frames": frames, "dtype": dtype, "act": int(r.act), "op": r.op}
    if stage == "unet":
        row["batch"] = batch
    return row


def generate(say: Optional[Callable[[str], None]] = None, keys: Optional[Iterable[dict]] = None) -> dict:
    """Measure the whole grid (or ``keys``) and the weights; the table as a dict."""
    import diffusers
    import torch

    t0 = time.perf_counter()
    keys = list(keys) if keys is not None else grid()
    rows = []
    for i, key in enumerate(keys):
        rows.append(measure_row(**key))
        if say is not None:
            say(f"[{i + 1}/{len(keys)}] {key} -> {rows[-1]['act'] / 2**30:.3f} GiB "
                f"({time.perf_counter() - t0:.0f} s)")
    return {"generated_by": "python -m svfr_model memory --write-table",
            "torch": torch.__version__, "diffusers": diffusers.__version__, "workspace": "conservative",
            "weights": measure_weights(), "rows": rows}


def write_table(table: dict, path: Path = TABLE_PATH) -> Path:
    from .memory_model import write_text_atomic

    lines = ",\n  ".join(json.dumps(r, sort_keys=True) for r in table["rows"])
    head = {k: v for k, v in table.items() if k != "rows"}
    text = json.dumps(head, indent=1, sort_keys=True)[:-2] + ',\n "rows": [\n  ' + lines + "\n ]\n}\n"
    json.loads(text)  # valid before it replaces the old table
    return write_text_atomic(Path(path), text)


# ---------------------------------------------------------------- lookup

