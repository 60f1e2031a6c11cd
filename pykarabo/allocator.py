"""Keep freed large blocks in the process for the next ones (glibc malloc settings).

A pipeline handler that makes a fresh result per train (``np.subtract(raw, offset)``: 16 MiB of
float32 for 64 AGIPD memory cells) asks malloc for a large block every train.  glibc gives blocks
above its mmap threshold back to the kernel when they are freed, and trims the top of its heaps
once their free end exceeds the trim threshold.  Its self-adapting thresholds did not prevent
that in the bound calibration chain (the result is made on one thread and freed on another):
about 200 page faults per train, and the kernel zeroing the pages again cost about a tenth of
the chain's CPU time on these machines (perf: ``clear_page_erms``).

Raising the mmap threshold to glibc's maximum (32 MiB on 64-bit) and the trim threshold far
above it keeps such blocks in the heap, where the next train reuses them.  Blocks above 32 MiB
are still mapped and unmapped each time: glibc offers no setting for them.  The price: memory freed
after a burst stays with the process for reuse (up to 1 GiB per heap) instead of going back to the
system.

Set ``PYKARABO_MALLOC_TUNING=0`` to leave malloc as it is; settings made through glibc's own
environment (``GLIBC_TUNABLES`` malloc tunables, ``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``) are respected and left alone.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1          # mallopt parameters of glibc's malloc.h
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20       # glibc's maximum for it on 64-bit (larger values are refused)
TRIM_THRESHOLD = 1 << 30

_lock = threading.Lock()
_applied: bool | None = None


def _userChoseOtherwise() -> bool:
    env = os.environ
    return (env.get("PYKARABO_MALLOC_TUNING", "1") == "0" or "glibc.malloc." in env.get("GLIBC_TUNABLES", "")
            or "MALLOC_MMAP_THRESHOLD_" in env or "MALLOC_TRIM_THRESHOLD_" in env)


def keepFreedBlocks() -> bool:
    """Apply the settings the module describes once per process; True if they are in effect.

    Does nothing (False) outside Linux with glibc or when the environment says otherwise.
    """
    global _applied
    with _lock:
        if _applied is None:
            _applied = _apply()
        return _applied


def _apply() -> bool:
    if not sys.platform.startswith("linux") or _userChoseOtherwise():
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False        # not glibc (musl has no mallopt)
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    if not ok:
        log.debug("malloc refused the thresholds; freed large blocks go back to the system")
    return ok
