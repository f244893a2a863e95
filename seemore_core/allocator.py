"""Keep freed memory in the process between the ops of an upscale (glibc only).

Every op of a CPU forward allocates its output, a feature map of a few MB (36 channels
of a 192 px tile: 5.3 MB), and frees its inputs. glibc's malloc serves such sizes from
mmap until its dynamic threshold has grown past them, and hands the top of the heap back
to the kernel whenever more than twice that threshold is free there; either way the
next map of the same size comes from fresh pages, and the kernel zero-fills every 4 KB
of them on first touch. Measured (T x4, whole 192 px input, one thread, idle 2-core
AVX2 machine): 203k page faults and 890 ms per three runs' best, against 76k and 761 ms
with the two settings below. The cost: up to TRIM_BYTES of freed heap stays mapped in
the process for the next run instead of going back to the system.

Other C libraries (musl, macOS, Windows) keep their own policies; there this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

# mallopt parameters (malloc.h): the values glibc has used since 2.x and still does.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Blocks up to this size come from the heap (glibc's ceiling for the dynamic threshold,
# 32 MB on 64-bit): a tile's maps; whole-image maps above it stay mmapped and are
# returned to the system as soon as they are freed.
MMAP_BYTES = 32 * 1024 * 1024
# Free memory at the heap's top kept for reuse before any is given back.
TRIM_BYTES = 256 * 1024 * 1024


@functools.cache
def keep_freed_memory() -> bool:
    """Apply the two settings once per process; True where they took effect."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl has no mallopt), or no C library to load
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success, 0 on an unknown parameter or a value out of range.
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES)
    )
