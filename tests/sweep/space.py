"""The nodes' own declared input space, read from their schemas (``define_schema()``).

Every widget of every node: a number at its min, its max and a middle value, each combo option, both
booleans, a string at its default. A widget added to a node is swept without editing the sweep. The values
not under test keep their defaults, except a few whose default only costs time on the CPU (``CHEAP``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

WIDGET_TYPES = ("INT", "FLOAT", "COMBO", "BOOLEAN", "STRING")

# Defaults that only cost time here (each is swept at its real default too, as the middle value): one
# denoising step per pass, the tiny test UNet's own size (64 px), and windows of 4 frames (a window always
# holds ``window`` frames, wrapping around a shorter clip: 16 would denoise 16 frames for a 2-frame clip).
CHEAP = {"steps": 1, "pass1_steps": 1, "crop_size": 64, "window": 4, "overlap": 1}


@dataclass(frozen=True)
class Widget:
    name: str
    kind: str                  # one of WIDGET_TYPES
    default: object
    low: object = None
    high: object = None
    step: object = None
    options: tuple = ()

    def values(self) -> list:
        """What the sweep tries: min, middle, max / every option / both states / the default."""
        if self.kind in ("INT", "FLOAT"):
            return _dedup([self.low, self.middle(), self.high])
        if self.kind == "COMBO":
            return list(self.options)
        if self.kind == "BOOLEAN":
            return [False, True]
        return [self.default]

    def middle(self):
        """The default when it lies strictly inside the range (a value users run), else the midpoint on the
        widget's step grid."""
        if self.low < self.default < self.high:
            return self.default
        if self.kind == "INT":
            step = int(self.step or 1)
            return self.low + (self.high - self.low) // 2 // step * step
        step = float(self.step or 0.01)
        return round(self.low + round((self.high - self.low) / 2 / step) * step, 6)


@dataclass(frozen=True)
class Case:
    """One run: a node, its widget values (base + the one under test), the clip, what it varies."""
    node_id: str
    widgets: dict = field(hash=False)
    clip: str
    varies: str                # "crop_size=1024", or "clip" for the clip sweep at base values


# What a sampling run costs on the CPU, in UNet work relative to the base: denoising steps of both passes x
# frames per UNet call x crop pixels (the tiny UNet: base ~1 s, crop_size 512 ~26 s, 1024 ~2 min here).
SHARED_COST = 100   # above: run on the first sampling node that declares the same widget, not again
MAX_COST = 1000     # above: not run on the CPU (listed in the docs)


# A case with more denoising steps than this (a step count at its max) runs its first CUT_AFTER UNet calls and
# is then cancelled the way the user's Cancel does (ComfyUI's interrupt): every later step repeats the same
# calls, so the rest only costs time (200 steps: 44 s here). The cancel is checked to end as ComfyUI's own
# InterruptProcessingException, nothing else.
CUT_STEPS = 100
CUT_AFTER = 6


def cut_after(widgets: dict) -> int | None:
    """How many cancel checks the case runs before it is cancelled; None: it runs to the end."""
    steps = widgets.get("steps", 0) + widgets.get("pass1_steps", 0)
    return CUT_AFTER if steps > CUT_STEPS else None


def cost(widgets: dict) -> float:
    if "steps" not in widgets:
        return 0.0  # not a sampling node: detection, crops and paste-back are cheap at any widget value
    return ((widgets["steps"] + widgets.get("pass1_steps", 0)) * widgets.get("window", 4)
            * (widgets.get("crop_size", CHEAP["crop_size"]) / CHEAP["crop_size"]) ** 2)


def declaration(node_class, name: str):
    """What makes two nodes' widgets the same one: the schema entry as published (type, range, options)."""
    for i in node_class.define_schema().inputs:
        if i.id == name:
            return repr(sorted(i.as_dict().items())) if hasattr(i, "as_dict") else repr(vars(i))
    return None


def plan(node_classes: dict, clip: str, skip: dict) -> tuple[list[Case], list[tuple[Case, str]]]:
    """Every node's widget cases, in node order; those left out by cost, with the reason."""
    run, left = [], []
    seen: dict[tuple, str] = {}  # (declaration, value) of a costly case -> the node that ran it
    for node_id, cls in node_classes.items():
        if node_id in skip:
            continue
        for case in widget_cases(node_id, cls, clip):
            c = cost(case.widgets)
            name = case.varies.split("=")[0]
            key = (declaration(cls, name), case.widgets.get(name))
            if c > MAX_COST:
                left.append((case, f"{c / cost(base_values(widgets_of(cls))):.0f}x the base run's UNet work: "
                                   "minutes on the CPU with the tiny model"))
            elif c > SHARED_COST and key in seen:
                left.append((case, f"the same widget and value ran on {seen[key]} (same engine options)"))
            else:
                if c > SHARED_COST:
                    seen[key] = node_id
                run.append(case)
    return run, left


def _dedup(values: list) -> list:
    out = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def widgets_of(node_class) -> list[Widget]:
    """The widgets a node declares, in schema order (sockets are left to the harness)."""
    out = []
    for i in node_class.define_schema().inputs:
        kind = i.get_io_type()
        if kind not in WIDGET_TYPES:
            continue
        out.append(Widget(i.id, kind, i.default, getattr(i, "min", None), getattr(i, "max", None),
                          getattr(i, "step", None), tuple(getattr(i, "options", None) or ())))
    return out


def base_values(widgets: list[Widget]) -> dict:
    return {w.name: CHEAP.get(w.name, w.default) for w in widgets}


def widget_cases(node_id: str, node_class, clip: str) -> list[Case]:
    """One case per widget value, the others at the base values; a value equal to the base once (as "base")."""
    widgets = widgets_of(node_class)
    base = base_values(widgets)
    cases, seen = [Case(node_id, dict(base), clip, "base")], {tuple(sorted(base.items()))}
    for w in widgets:
        for v in w.values():
            values = {**base, w.name: v}
            key = tuple(sorted(values.items()))
            if key in seen:
                continue
            seen.add(key)
            cases.append(Case(node_id, values, clip, f"{w.name}={v!r}"))
    return cases


__all__ = ["WIDGET_TYPES", "CHEAP", "SHARED_COST", "MAX_COST", "CUT_STEPS", "CUT_AFTER", "cut_after", "Widget", "Case", "widgets_of", "base_values",
           "widget_cases", "cost", "declaration", "plan"]
