"""docs/inputs.md: sections written by the tests, checked to be current.

Each generated section sits between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``; the rest of the file is
prose. A test renders its section and compares; with ``SVFR_WRITE_DOCS=1`` it writes the section instead
(then review the diff and commit it).
"""
from __future__ import annotations

import difflib
import os
import re
from collections import Counter
from pathlib import Path

from conftest import REPO_ROOT

DOC = REPO_ROOT / "docs" / "inputs.md"
PATH = re.compile(r"(?<![\w.])/(?:[\w.@+-]+/)+[\w.@+-]*")  # an absolute path: differs between machines


def section(text: str, name: str) -> str:
    m = re.search(rf"<!-- {name}:begin -->\n(.*?)<!-- {name}:end -->", text, re.S)
    return m.group(1) if m else ""


def check_or_write(body: str, name: str = "sweep", doc: Path = DOC) -> None:
    """Fail unless ``doc``'s section ``name`` is ``body``; SVFR_WRITE_DOCS=1 writes it instead."""
    text = doc.read_text()
    begin, end = f"<!-- {name}:begin -->\n", f"<!-- {name}:end -->"
    if os.environ.get("SVFR_WRITE_DOCS"):
        new = re.sub(rf"{re.escape(begin)}.*?{re.escape(end)}", lambda m: begin + body + end, text, flags=re.S)
        if begin not in text:
            new = text.rstrip("\n") + "\n\n" + begin + body + end + "\n"
        tmp = doc.with_suffix(".md.tmp")
        tmp.write_text(new)
        tmp.replace(doc)
        return
    if section(text, name) != body:
        diff = "".join(list(difflib.unified_diff(section(text, name).splitlines(True), body.splitlines(True),
                                                 "docs", "found"))[:60])
        raise AssertionError(f"{doc.relative_to(REPO_ROOT)} section '{name}' is not what the tests found: rerun "
                             f"them with SVFR_WRITE_DOCS=1 and commit the result\n{diff}")


def short(message: str, limit: int = 240) -> str:
    """One line of a message for a table: absolute paths masked, pipes escaped, cut at ``limit``."""
    text = PATH.sub("<path>", " ".join(str(message).split())).replace("|", "\\|")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def render(outcomes, node_classes, clips, left_out=()) -> str:
    from .harness import NOT_RUN
    from .space import CHEAP, widgets_of

    titles = {nid: cls.define_schema().display_name for nid, cls in node_classes.items()}
    lines = ["| node | runs | result | refused |", "|---|---|---|---|"]
    per_node = Counter((o.case.node_id, o.kind) for o in outcomes if o.stage in ("run", "validate") and
                       (o.kind != "ok" or o.stage == "run"))
    for nid in node_classes:
        if nid in NOT_RUN:
            continue
        ok, refused = per_node[(nid, "ok")], per_node[(nid, "refused")]
        lines.append(f"| {titles[nid]} | {ok + refused + per_node[(nid, 'skipped')]} | {ok} | {refused} |")
    out = [f"{len(outcomes)} node runs (each case's node, and the node its output feeds), every one a result or a "
           "refusal naming an input. Values not under test: the node's defaults, except "
           + ", ".join(f"`{k}` {v}" for k, v in CHEAP.items()) + " (time on the CPU; the defaults are swept as "
           "values).", "", *lines, "", "### Widgets swept", "", "| node | widget | values |", "|---|---|---|"]
    for nid, cls in node_classes.items():
        for w in widgets_of(cls):
            values = ", ".join(f"`{v!r}`" for v in w.values())
            out.append(f"| {titles[nid]} | `{w.name}` | {values if nid not in NOT_RUN else 'not run'} |")
    out += ["", "### Clips", "", "| clip | what it stresses | " + " | ".join(titles[n] for n in _clip_nodes()) + " |",
            "|---|---|" + "---|" * len(_clip_nodes())]
    for name, clip in clips.items():
        cells = []
        for nid in _clip_nodes():
            got = [o for o in outcomes if o.case.clip == name and o.case.node_id == nid and o.stage in ("run", "validate")
                   and o.case.varies in ("clip", "base")]
            cells.append(", ".join(sorted({o.kind for o in got})) or "—")
        out.append(f"| {name} | {clip.why} | " + " | ".join(cells) + " |")
    out += ["", "### Refused", "", "| node | value | clip | at | message |", "|---|---|---|---|---|"]
    for o in outcomes:
        if o.kind in ("refused", "skipped"):
            at = {"validate": "validation", "run": "run"}.get(o.stage, f"→ {titles.get(o.stage, o.stage)}")
            out.append(f"| {titles[o.case.node_id]} | {o.case.varies} | {o.case.clip} | {at} | {short(o.message)} |")
    out += ["", "### Warnings shown on the page", "", "| node | value | clip | notice |", "|---|---|---|---|"]
    for o in outcomes:
        for note in o.notices:
            out.append(f"| {titles[o.stage] if o.stage in titles else titles[o.case.node_id]} | {o.case.varies} | "
                       f"{o.case.clip} | {short(note)} |")
    out += ["", "### Run in part", ""]
    out += [f"- {titles[o.case.node_id]} `{o.case.varies}` [{o.case.clip}]: cancelled as the user's Cancel does at the "
            f"engine's cancel check {o.cut} (before a UNet call), ending in ComfyUI's InterruptProcessingException; "
            "every later step repeats the same calls" for o in outcomes if o.cut]
    out += ["", "### Not run", ""] + [f"- {titles[n]}: {why}" for n, why in NOT_RUN.items()]
    out += [f"- {titles[c.node_id]} `{c.varies}`: {why}" for c, why in left_out]
    return "\n".join(out) + "\n"


def _clip_nodes():
    return ("SVFRFaceCrop", "SVFRInpaintMask", "SVFRSampler", "SVFRPasteBack", "SVFRVideoRestore")


__all__ = ["DOC", "section", "check_or_write", "short", "render"]
