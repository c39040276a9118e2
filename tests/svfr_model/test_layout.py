"""Module layout: the face pipeline does not import the engine, and no import cycle between model modules."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "svfr_model"


def _imported_modules(path: Path) -> set[str]:
    """Relative module names ``path`` imports anywhere (also inside functions), resolved within svfr_model."""
    tree = ast.parse(path.read_text())
    package = path.relative_to(PKG.parent).with_suffix("").parts[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - node.level + 1]
            out.add(".".join(base + ((node.module,) if node.module else ())))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("svfr_model"):
            out.add(node.module)
    return out


def test_faces_package_never_imports_the_engine():
    engine = {"svfr_model.pipeline", "svfr_model.sampler", "svfr_model.models", "svfr_model.unet",
              "svfr_model.restore_tracks"}
    offenders = {str(p.relative_to(PKG)): sorted(_imported_modules(p) & engine)
                 for p in (PKG / "faces").rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_model_files_and_single_file_vae_form_no_cycle():
    assert "svfr_model.svd_single_file" in _imported_modules(PKG / "model_files.py")  # the premise
    assert "svfr_model.model_files" not in _imported_modules(PKG / "svd_single_file.py")
    from svfr_model.model_files import PACKAGED_CONFIGS
    from svfr_model.svd_single_file import PACKAGED_VAE_CONFIG

    assert PACKAGED_VAE_CONFIG == PACKAGED_CONFIGS["vae"] and PACKAGED_VAE_CONFIG.is_file()


def test_importing_the_faces_package_loads_no_engine_module():
    code = ("import sys, svfr_model.faces, svfr_model.faces.pipeline; "
            "print(sorted(m for m in sys.modules if m in ('svfr_model.pipeline', 'svfr_model.models', "
            "'svfr_model.sampler', 'diffusers')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PKG.parent).stdout.strip()
    assert out == "[]"


def test_old_public_face_names_still_import():
    from svfr_model.faces import FaceCropRecord, FaceCrops, FaceTrack, crop_faces, paste_faces  # noqa: F401
    from svfr_model.faces.pipeline import (FrameSource, crop_frame, detect_faces, extract_crops,  # noqa: F401
                                           official_max_face, plan_crops, plan_from_detections, record_slice)
    from svfr_model.faces.plan import detect_faces as d
    from svfr_model.faces.records import FaceCropRecord as R

    assert d is detect_faces and R is FaceCropRecord
