"""Let each train reuse the memory of the trains before it (glibc malloc settings).

Detector data arrives in large blocks: ZeroMQ allocates a fresh buffer for every frame it
receives, and a calibration handler makes a fresh result array per train.  glibc maps blocks
above its mmap threshold from the kernel on their own and unmaps them when they are freed, and
trims the free top of its heaps; the next train's block is then new pages, which the kernel
faults in and zeroes again.  Measured on these machines:

* a bridge client receiving corrected AGIPD 1M trains (one 268 MB frame each) spent about 60 %
  of its CPU time on that and took trains at half the rate it reaches when the memory is reused
  (1.0 vs 2.0 GB/s over loopback);
* a bound calibration chain (16 MiB results, made on one thread, freed on another) had about 200
  page faults per train, a tenth of its CPU time.

:func:`keep_freed_blocks` raises the mmap threshold to glibc's maximum (32 MiB on 64-bit) and the
trim threshold to 1 GiB, so freed blocks up to 32 MiB stay in the heap for the next train.  With
``any_size=True`` it also stops malloc from mapping any block on its own and makes threads started
afterwards (such as ZeroMQ's I/O thread) share the main heap, the only heap that can hold blocks
larger than 64 MiB; then blocks of every size are reused.  Threads that already allocated keep
their own heaps and, for blocks above 32 MiB, their mappings.

The price: memory freed after a burst stays with the process for reuse (up to 1 GiB of free heap
top) instead of going back to the system, and with ``any_size`` the threads allocate from one
heap.  Set ``PYKARABO_MALLOC_TUNING=0`` to leave malloc as it is; settings made through glibc's own
environment (``GLIBC_TUNABLES`` malloc tunables, ``MALLOC_*_`` variables) are respected and left
alone.  The settings are process-wide and cannot be undone.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading

__all__ = ["keep_freed_blocks"]

logger = logging.getLogger(__name__)

# mallopt parameters of glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
MMAP_THRESHOLD = 32 << 20  # glibc's maximum for it on 64-bit (larger values are refused)
TRIM_THRESHOLD = 1 << 30

_GLIBC_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_MAX_", "MALLOC_ARENA_MAX")

_lock = threading.Lock()
_applied: dict[bool, bool] = {}  # any_size -> whether those settings are in effect


def _user_chose_otherwise() -> bool:
    env = os.environ
    return (
        env.get("PYKARABO_MALLOC_TUNING", "1") == "0"
        or "glibc.malloc." in env.get("GLIBC_TUNABLES", "")
        or any(name in env for name in _GLIBC_VARIABLES)
    )


def keep_freed_blocks(any_size: bool = False) -> bool:
    """Apply the settings the module describes, once per process; True if they are in effect.

    ``any_size=False`` covers blocks up to 32 MiB; ``True`` covers every size (see the module).
    Does nothing (False) outside Linux with glibc or when the environment says otherwise.
    """
    with _lock:
        if any_size not in _applied:
            _applied[any_size] = _apply(any_size)
        return _applied[any_size]


def _apply(any_size: bool) -> bool:
    if not sys.platform.startswith("linux") or _user_chose_otherwise():
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl has no mallopt)
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    settings = [(_M_MMAP_THRESHOLD, MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD)]
    if any_size:
        settings += [(_M_MMAP_MAX, 0), (_M_ARENA_MAX, 1)]
    if all(mallopt(param, value) == 1 for param, value in settings):
        return True
    logger.debug("malloc refused a setting; freed large blocks may go back to the system")
    return False
