"""host_memory.pin_mmap_threshold: frame-sized buffers stay mapped (returned to the system when freed) after
glibc would otherwise have raised its threshold and put them on a heap (see the module docstring)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator only")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

# In a fresh process: free an 8 MB block (glibc then raises its mmap threshold to 8 MB), allocate a 2 MB frame,
# and report whether that frame was mapped (mallinfo2().hblkhd: bytes in mapped blocks).
PROBE = textwrap.dedent("""
    import ctypes, sys
    import numpy as np
    sys.path.insert(0, {repo!r})
    from svfr_model.video.heap import pin_mmap_threshold

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                    "fsmblks", "uordblks", "fordblks", "keepcost")]
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    pinned = pin_mmap_threshold() if {pin} else False
    big = np.ones(8 << 20, np.uint8); del big
    before = libc.mallinfo2().hblkhd
    frame = np.ones((720, 1280, 3), np.uint8)  # 2.6 MB
    print(pinned, libc.mallinfo2().hblkhd - before >= frame.nbytes)
""")


def _probe(pin: bool, **env) -> tuple[str, str]:
    code = PROBE.format(repo=REPO, pin=pin)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, **env}).stdout.split()
    return out[0], out[1]


def test_frames_are_mapped_once_pinned_and_heap_allocated_without():
    assert _probe(pin=True) == ("True", "True")
    assert _probe(pin=False) == ("False", "False")  # glibc's own rule: the frame went to the heap


def test_the_users_own_setting_and_the_opt_out_are_respected():
    assert _probe(pin=True, SVFR_MALLOC_TUNING="0") == ("False", "False")
    pinned, _mapped = _probe(pin=True, MALLOC_MMAP_THRESHOLD_="65536")
    assert pinned == "False"  # the user's threshold stays (it also maps the frame: their choice)


def test_reading_a_video_pins_it(tmp_path):
    """Every streaming pass decodes through video_io.iter_frames, which pins the threshold first."""
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        sys.path.insert(0, {REPO!r})
        from svfr_model.video import heap as host_memory
        from svfr_model.video import iter_frames, write_video
        write_video({str(tmp_path / "c.mp4")!r}, np.zeros((3, 32, 32, 3), np.uint8), 25)
        host_memory._pinned = None  # as in a process that has read no video yet
        list(iter_frames({str(tmp_path / "c.mp4")!r}))
        print(host_memory._pinned)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "True"
