"""The front-end extension: valid JavaScript, and the task label matches the node's own wording."""
from __future__ import annotations

import itertools
import json
import shutil
import subprocess

import pytest

from conftest import IN_CI, REPO_ROOT

pytestmark = pytest.mark.comfy
WEB = REPO_ROOT / "web" / "js"


def _node() -> str:
    exe = shutil.which("node")
    if exe is None:
        if IN_CI:
            pytest.fail("node (JavaScript runtime) is needed to check web/js under CI")
        pytest.skip("node is not installed")
    return exe


@pytest.mark.parametrize("name", sorted(p.name for p in WEB.glob("*.js")))
def test_javascript_parses(name):
    out = subprocess.run([_node(), "--check", str(WEB / name)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_task_label_matches_the_node(pack, node_classes):
    combos = [dict(zip(("bfr", "colorization", "inpainting"), bits))
              for bits in itertools.product((False, True), repeat=3)]
    script = (f"import {{ svfrTaskLabel, svfrTaskValid }} from {json.dumps((WEB / 'svfr_task_label.js').as_uri())};"
              f"const combos = {json.dumps(combos)};"
              "console.log(JSON.stringify(combos.map(c => [svfrTaskLabel(c), svfrTaskValid(c)])));")
    out = subprocess.run([_node(), "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    labels = json.loads(out.stdout)
    for combo, (label, valid) in zip(combos, labels):
        bits = [int(combo[k]) for k in ("bfr", "colorization", "inpainting")]
        assert valid == any(bits)
        if any(bits):
            assert label == pack.nodes.task.task_label(bits)
        else:
            assert label == "no task selected"
