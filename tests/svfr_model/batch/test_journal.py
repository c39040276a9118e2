"""The batch journal: what a rerun does with each video, the hashes it compares, one writer at a time."""
from __future__ import annotations

import pytest

from svfr_model.batch.journal import SAMPLE_BLOCK, Journal, decide, file_digest, options_digest
from svfr_model.errors import InputError

ROW = {"input_hash": "i", "options_hash": "o", "state": "done", "error": None}


@pytest.mark.parametrize("row, exists, retry, run, reason", [
    (None, False, False, True, "new"),
    ({**ROW, "input_hash": "changed"}, True, False, True, "input changed"),
    ({**ROW, "options_hash": "changed"}, True, False, True, "options changed"),
    (ROW, True, False, False, "done"),
    (ROW, False, False, True, "output missing"),
    ({**ROW, "state": "failed", "error": "no face"}, False, False, False, "failed before: no face"),
    ({**ROW, "state": "failed", "error": "no face"}, False, True, True, "retry failed"),
    ({**ROW, "state": "interrupted"}, False, False, True, "interrupted"),
    ({**ROW, "state": "running"}, False, False, True, "interrupted"),
    ({**ROW, "state": "pending"}, False, False, True, "pending"),
])
def test_what_a_rerun_does(row, exists, retry, run, reason):
    d = decide(row, "i", "o", exists, retry)
    assert (d.run, d.reason) == (run, reason)


def test_input_hash_sees_content_and_size(tmp_path):
    small, big = tmp_path / "s.bin", tmp_path / "b.bin"
    small.write_bytes(b"abc")
    assert file_digest(small) == file_digest(small, full=True)
    data = bytearray(4 * SAMPLE_BLOCK)
    big.write_bytes(bytes(data))
    quick, full = file_digest(big), file_digest(big, full=True)
    data[-1] = 1  # in the end sample
    big.write_bytes(bytes(data))
    assert file_digest(big) != quick and file_digest(big, full=True) != full
    big.write_bytes(bytes(data[:-1]))  # truncated
    assert file_digest(big) != quick
    assert options_digest({"a": 1, "b": [1, 2]}) == options_digest({"b": [1, 2], "a": 1})


def test_one_writer_and_a_dead_run_is_redone(tmp_path):
    j = Journal(tmp_path)
    j.begin_run("first")
    vid = j.queue("a.mp4", "/in/a.mp4", "i", "o")
    j.start(vid, 1, "w0")
    with pytest.raises(InputError, match="another batch is writing"):
        Journal(tmp_path)
    j.close()  # the run died without finishing: its video stays "running"
    with Journal(tmp_path) as again:
        again.begin_run("second")
        assert again.row("a.mp4")["state"] == "interrupted"
        assert decide(again.row("a.mp4"), "i", "o", False).reason == "interrupted"
        assert [r["outcome"] for r in again.db.execute("SELECT outcome FROM runs ORDER BY id")] == ["died", None]
    look = Journal(tmp_path, readonly=True)  # --dry-run: reads, writes nothing, takes no lock
    assert look.row("a.mp4")["attempts"] == 1 and look.rows()[0]["worker"] == "w0"
    look.close()
    assert Journal(tmp_path / "none", readonly=True).row("a.mp4") is None
