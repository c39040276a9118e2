"""Task vector parsing and how the bits reach the UNet (added time ids)."""
from __future__ import annotations

import math

import pytest
import torch

from svfr_model.errors import InputError
from svfr_model.diffusion.tasks import ALL_TASK_COMBINATIONS, parse_tasks, task_names


@pytest.mark.parametrize("spec, bits", [
    ("bfr", (1, 0, 0)), ("colorization", (0, 1, 0)), ("inpainting", (0, 0, 1)),
    ("bfr,colorization", (1, 1, 0)), ("bfr+inpainting", (1, 0, 1)), (" BFR , Color ", (1, 1, 0)),
    (("bfr", "colorization", "inpainting"), (1, 1, 1)), ([0, 2], (1, 0, 1)), (2, (0, 0, 1)),
    ([0, 1, 2], (1, 1, 1)), ([1, 0, 1], (1, 0, 1)), ((0.0, 1.0, 0.0), (0, 1, 0)),
    (torch.tensor([1, 1, 0]), (1, 1, 0)),
])
def test_parse_tasks(spec, bits):
    assert parse_tasks(spec) == bits


@pytest.mark.parametrize("spec, match", [
    ([0, 0, 0], "no task"), ("", "no task"), ("deblur", "unknown task"), (5, "out of range"),
    (None, "give names"), ([True], "task"),
])
@pytest.mark.fault("options and widgets", "unknown or empty task")
def test_parse_tasks_errors(spec, match):
    with pytest.raises(InputError, match=match):
        parse_tasks(spec)


def test_all_seven_combinations_round_trip():
    assert len(ALL_TASK_COMBINATIONS) == 7
    for bits in ALL_TASK_COMBINATIONS:
        assert parse_tasks(",".join(task_names(bits))) == bits
        assert parse_tasks(list(bits)) == bits


def test_task_bits_embedding_is_cos_first():
    """spec 2.4: each bit b -> [cos(b f_k) for k < 128, sin(b f_k)], f_k = exp(-ln(1e4) k / 128)."""
    from svfr_model.networks.unet import build_unet

    unet = build_unet(device="meta")
    emb = unet.add_time_proj(torch.tensor([1.0, 0.0, 1.0])).reshape(3, 256)
    f = torch.exp(-math.log(10000) * torch.arange(128) / 128)
    assert torch.allclose(emb[0], torch.cat([torch.cos(f), torch.sin(f)]), atol=1e-6)
    assert torch.equal(emb[1], torch.cat([torch.ones(128), torch.zeros(128)]))
    assert emb[0, :2].tolist() == pytest.approx([0.5403, 0.5974], abs=1e-4)
    assert unet.add_embedding.linear_1.in_features == 3 * 256
