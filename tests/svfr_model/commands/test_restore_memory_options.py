"""restore CLI: --preset, --decode-chunk/--encode-chunk overrides, --dtype/--vae-dtype/--device auto, --compile."""
from __future__ import annotations

import argparse

import pytest

from svfr_model.commands import restore


def _parse(*extra):
    ap = argparse.ArgumentParser()
    restore.register(ap.add_subparsers())
    return ap.parse_args(["restore", "in.mp4", "out.mp4", "--models", "m", *extra])


def test_defaults_are_auto_and_the_default_preset():
    a = _parse()
    assert (a.device, a.dtype, a.vae_dtype, a.preset, a.compile) == ("auto", "auto", "auto", "default", "off")
    c = restore.options_from_args(a).sampling
    assert (c.decode_chunk, c.encode_chunk, c.cfg_sequential, c.offload) == (8, 4, False, False)


def test_low_vram_preset_and_explicit_chunks():
    c = restore.options_from_args(_parse("--preset", "low_vram")).sampling
    assert (c.decode_chunk, c.encode_chunk, c.cfg_sequential, c.offload) == (6, 4, True, True)
    c = restore.options_from_args(_parse("--preset", "low_vram", "--decode-chunk", "2", "--encode-chunk", "1")).sampling
    assert (c.decode_chunk, c.encode_chunk, c.cfg_sequential) == (2, 1, True)


@pytest.mark.fault("options and widgets", "bad CLI choices")
@pytest.mark.parametrize("bad", [["--preset", "huge"], ["--vae-dtype", "int8"], ["--compile", "max"]])
def test_bad_choices_are_refused(bad, capsys):
    with pytest.raises(SystemExit):
        _parse(*bad)
    assert "invalid choice" in capsys.readouterr().err
