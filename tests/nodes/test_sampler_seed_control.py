"""web/js: a new SVFR Sampler's seed control starts at "fixed" (ComfyUI 0.3.75's frontend starts it at
"randomize"); the helper only touches the control linked to the seed."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from conftest import IN_CI, REPO_ROOT

WEB = REPO_ROOT / "web" / "js"


def _run(script: str):
    exe = shutil.which("node")
    if exe is None:
        if IN_CI:
            pytest.fail("node (JavaScript runtime) is needed to check web/js under CI")
        pytest.skip("node is not installed")
    imp = f"import {{ fixSeedControl }} from {json.dumps((WEB / 'svfr_seed_control.js').as_uri())};"
    out = subprocess.run([exe, "--input-type=module", "-e", imp + script], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _control(value: str) -> str:
    return ('{name: "control_after_generate", value: "%s", '
            'options: {values: ["fixed", "increment", "decrement", "randomize"]}}' % value)


def test_new_node_seed_control_becomes_fixed():
    got = _run(f"const c = {_control('randomize')}; const other = {_control('randomize')};"
               "const node = {widgets: [{name: 'seed', value: 77, linkedWidgets: [c]}, c,"
               " {name: 'steps', value: 30, linkedWidgets: [other]}, other]};"
               "const ok = fixSeedControl(node);"
               "console.log(JSON.stringify([ok, c.value, other.value, node.widgets[0].value]));")
    assert got == [True, "fixed", "randomize", 77]


def test_node_without_seed_control_is_left_alone():
    got = _run("const node = {widgets: [{name: 'seed', value: 5}]};"
               "console.log(JSON.stringify([fixSeedControl(node), fixSeedControl({}), node.widgets[0].value]));")
    assert got == [False, False, 5]


def test_sampler_extension_registers_the_helper_for_the_seeded_nodes_only():
    text = (WEB / "svfr_sampler.js").read_text()
    assert '["SVFRSampler", "SVFRVideoRestore"].includes(nodeData.name)' in text and "fixSeedControl(this)" in text
    assert "onNodeCreated" in text  # runs before a loaded workflow's values are applied
