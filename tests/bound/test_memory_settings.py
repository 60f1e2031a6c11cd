"""A bound device keeps freed large blocks for the next train (pykarabo_bridge.memory, glibc only).

It runs in a fresh interpreter: the settings are process-wide and cannot be undone.  What the
settings do is tested in tests/bridge_client/test_memory.py.
"""

import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                                reason="the malloc settings exist only in glibc")

_DEVICE = r"""
import os
from pykarabo import Hash
from pykarabo_bridge import memory
from pykarabo.bound import KARABO_CLASSINFO, PythonDevice, startDevice
from pykarabo.net.broker.embedded import privateEmbeddedUrl
from pykarabo.net.broker.threads import ThreadedSignalSlotable

@KARABO_CLASSINFO("Plain", "1.0")
class Plain(PythonDevice):
    pass

url, topic = privateEmbeddedUrl(), f"alloc{os.getpid()}"
host = ThreadedSignalSlotable(f"alloc-host-{os.getpid()}", broker=url, topic=topic)
host.start()
assert memory._applied == {}
device = startDevice(Plain, Hash("deviceId", "ALLOC/PLAIN"), broker=url, topic=topic)
print(memory._applied)
device.slotKillDevice()
host.stop()
"""


def test_a_bound_device_applies_them_when_it_starts():
    out = subprocess.run([sys.executable, "-c", _DEVICE], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["{False:", "True}"], out.stderr[-2000:]
