import numpy as np
import pytest
import torch

from svfr_model.networks.arcface import IResNet
from svfr_model.errors import InputError, NoFaceError
from svfr_model.faces.align import SVFR_TEMPLATE_256, align_for_arcface
from svfr_model.networks.id_projector import IDProjector
from svfr_model.weights.models import load_id_projector
from svfr_model.diffusion.identity import IdentityEncoder, quantize_reference


def test_quantize_reference_truncates_like_infer_py():
    # values chosen so truncation and rounding differ: 0.999 -> 254.87 -> 254 (rounding would give 255)
    vals = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.5, 0.999, 1.0, 7.0])
    frame = vals.view(1, 1, 8).expand(3, 1, 8).clone()
    frame[1] *= -1  # a different channel so the HWC permute is checked
    out = quantize_reference(frame)
    assert out.shape == (1, 8, 3) and out.dtype == np.uint8
    assert out[0, :, 0].tolist() == [0, 0, 63, 127, 191, 254, 255, 255]
    assert out[0, :, 1].tolist() == [255, 255, 191, 127, 63, 0, 0, 0]


def test_quantize_reference_rejects_bad_frames():
    with pytest.raises(InputError, match="3, H, W"):
        quantize_reference(torch.zeros(8, 8, 3))
    with pytest.raises(InputError, match="NaN"):
        quantize_reference(torch.full((3, 4, 4), float("nan")))


@pytest.mark.parametrize("case", ["bfr", "bfr_color_inpaint"])
def test_tokens_from_feature_reproduces_fixture(parity_dir, case):
    """Both parity cases carry the official ArcFace feature and the id_linear tokens made from it."""
    enc = IdentityEncoder(None, load_id_projector(parity_dir / "models/face_restoration/id_linear.pth"))
    case_dir = parity_dir / "cases" / case
    feature = torch.from_numpy(np.load(case_dir / "arcface_feature.npy"))
    want = np.load(case_dir / "id_embedding.npy")[0]
    tok = enc.tokens_from_feature(feature)
    assert tok.shape == (49, 1024)
    assert float(np.abs(want).max()) > 0.1  # a real embedding, so the 1e-5 match below means something
    assert np.abs(tok.numpy() - want).max() <= 1e-5


def _small_encoder():
    torch.manual_seed(0)
    arc = IResNet(layers=(1, 1, 1, 1), widths=(8, 8, 16, 512))
    return IdentityEncoder(arc, IDProjector().eval())


def test_tokens_from_image_chains_align_arcface_projector_and_depends_on_crop():
    enc = _small_encoder()
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(200, 220, 3), dtype=np.uint8)
    lm = SVFR_TEMPLATE_256 * 0.7 + 10
    with torch.no_grad():
        expected = enc.id_projector(enc.arcface(align_for_arcface(img, lm, "official")))[0]
    tok = enc.tokens_from_image(img, lm)
    torch.testing.assert_close(tok, expected)
    corrected = enc.tokens_from_image(img, lm, crop="corrected")
    assert (corrected - tok).abs().max() > 1e-2  # the two crops see different pixels
    # fresh LayerNorm (weight 1, bias 0): every token is normalised across its 1024 channels
    assert tok.shape == (49, 1024)
    assert tok.mean(dim=1).abs().max() < 1e-5
    # variance is v / (v + eps) of the pre-norm variance v: at most 1
    var = tok.var(dim=1, unbiased=False)
    assert var.max() <= 1 + 1e-5 and var.min() > 0.5


def test_tokens_from_reference_frame_quantises_first():
    enc = _small_encoder()
    torch.manual_seed(1)
    frame = torch.rand(3, 128, 128) * 2.2 - 1.1
    lm = SVFR_TEMPLATE_256 * 0.5
    a = enc.tokens_from_reference_frame(frame, lm)
    b = enc.tokens_from_image(quantize_reference(frame), lm)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_image_without_arcface_is_clear_error():
    enc = IdentityEncoder(None, IDProjector())
    with pytest.raises(InputError, match="insightface_glint360k"):
        enc.tokens_from_image(np.zeros((64, 64, 3), np.uint8), SVFR_TEMPLATE_256 / 4)


@pytest.mark.fault("faces", "no landmarks for the identity")
def test_missing_landmarks_is_no_face_error():
    with pytest.raises(NoFaceError, match="landmarks"):
        _small_encoder().tokens_from_image(np.zeros((64, 64, 3), np.uint8), None)
