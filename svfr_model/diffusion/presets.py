"""Memory presets: named sets of ``restore_video`` options for a card size.

``default`` is the official computation (same output up to fp16 rounding of the GPU run) with the VAE
encode split into chunks of 8 frames (the encoder is per frame: same latents, 6 GB instead of 15 GB of
float32 activations at 512², issue 7's measurement). ``low_vram`` targets 8 GB cards: the two CFG halves
run one after the other (half the UNet activations), the temporal decoder sees chunks of 8 frames (half
the decode memory; the chunk is part of the temporal decoder's result, so the output changes slightly),
the encode runs 4 frames at a time, and the UNet weights leave the GPU while the VAE runs (and the VAE
while the UNet runs).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import InputError


@dataclass(frozen=True)
class Preset:
    cfg_sequential: bool   # CFG halves one after the other (batch 1) instead of one batch of 2
    decode_chunk: int      # frames per temporal-decoder call (part of the result)
    encode_chunk: int      # frames per encoder call (only bounds memory)
    offload: bool          # UNet off the device while the VAE runs, VAE off while the UNet runs


PRESETS: dict[str, Preset] = {
    "default": Preset(cfg_sequential=False, decode_chunk=16, encode_chunk=8, offload=False),
    "low_vram": Preset(cfg_sequential=True, decode_chunk=8, encode_chunk=4, offload=True),
}
PRESET_NAMES = tuple(PRESETS)


def preset_options(name: str) -> dict:
    """The ``restore_video`` keyword arguments of preset ``name`` (explicit arguments may override them)."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in PRESETS:
        raise InputError(f"unknown preset {name!r}: choose one of {', '.join(PRESET_NAMES)} "
                         "(low_vram for 8 GB cards)")
    return asdict(PRESETS[key])
