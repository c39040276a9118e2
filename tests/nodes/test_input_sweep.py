"""Every widget at its limits, on clips that stress the edges: each run ends in a result or a refusal that
names an input of the node, never a bare exception (issue 19). The refused combinations are written to
docs/inputs.md; the test fails when that file is not what this run found (SVFR_WRITE_DOCS=1 rewrites it).

The space is read from the node schemas (tests/sweep/space.py), so a new widget is swept without editing
this file. Tiny models, 64 px crops, 1 step per pass except where a widget under test says otherwise.
"""
from __future__ import annotations

import os
import time

import pytest

from sweep.clips import make_clips
from sweep.harness import NOT_RUN, Harness, alpha_reference
from sweep.report import check_or_write, render
from sweep.space import Case, base_values, plan, widgets_of

# one torch thread: on a shared CPU two OpenMP threads spin against the other load (a 5 s run took 80 s)
pytestmark = [pytest.mark.comfy, pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]
BASE_CLIP = "2 frames"
CLIP_NODES = ("SVFRFaceCrop", "SVFRInpaintMask", "SVFRSampler", "SVFRPasteBack", "SVFRVideoRestore")


def all_cases(node_classes) -> tuple[list[tuple[Case, dict]], list]:
    """The widget cases to run (and those left out by their cost, with why)."""
    run, left = plan(node_classes, BASE_CLIP, NOT_RUN)
    return [(c, {}) for c in run], left


def clip_cases(node_classes, clips) -> list[tuple[Case, dict]]:
    cases = []
    for clip in clips:
        if clip == BASE_CLIP:
            continue  # its base runs are the widget sweep's
        for node_id in CLIP_NODES:
            cases.append((Case(node_id, base_values(widgets_of(node_classes[node_id])), clip, "clip"), {}))
    for node_id in ("SVFRSampler", "SVFRVideoRestore"):
        base = base_values(widgets_of(node_classes[node_id]))
        cases.append((Case(node_id, base, BASE_CLIP, "reference with alpha"), {"reference": alpha_reference()}))
    return cases


def test_sweep(node_classes, svfr_handle, tmp_path_factory):
    clips = make_clips(tmp_path_factory.mktemp("sweep_clips"))
    detector = node_classes["SVFRFaceDetectorLoader"].execute(detector="retinaface (embedded)").result[0]
    harness = Harness(node_classes, svfr_handle, detector, clips, tmp_path_factory.mktemp("sweep_out"))
    start = time.perf_counter()
    outcomes = []
    log = os.environ.get("SVFR_SWEEP_LOG")
    widget_runs, left_out = all_cases(node_classes)
    for case, extra in widget_runs + clip_cases(node_classes, clips):
        got = harness.run(case, extra)
        outcomes += got
        if log:
            with open(log, "a") as f:
                for o in got:
                    f.write(f"{o.seconds:6.2f} {o.case.node_id} {o.case.varies} [{o.case.clip}] {o.stage} {o.kind} "
                            f"{o.message[:150]}\n")
    seconds = time.perf_counter() - start
    if os.environ.get("SVFR_SWEEP_TIMES"):
        for o in sorted(outcomes, key=lambda o: -o.seconds)[:25]:
            print(f"{o.seconds:6.2f} s  {o.case.node_id} {o.case.varies} [{o.case.clip}] {o.stage} {o.kind}")
    print(f"sweep: {len(outcomes)} runs in {seconds:.0f} s")
    failed = [o for o in outcomes if o.kind == "FAILED"]
    assert not failed, "\n".join(f"{o.case.node_id} {o.case.varies} [{o.case.clip}] {o.stage}: {o.message}"
                                  for o in failed)
    check_or_write(render(outcomes, node_classes, clips, left_out))
