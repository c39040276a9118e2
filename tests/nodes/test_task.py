"""SVFRTaskVector: the bits it outputs, the label it shows, and the empty selection refused."""
from __future__ import annotations

import itertools

import pytest

pytestmark = pytest.mark.comfy


@pytest.mark.parametrize("bits", [b for b in itertools.product((0, 1), repeat=3) if any(b)])
def test_every_combination_gives_its_bits_and_label(node_classes, bits):
    node = node_classes["SVFRTaskVector"]
    out = node.execute(bfr=bool(bits[0]), colorization=bool(bits[1]), inpainting=bool(bits[2]))
    assert out.result[0].tolist() == [float(b) for b in bits]
    label = out.ui["text"][0]
    expected = [n for n, b in zip(("BFR", "colorization", "inpainting"), bits) if b]
    assert label == " + ".join(expected)
    assert node.validate_inputs(bfr=bool(bits[0]), colorization=bool(bits[1]), inpainting=bool(bits[2])) is True


@pytest.mark.fault("options and widgets", "no task switched on")
def test_no_task_is_refused_by_validation_and_execution(node_classes):
    from svfr_model.errors import InputError

    node = node_classes["SVFRTaskVector"]
    msg = node.validate_inputs(bfr=False, colorization=False, inpainting=False)
    assert isinstance(msg, str) and "at least one" in msg
    with pytest.raises(InputError, match="at least one"):
        node.execute(bfr=False, colorization=False, inpainting=False)
