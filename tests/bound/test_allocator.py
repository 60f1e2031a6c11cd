"""pykarabo.allocator: bound devices keep freed large blocks for the next train (glibc only).

Each case runs in a fresh interpreter: the settings are process-wide and cannot be undone.
"""

import json
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                                reason="the malloc settings exist only in glibc")

# Where a 16 MiB block comes from: mallinfo2().hblks counts the blocks malloc mapped on their own.
_PROBE = r"""
import ctypes, json, sys
from pykarabo.allocator import keepFreedBlocks

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = (ctypes.c_void_p,)
applied = [keepFreedBlocks() for _ in range(2)]
before = libc.mallinfo2().hblks
block = libc.malloc(16 << 20)
mapped = libc.mallinfo2().hblks - before
libc.free(block)
print(json.dumps({"applied": applied, "mapped": mapped}))
"""


def probe(**env: str) -> dict:
    environ = {k: v for k, v in os.environ.items()
               if k not in ("PYKARABO_MALLOC_TUNING", "GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_")}
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60,
                         env={**environ, **env}, check=True).stdout
    return json.loads(out)


def test_large_blocks_come_from_the_heap_once_applied():
    assert probe() == {"applied": [True, True], "mapped": 0}


def test_without_the_settings_glibc_maps_such_a_block_on_its_own():
    assert probe(PYKARABO_MALLOC_TUNING="0") == {"applied": [False, False], "mapped": 1}


@pytest.mark.parametrize("env", [{"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1000000"},
                                 {"MALLOC_MMAP_THRESHOLD_": "1000000"}])
def test_the_users_own_malloc_settings_are_left_alone(env):
    assert probe(**env)["applied"] == [False, False]


_DEVICE = r"""
import os
from pykarabo import Hash, allocator
from pykarabo.bound import KARABO_CLASSINFO, PythonDevice, startDevice
from pykarabo.net.broker.embedded import privateEmbeddedUrl
from pykarabo.net.broker.threads import ThreadedSignalSlotable

@KARABO_CLASSINFO("Plain", "1.0")
class Plain(PythonDevice):
    pass

url, topic = privateEmbeddedUrl(), f"alloc{os.getpid()}"
host = ThreadedSignalSlotable(f"alloc-host-{os.getpid()}", broker=url, topic=topic)
host.start()
assert allocator._applied is None
device = startDevice(Plain, Hash("deviceId", "ALLOC/PLAIN"), broker=url, topic=topic)
print(allocator._applied)
device.slotKillDevice()
host.stop()
"""


def test_a_bound_device_applies_them_when_it_starts():
    out = subprocess.run([sys.executable, "-c", _DEVICE], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["True"], out.stderr[-2000:]
