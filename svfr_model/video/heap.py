"""Keep frame-sized host buffers out of glibc's heap, so a long video does not grow the process's memory.

glibc serves large allocations with mmap and returns them to the system on free, but each time such a block
is freed it raises its mmap threshold (up to 32 MiB). After the first chunk of decoded frames is freed,
frame-sized arrays (a 1080p RGB frame is 6 MB) come from the heaps of the decoder's, the detector's and
torch's threads instead, where blocks of different lifetimes interleave and the freed space is not given
back. Measured on the 1080p bench clip, detection pass: the process grew by 1.8-4.8 MB per frame; with the
threshold pinned at 1 MiB it stayed flat (bench/bench_long_video.py, docs/performance.md).
"""
from __future__ import annotations

import ctypes
import os
import sys

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)
THRESHOLD = 1 << 20  # bytes: anything from a 512x512 RGB frame up is mapped, and unmapped when freed

_pinned: bool | None = None


def pin_mmap_threshold(nbytes: int = THRESHOLD) -> bool:
    """Fix glibc's mmap threshold (once per process). False where there is nothing to do: not Linux/glibc,
    the user set ``MALLOC_MMAP_THRESHOLD_`` themselves, or ``SVFR_MALLOC_TUNING=0``."""
    global _pinned
    if _pinned is not None:
        return _pinned
    _pinned = False
    if (not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ
            or os.environ.get("SVFR_MALLOC_TUNING", "1") == "0"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # musl or another C library: its allocator is not glibc's
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _pinned = bool(mallopt(M_MMAP_THRESHOLD, int(nbytes)))
    return _pinned
