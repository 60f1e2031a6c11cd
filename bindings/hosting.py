"""What a device server needs to host bound devices in its own process.

Real Karabo runs each bound device in a process of its own; here a server may host them as
objects (their slots and pipeline handlers run on thread pools, so they do not block its loop).
The server finds the classes with ``pykarabo.server.discoverClasses`` (entry-point group
``karabo.bound_device`` among others), then::

    device = startDevice(classes["MyDevice"], config, broker=url, topic=topic, server=self)
    ...                                                  # server.deviceGone(deviceId) when it dies
    device.slotKillDevice()                              # blocking: call it from a worker thread

``startDevice`` blocks (uniqueness ping, initial functions); call it from a thread, e.g.
``await loop.run_in_executor(None, startDevice, ...)``.
"""

from __future__ import annotations

from typing import Any

from pykarabo import Hash
from pykarabo.errors import KaraboError

from .device import PythonDevice

__all__ = ["startDevice"]


def startDevice(cls: type, configuration: Hash | dict, *, broker: Any = None, topic: str | None = None,
                server: Any = None) -> PythonDevice:
    """Create a device of class ``cls`` and bring it online; ``server.deviceGone(id)`` is called when it dies."""
    if not (isinstance(cls, type) and issubclass(cls, PythonDevice)):
        raise KaraboError(f"{cls!r} is not a bound device class (a PythonDevice subclass)")
    device = cls(configuration)
    device.startInstance(broker=broker, topic=topic, server=server)
    return device
