"""SVFRFaceDetectorLoader: which detector files it offers, and that the embedded one detects a real face."""
from __future__ import annotations

import numpy as np
import pytest

from testdata import astronaut

pytestmark = pytest.mark.comfy


def test_embedded_retinaface_finds_the_face(node_classes):
    det = node_classes["SVFRFaceDetectorLoader"].execute(detector="retinaface (embedded)").result[0]
    found = det.detect(astronaut())
    assert len(found.boxes) >= 1
    x0, y0, x1, y1 = np.asarray(found.boxes)[0]
    # Eileen Collins' face in the 512x512 astronaut image lies around x 150..250, y 60..190
    assert 120 < (x0 + x1) / 2 < 260 and 60 < (y0 + y1) / 2 < 180


def test_choices_list_yoloface_files_and_insightface_packs(comfy, pack, node_classes, svfr_models_dir, tmp_path, monkeypatch):
    import folder_paths

    models = tmp_path / "models"
    (models / "face_align").mkdir(parents=True)
    (models / "face_align" / "yoloface_v5m.pt").write_bytes(b"x")
    (models / "face_align" / "other.pt").write_bytes(b"x")
    (models / "insightface" / "models" / "antelopev2").mkdir(parents=True)
    (models / "insightface" / "models" / "antelopev2" / "scrfd_10g_bnkps.onnx").write_bytes(b"x")
    (models / "insightface" / "models" / "empty_pack").mkdir()
    svfr = tmp_path / "svfr"
    (svfr / "official" / "face_align").mkdir(parents=True)
    (svfr / "official" / "face_align" / "yoloface_v5m.pt").write_bytes(b"x")
    monkeypatch.setattr(folder_paths, "models_dir", str(models))
    svfr_models_dir(svfr)

    loader = pack.nodes.detector_loader
    choices = loader.detector_choices()
    assert choices[0] == "retinaface (embedded)"
    assert "yoloface/yoloface_v5m.pt" in choices and "yoloface/official/face_align/yoloface_v5m.pt" in choices
    assert "insightface/antelopev2" in choices
    assert not any("other.pt" in c or "empty_pack" in c for c in choices)
    assert loader.resolve_detector("insightface/antelopev2") == (
        "insightface", str(models / "insightface" / "models" / "antelopev2"))
    kind, path = loader.resolve_detector("yoloface/official/face_align/yoloface_v5m.pt")
    assert kind == "yoloface" and path == str(svfr / "official" / "face_align" / "yoloface_v5m.pt")


@pytest.mark.fault("options and widgets", "unknown detector choice")
def test_unknown_detector_choice_is_a_clear_error(pack, node_classes):
    from svfr_model.errors import WeightsError

    with pytest.raises(WeightsError, match="models/face_align"):
        pack.nodes.detector_loader.resolve_detector("yoloface/missing.pt")
