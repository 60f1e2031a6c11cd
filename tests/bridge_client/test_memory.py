"""pykarabo_bridge.memory: freed large blocks stay in the process for the next train (glibc only).

Each case runs in a fresh interpreter: the settings are process-wide and cannot be undone.
"""

import json
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="the malloc settings exist only in glibc",
)

# Allocates in a thread started after the settings, as ZeroMQ's I/O thread does, and reports how
# many blocks malloc mapped on their own (mallinfo2().hblks) and whether a freed block came back.
_PROBE = r"""
import ctypes, json, sys, threading
from pykarabo_bridge.memory import keep_freed_blocks

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
size, any_size = int(sys.argv[1]), sys.argv[2] == "any"
applied = [keep_freed_blocks(any_size) for _ in range(2)]
out = {"applied": applied}

def allocate():
    before = libc.mallinfo2().hblks
    first = libc.malloc(size)
    out["mapped"] = libc.mallinfo2().hblks - before
    libc.free(first)
    second = libc.malloc(size)
    out["reused"] = second == first
    libc.free(second)

thread = threading.Thread(target=allocate)
thread.start()
thread.join()
print(json.dumps(out))
"""

_MALLOC_ENV = ("PYKARABO_MALLOC_TUNING", "GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_ARENA_MAX")


def _clean_env(**env: str) -> dict:
    return {**{k: v for k, v in os.environ.items() if k not in _MALLOC_ENV}, **env}


def probe(size: int, any_size: bool = False, **env: str) -> dict:
    args = [sys.executable, "-c", _PROBE, str(size), "any" if any_size else "up to 32 MiB"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, env=_clean_env(**env), check=True)
    return json.loads(out.stdout)


MODULE = 16 << 20  # an AGIPD module's frame
AGIPD_1M = 256 << 20  # a corrected AGIPD 1M train's frame


def test_blocks_up_to_32_mib_come_from_the_heap_and_are_reused():
    assert probe(MODULE) == {"applied": [True, True], "mapped": 0, "reused": True}


def test_without_the_settings_glibc_maps_such_a_block_on_its_own():
    result = probe(MODULE, PYKARABO_MALLOC_TUNING="0")
    assert (result["applied"], result["mapped"]) == ([False, False], 1)


def test_larger_blocks_are_mapped_unless_any_size_is_asked_for():
    assert probe(AGIPD_1M)["mapped"] == 1
    assert probe(AGIPD_1M, any_size=True) == {"applied": [True, True], "mapped": 0, "reused": True}


@pytest.mark.parametrize(
    "env",
    [
        {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1000000"},
        {"MALLOC_MMAP_THRESHOLD_": "1000000"},
        {"MALLOC_ARENA_MAX": "4"},
    ],
)
def test_the_users_own_malloc_settings_are_left_alone(env):
    assert probe(MODULE, any_size=True, **env)["applied"] == [False, False]


_CLIENT = r"""
import json, sys
from pykarabo_bridge import AsyncClient, Client, memory
kind, reuse = sys.argv[1], sys.argv[2] == "reuse"
cls = AsyncClient if kind == "async" else Client
cls("tcp://127.0.0.1:9", sock="PULL", reuse_memory=reuse).close()
print(json.dumps(sorted(memory._applied.items())))
"""


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("reuse", [True, False])
def test_a_client_applies_them_for_any_size_unless_told_not_to(kind, reuse):
    args = [sys.executable, "-c", _CLIENT, kind, "reuse" if reuse else "keep malloc as it is"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, env=_clean_env(), check=True)
    assert json.loads(out.stdout) == ([[True, True]] if reuse else [])
