"""The options of one restore's diffusion: sampling, memory and placement, validated once.

``SamplingOptions`` is built by every front end (the CLI from its flags, the nodes from their widgets, the
Python API from keywords) and passed down unchanged: the two passes, the sampler and the memory estimate
read it. Defaults are the official ``infer.py`` values; a memory preset (``presets.py``) only changes the
memory fields.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Optional

from ..errors import InputError, OptionError
from ..networks.vae import ENCODE_CHUNK
from .presets import preset_options
from .tasks import parse_tasks

ARCFACE_CROPS = ("official", "corrected")


def check_int(name: str, value, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) and not hasattr(value, "__index__"):
        raise OptionError(name, value, f"must be an integer >= {low}")
    v = int(value)
    if v < low or (high is not None and v > high):
        raise OptionError(name, value, f"must be an integer >= {low}" if high is None else
                          f"must be an integer in [{low}, {high}]")
    return v


def check_float(name: str, value, low: float, high: float, low_open: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise OptionError(name, value, "must be a number") from None
    if not math.isfinite(v) or v < low or v > high or (low_open and v == low):
        interval = f"({low}, {high}]" if low_open else f"[{low}, {high}]"
        raise OptionError(name, value, f"must be in {interval}")
    return v


def check_overlap(window: int, overlap: int) -> None:
    """Neighbouring windows share ``overlap`` frames, so a window must hold more than that."""
    if overlap >= window:
        raise OptionError("overlap", overlap, f"must be smaller than {{window}} ({window})", related=("window",),
                          hints=("lower {overlap} or raise {window}",))


@dataclass(frozen=True)
class SamplingOptions:
    """Everything the two passes need besides the frames, masks and references (see docs/engine.md)."""

    tasks: tuple = (1, 0, 0)         # any spelling ``tasks.parse_tasks`` reads; stored as the 3-bit vector
    seed: int = 77
    steps: int = 30                  # pass 2
    pass1_steps: int = 50            # pass 1 (skipped when a reference is given)
    guidance_min: float = 2.0
    guidance_max: float = 2.0
    window: int = 16                 # frames per UNet call
    overlap: int = 3
    noise_aug: float = 0.0
    i2i_strength: float = 1.0
    arcface_crop: str = "official"   # the official crop quirk, or "corrected"
    skip_equal_uncond: bool = True   # pass 1: the CFG half that equals the other is not computed
    # memory (presets.py): none of these changes the result except decode_chunk (the temporal decoder's chunk)
    decode_chunk: int = 16
    encode_chunk: int = ENCODE_CHUNK
    cfg_sequential: bool = False
    offload: bool = False
    # placement: None = where and as the models already are
    device: Optional[object] = None
    dtype: Optional[object] = None
    vae_dtype: Optional[object] = None

    def __post_init__(self):
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 - frozen: normalise once
        put("tasks", parse_tasks(self.tasks))
        put("seed", check_int("seed", self.seed, 0))
        put("steps", check_int("steps", self.steps, 1))
        put("pass1_steps", check_int("pass1_steps", self.pass1_steps, 1))
        put("window", check_int("window", self.window, 1))
        put("overlap", check_int("overlap", self.overlap, 0))
        check_overlap(self.window, self.overlap)
        put("decode_chunk", check_int("decode_chunk", self.decode_chunk, 1))
        put("encode_chunk", check_int("encode_chunk", self.encode_chunk, 1))
        put("guidance_min", check_float("guidance_min", self.guidance_min, 0.0, 100.0))
        put("guidance_max", check_float("guidance_max", self.guidance_max, 0.0, 100.0))
        put("noise_aug", check_float("noise_aug", self.noise_aug, 0.0, 10.0))
        put("i2i_strength", check_float("i2i_strength", self.i2i_strength, 0.0, 1.0, low_open=True))
        if self.arcface_crop not in ARCFACE_CROPS:
            raise OptionError("arcface_crop", self.arcface_crop, "must be 'official' or 'corrected'")
        for name in ("skip_equal_uncond", "cfg_sequential", "offload"):
            put(name, bool(getattr(self, name)))

    @classmethod
    def build(cls, preset: str | None = None, **options) -> "SamplingOptions":
        """A preset's memory options (``presets.py``), then ``options`` (None values left out: "not set")."""
        unknown = sorted(set(options) - FIELDS)
        if unknown:
            raise InputError(f"unknown sampling option(s) {', '.join(unknown)}: known are {', '.join(sorted(FIELDS))}")
        base = preset_options(preset) if preset is not None else {}
        return cls(**{**base, **{k: v for k, v in options.items() if v is not None}})

    def replace(self, **changes) -> "SamplingOptions":
        return dataclasses.replace(self, **changes)

    @property
    def cfg_batch(self) -> int:
        """UNet batch of a CFG call: 2 (both halves at once) or 1 (one after the other)."""
        return 1 if self.cfg_sequential else 2


FIELDS = frozenset(f.name for f in dataclasses.fields(SamplingOptions))

__all__ = ["SamplingOptions", "ARCFACE_CROPS", "FIELDS", "check_int", "check_float", "check_overlap"]
