"""weights/verify.py: the UNet key check against the REAL manifest (the official 1428 keys) without tensors."""
from __future__ import annotations

import json
import struct

import pytest


def _header_only_safetensors(path, shapes):
    """A safetensors file whose header lists ``shapes`` (fp16); the data is not there: the check never reads it."""
    header, offset = {}, 0
    for key, shape in shapes.items():
        n = 2
        for s in shape:
            n *= s
        header[key] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    return path


def test_unet_check_matches_the_official_manifest_and_names_a_plain_svd_unet(keys_dir, tmp_path):
    from svfr_model.errors import WeightsError
    from svfr_model.weights.verify import check_weights

    shapes = json.loads((keys_dir / "svfr_unet_keys_svdxt.json").read_text())
    assert len(shapes) == 1428 and shapes["conv_in.weight"] == [320, 12, 3, 3]
    check_weights("unet", _header_only_safetensors(tmp_path / "unet.safetensors", shapes), tmp_path)  # packaged config
    plain = dict(shapes, **{"conv_in.weight": [320, 8, 3, 3]})
    with pytest.raises(WeightsError, match="plain SVD UNet"):
        check_weights("unet", _header_only_safetensors(tmp_path / "svd.safetensors", plain), tmp_path)
