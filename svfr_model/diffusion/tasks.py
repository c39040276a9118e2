"""The SVFR task vector: three bits [BFR, colorization, inpainting] fed to the UNet's added time ids.

Accepted spellings: names ("bfr", "colorization", "inpainting" and short aliases), a comma/plus
separated string ("bfr,colorization"), bit indices (0, 1, 2), or a 3-element 0/1 vector.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from ..errors import InputError

TASK_NAMES: tuple[str, str, str] = ("bfr", "colorization", "inpainting")

_ALIASES = {
    "bfr": 0, "restore": 0, "restoration": 0, "blind": 0, "face_restoration": 0,
    "colorization": 1, "colorisation": 1, "color": 1, "colour": 1, "colorize": 1,
    "inpainting": 2, "inpaint": 2, "inpaint_mask": 2,
}

BFR, COLORIZATION, INPAINTING = 0, 1, 2


def _one(item) -> int:
    if isinstance(item, bool):
        raise InputError(f"task {item!r}: use a task name {TASK_NAMES} or a bit index 0..2")
    if isinstance(item, int):
        if item in (0, 1, 2):
            return item
        raise InputError(f"task index {item} is out of range: use 0 (bfr), 1 (colorization), 2 (inpainting)")
    if isinstance(item, str):
        key = item.strip().lower().replace("-", "_").replace(" ", "_")
        if key in _ALIASES:
            return _ALIASES[key]
        raise InputError(f"unknown task {item!r}: use any of {', '.join(TASK_NAMES)}")
    raise InputError(f"task {item!r} ({type(item).__name__}): use a task name {TASK_NAMES} or a bit index 0..2")


def parse_tasks(tasks: str | int | Iterable) -> tuple[int, int, int]:
    """Normalise any accepted spelling to the bit vector ``(bfr, colorization, inpainting)``.

    A sequence of exactly three 0/1 values is read as the bit vector itself; everything else as
    names/indices. An empty selection is refused (the model has no "no task" mode).
    """
    if isinstance(tasks, str):
        parts = [p for p in tasks.replace("+", ",").split(",") if p.strip()]
        items: Sequence = parts
    elif isinstance(tasks, int) and not isinstance(tasks, bool):
        items = [tasks]
    else:
        try:
            items = list(tasks)
        except TypeError:
            raise InputError(f"tasks {tasks!r}: give names like ('bfr', 'colorization') or bits [1, 1, 0]") from None
        items = [i.item() if hasattr(i, "item") else i for i in items]
    bits = [0, 0, 0]
    # Three values all in {0, 1} cannot be three distinct indices, so they are the bit vector.
    is_vector = len(items) == 3 and all(
        isinstance(v, (int, float)) and v in (0, 1) for v in items
    )
    if is_vector:
        bits = [int(v) for v in items]
    else:
        for item in items:
            bits[_one(item)] = 1
    if sum(bits) == 0:
        raise InputError("no task selected: choose at least one of bfr, colorization, inpainting")
    return bits[0], bits[1], bits[2]


def task_names(bits: Sequence[int]) -> tuple[str, ...]:
    """``(1, 1, 0) -> ("bfr", "colorization")``."""
    return tuple(name for name, b in zip(TASK_NAMES, bits) if b)


ALL_TASK_COMBINATIONS: tuple[tuple[int, int, int], ...] = tuple(
    (a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1) if a or b or c
)
