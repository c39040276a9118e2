"""Memory presets: named sets of ``restore_video`` options, each sized for a card by the memory model.

Sized by ``svfr_model/diffusion/memory_model.py`` (issue 15: the real restore path on fake CUDA tensors at real
size, 512² crops, window 16, fp16 UNet and fp16 VAE decoder as on CUDA, ArcFace resident as the loader keeps it);
each ceiling is the conservative prediction (conv workspace = input + output) + 0.5 GiB CUDA context, x 1.05
for fragmentation, checked in CI (tests/svfr_model/diffusion/test_presets_sized.py), for any video length:

``high_vram`` (24 GB cards, fastest): the official computation (CFG halves in one batch, the temporal decoder on
16 frames); the encoder on 8 frames at a time (the same latents as 20: it is per frame). Needs 14.0 GiB; with
an fp32 VAE decoder 24.1 GiB (``auto`` sizes for the actual precisions).
``default`` (10 GB): as ``high_vram`` but decode chunk 8 (the chunk is part of the temporal decoder's result:
the output differs slightly from ``high_vram``) and encode chunk 4. Needs 9.0 GiB.
``low_vram`` (6 GB): the two CFG halves one after the other (same result up to rounding), decode chunk 6, encode
chunk 4, UNet off the GPU while the VAE runs and the VAE off while the UNet runs. Needs 5.9 GiB at the longest
videos (the whole-video latents grow to 1 GiB on the device before moving to the host), 4.9 GiB up to ~500 frames.
``auto``: the fastest preset whose predicted peak fits the memory free for the run (:func:`choose_preset`).
4 GB cards are not served: the fp16 UNet weights alone are 2.84 GiB and one batch-1 UNet call adds 1.06 GiB;
at least 0.84 GiB (30 %) of the UNet's weights would have to be streamed to the GPU in parts during each call
(docs/performance.md).
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

from ..errors import InputError, SVFRWarning

GIB = 2**30


@dataclass(frozen=True)
class Preset:
    cfg_sequential: bool   # CFG halves one after the other (batch 1) instead of one batch of 2
    decode_chunk: int      # frames per temporal-decoder call (part of the result)
    encode_chunk: int      # frames per encoder call (only bounds memory)
    offload: bool          # UNet off the device while the VAE runs, VAE off while the UNet runs


PRESETS: dict[str, Preset] = {
    "high_vram": Preset(cfg_sequential=False, decode_chunk=16, encode_chunk=8, offload=False),
    "default": Preset(cfg_sequential=False, decode_chunk=8, encode_chunk=4, offload=False),
    "low_vram": Preset(cfg_sequential=True, decode_chunk=6, encode_chunk=4, offload=True),
}
# The card each preset is sized for (GiB): conservative peak + context, x fragmentation, must fit.
PRESET_CARD_GIB = {"high_vram": 24, "default": 10, "low_vram": 6}
AUTO = "auto"
PRESET_NAMES = ("default", "low_vram", "high_vram", AUTO)


def _key(name: str) -> str:
    key = str(name).strip().lower().replace("-", "_")
    if key not in PRESETS and key != AUTO:
        raise InputError(f"unknown preset {name!r}: choose one of {', '.join(PRESET_NAMES)} "
                         "(low_vram for 6-8 GB cards, high_vram for 24 GB)")
    return key


def preset_options(name: str, *, free_bytes: int | None = None, **sizing) -> dict:
    """The ``restore_video`` keyword arguments of preset ``name`` (explicit arguments may override them).

    ``auto`` needs ``free_bytes`` (device memory the run may use, its own weights included) and takes the
    :func:`choose_preset` sizing keywords; without ``free_bytes`` it is ``default``.
    """
    key = _key(name)
    if key == AUTO:
        key = choose_preset(free_bytes, **sizing) if free_bytes is not None else "default"
    return asdict(PRESETS[key])


def choose_preset(free_bytes: int, *, height: int = 512, width: int = 512, window: int = 16,
                  unet_dtype="fp16", vae_dtype="fp16", arcface: bool = True) -> str:
    """The fastest preset whose predicted peak (memory table, x 1.05 fragmentation) fits ``free_bytes``.

    ``free_bytes`` is what the run may use on the device, its own weights included (the CUDA context is
    already outside it). Falls back to ``low_vram`` when none fits.
    """
    from .memory import FRAGMENTATION, predict_peak

    for name in ("high_vram", "default", "low_vram"):
        peak = predict_peak(height=height, width=width, window=window, unet_dtype=unet_dtype,
                            vae_dtype=vae_dtype, arcface=arcface, **asdict(PRESETS[name])).peak
        if peak * FRAGMENTATION <= free_bytes:
            return name
    return "low_vram"


def resolve_preset(name: str, *, free_bytes: int | None, **sizing) -> str:
    """``name``, or for ``auto`` the preset it picks (for messages)."""
    key = _key(name)
    if key != AUTO:
        return key
    return choose_preset(free_bytes, **sizing) if free_bytes is not None else "default"


def device_free_bytes(device) -> int | None:
    """What a run on ``device`` may use: the driver's free memory plus what this process's allocator already
    holds (its own weights and cached blocks); None off CUDA (``auto`` is then ``default``)."""
    import torch

    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    free, _total = torch.cuda.mem_get_info(device)
    return int(free + torch.cuda.memory_reserved(device))


def options_for_models(name: str, models, *, height: int = 512, width: int = 512, window: int = 16,
                       free_bytes: int | None = None) -> dict:
    """``preset_options`` for a loaded model set: ``auto`` is sized with its precisions (and ArcFace, when
    loaded) against ``free_bytes`` (default: :func:`device_free_bytes` of its device). On a CUDA device a
    preset that will be slow there (or not fit) is warned about (:func:`warn_if_slow`)."""
    key = _key(name)
    if free_bytes is None and models is not None:
        free_bytes = device_free_bytes(getattr(models, "device", "cpu"))
    if free_bytes is None or models is None:
        return preset_options(name)  # no CUDA device (or no models yet): auto is default
    sizing = dict(height=height, width=width, window=window, unet_dtype=models.dtype, vae_dtype=models.vae_dtype,
                  arcface=getattr(models, "arcface", None) is not None)
    chosen = resolve_preset(key, free_bytes=free_bytes, **sizing)
    warn_if_slow(key, chosen, free_bytes, **sizing)
    return asdict(PRESETS[chosen])


def warn_if_slow(asked: str, chosen: str, free_bytes: int, **sizing) -> None:
    """Warn when the preset run will be slow on this card: ``auto`` fell back to ``low_vram`` (CFG halves one
    after the other, UNet and VAE moved on and off the device), or the preset's predicted peak does not fit
    the free memory (ComfyUI frees other models first; past that it runs out of memory)."""
    from .memory import FRAGMENTATION, predict_peak

    peak = predict_peak(**sizing, **asdict(PRESETS[chosen])).peak * FRAGMENTATION
    free = f"{free_bytes / GIB:.1f} GiB free on this card"
    if peak > free_bytes:
        hint = ("{preset='low_vram'} needs the least" if chosen != "low_vram" else
                "a smaller {window} or {size} needs less")
        warnings.warn(SVFRWarning(f"{{preset={asked!r}}} needs about {peak / GIB:.1f} GiB here but there is "
                                  f"{free}: the run may be slow (other models evicted first) or run out of memory",
                                  hint), stacklevel=3)
    elif asked == AUTO and chosen == "low_vram":
        warnings.warn(SVFRWarning(f"{{preset='auto'}} chose low_vram for the {free}: slower (the CFG halves one "
                                  "after the other, the UNet and VAE moved on and off the GPU)"), stacklevel=3)
