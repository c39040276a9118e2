import json

import numpy as np
import pytest
import torch

from svfr_model.errors import InputError, WeightsError
from svfr_model.networks.id_projector import IDProjector
from svfr_model.weights.models import load_id_projector


def _case_dirs(parity_dir):
    cases = sorted(p for p in (parity_dir / "cases").iterdir() if (p / "arcface_feature.npy").is_file())
    assert cases, f"no case folders with arcface_feature.npy under {parity_dir / 'cases'}"
    return cases


def test_keys_and_shapes_match_official_manifest(keys_dir):
    manifest = json.loads((keys_dir / "svfr_idlinear_keys.json").read_text())
    with torch.device("meta"):
        model = IDProjector()
    got = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert list(got) == list(manifest)
    assert got == manifest


def test_parity_with_official_id_embedding_every_case(parity_dir):
    model = load_id_projector(parity_dir / "models" / "face_restoration" / "id_linear.pth")
    for case in _case_dirs(parity_dir):
        feat = torch.from_numpy(np.load(case / "arcface_feature.npy"))
        expected = np.load(case / "id_embedding.npy")
        with torch.no_grad():
            got = model(feat).numpy()
        assert got.shape == expected.shape == (1, 49, 1024)
        assert np.abs(got - expected).max() <= 1e-5, case.name


def test_token_order_is_row_major_and_layernorm_eps():
    torch.manual_seed(0)
    model = IDProjector(in_channels=4, out_channels=6).eval()
    feat = torch.randn(1, 4, 7, 7, dtype=torch.float64)
    model = model.double()
    out = model(feat)
    W = model.project1024.weight[:, :, 0, 0]
    row, col = 2, 5
    v = W @ feat[0, :, row, col]
    ref = (v - v.mean()) / torch.sqrt(v.var(unbiased=False) + 1e-5) * model.final_norm.weight + model.final_norm.bias
    torch.testing.assert_close(out[0, 7 * row + col], ref)


def test_wrong_feature_shape_is_input_error():
    with pytest.raises(InputError, match="512"):
        IDProjector()(torch.zeros(1, 256, 7, 7))


@pytest.mark.fault("model files and weights", "wrong ID projector file")
def test_wrong_file_gives_weights_error_naming_file(tmp_path):
    bad = tmp_path / "id_linear.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 3, 3)}, bad)
    with pytest.raises(WeightsError) as ei:
        load_id_projector(bad)
    msg = str(ei.value)
    assert str(bad) in msg and "project1024.weight" in msg and "pass id_linear.pth" in msg
