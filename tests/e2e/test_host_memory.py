"""The pack's models under each host's model management (CPU): what docs/performance.md "Dynamic VRAM"
says our nodes must do, checked where a CPU can check it (tests/e2e/memory_probe.py, run in the host's own
interpreter): plain ModelPatchers even where ComfyUI made ModelPatcherDynamic its core patcher; one
load_models_gpu call with the node's memory estimate and force_full_load; loaded once, nothing counted twice;
evicted and reloaded with the same result; no entry or leak warning left once the outputs are dropped.
About 40 s per host (two tiny sampler runs at 64 px)."""
from __future__ import annotations

import json
import subprocess

import pytest

from conftest import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROBE = REPO_ROOT / "tests" / "e2e" / "memory_probe.py"


def test_models_managed_correctly_by_the_host(host, test_models_yaml):
    done = subprocess.run([str(host.python), str(PROBE), str(REPO_ROOT), str(test_models_yaml)], cwd=host.root,
                          capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    assert "@@SVFR-PROBE@@" in out, f"the probe failed in ComfyUI {host.name} ({done.returncode}):\n{out[-4000:]}"
    report = json.loads(out.split("@@SVFR-PROBE@@", 1)[1].splitlines()[0])
    assert report["comfyui"] == host.name
    failed = [name for name, ok in report["checks"].items() if not ok]
    assert not failed, f"ComfyUI {host.name}: {failed}\n{json.dumps(report, indent=1)}"
    if host.name != "0.3.75":  # every host after 0.3.75 has dynamic VRAM: the probe simulated it there
        assert report["host_has_dynamic_vram"]
