"""Process-level allocator tuning for batch analysis.

The signal core allocates many arrays of a wrap's length (about 700 KB for a day at 1 Hz). glibc
returns freed memory at the top of the heap to the kernel once more than 128 KB are free there, so the
next array page-faults its memory back in: on a day of data that costs about a third of the core's
time. Asking glibc to keep freed memory for reuse removes that. It only changes when memory is handed
back to the kernel, never what is computed; it is a no-op where glibc is not the C library.
"""

from __future__ import annotations

import ctypes
import logging

__all__ = ["keep_freed_memory"]

log = logging.getLogger(__name__)

# mallopt parameter numbers from glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3


def keep_freed_memory() -> bool:
    """Tell glibc to keep up to 1 GiB of freed heap for reuse; True if it was applied."""
    # The C library already loaded in this process (``ctypes.util.find_library`` would import
    # tempfile and shutil, and may run ldconfig, to name the same library).
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = all(
        mallopt(param, value) == 1
        for param, value in (
            (_M_MMAP_THRESHOLD, 256 << 20),
            (_M_TRIM_THRESHOLD, 1 << 30),
            (_M_TOP_PAD, 64 << 20),
        )
    )
    log.debug("glibc allocator tuning %s", "applied" if ok else "refused")
    return ok
