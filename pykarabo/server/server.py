"""The device server: hosts middlelayer devices in its event loop, bound devices on their own threads, and
starts/kills them on request."""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import socket
from typing import Any

from pykarabo import Hash, Types
from pykarabo.bound import PythonDevice, startDevice as startBoundDevice
from pykarabo.device.core import KARABO_VERSION
from pykarabo.errors import KaraboError
from pykarabo.middlelayer.configurable import toHash
from pykarabo.middlelayer.proxy import BusInstance
from pykarabo.signalslot import isValidInstanceId

log = logging.getLogger(__name__)

__all__ = ["DeviceServer", "SERVER_HEARTBEAT", "defaultServerId"]

SERVER_HEARTBEAT = 20   # seconds: Karabo's servers all beat every 20 s


def defaultServerId() -> str:
    """Karabo's default server id ``<host>_Server_<pid>``."""
    return f"{socket.gethostname().split('.')[0]}_Server_{os.getpid()}"


class DeviceServer:
    """A server on the bus: announces its device classes, starts devices from ``init`` and ``slotStartDevice``."""

    def __init__(self, serverId: str, classes: dict[str, type], *, broker: str | None = None,
                 topic: str | None = None, init: dict | None = None, logLevel: str = "INFO"):
        if not isValidInstanceId(serverId):
            raise KaraboError(f"invalid serverId {serverId!r}: use letters, digits and _ / -")
        self.serverId = serverId
        self.classes = dict(classes)
        self.broker = broker
        self.topic = topic
        self.init = dict(init or {})
        self.logLevel = logLevel
        self.devices: dict[str, Any] = {}
        self._starting: set[str] = set()
        self._counter = 0
        self._stopped: asyncio.Event | None = None
        self._sigslot: BusInstance | None = None

    def instanceInfo(self) -> Hash:
        """What the server announces: type, classes, host, user, language, version."""
        info = Hash()
        info["type"] = "server"
        info["serverId"] = self.serverId
        info["version"] = KARABO_VERSION
        info["host"] = socket.gethostname()
        try:
            info["user"] = getpass.getuser()
        except (KeyError, OSError):
            info["user"] = "unknown"
        info["lang"] = "python"
        info["log"] = self.logLevel
        info.setAs("serverFlags", 0, Types.INT32)
        info["deviceClasses"] = sorted(self.classes)
        info.setAs("heartbeatInterval", SERVER_HEARTBEAT, Types.INT32)
        info["karaboVersion"] = KARABO_VERSION
        return info

    async def start(self) -> None:
        """Join the bus, then start the devices of ``init`` (failures are logged, not fatal)."""
        self._stopped = asyncio.Event()
        self._sigslot = BusInstance(self.serverId, self.instanceInfo(), broker=self.broker, topic=self.topic,
                                    heartbeatInterval=SERVER_HEARTBEAT)
        for handler in (self.slotStartDevice, self.slotKillServer, self.slotGetClassSchema):
            self._sigslot.registerSlot(handler)
        await self._sigslot.start()
        log.info("server %s is up with classes %s", self.serverId, ", ".join(sorted(self.classes)) or "(none)")
        results = await asyncio.gather(*(self.startDevice(config.get("classId", ""), deviceId, config)
                                         for deviceId, config in self.init.items()))
        for ok, message in results:
            if not ok:
                log.error("%s", message)

    async def startDevice(self, classId: str, deviceId: str, configuration: Any) -> tuple[bool, str]:
        """Start one device; returns ``(True, deviceId)`` or ``(False, reason)``."""
        cls = self.classes.get(classId)
        if cls is None:
            return False, f"Device class {classId!r} is not available on server {self.serverId}"
        if not deviceId:
            self._counter += 1
            deviceId = f"{self.serverId}_{classId}_{self._counter}"
        if deviceId in self.devices or deviceId in self._starting:
            return False, f"Device {deviceId} is already running/starting on this server"
        config = toHash(configuration).copy()
        for key in ("classId", "_deviceId_"):
            if config.has(key):
                config.erase(key)
        config["deviceId"] = deviceId
        config["serverId"] = self.serverId
        config["hostName"] = socket.gethostname()
        if not config.has("log.level"):
            config["log.level"] = self.logLevel
        self._starting.add(deviceId)
        try:
            if issubclass(cls, PythonDevice):
                # a bound device blocks while it comes online (uniqueness ping, initial functions)
                device = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: startBoundDevice(cls, config, broker=self.broker, topic=self.topic, server=self))
            else:
                device = cls(config)
                await device.startInstance(self, broker=self.broker, topic=self.topic)
        except Exception as exc:
            log.exception("device %s of class %s failed to start", deviceId, classId)
            return False, f"Device {deviceId} could not be started: {exc}"
        finally:
            self._starting.discard(deviceId)
        self.devices[deviceId] = device
        log.info("device %s (%s) is up", deviceId, classId)
        return True, deviceId

    def deviceGone(self, deviceId: str) -> None:
        """Called by a device that left the bus."""
        if self.devices.pop(deviceId, None) is not None:
            log.info("device %s is gone", deviceId)

    async def slotStartDevice(self, request: Hash) -> tuple[bool, str]:
        """Karabo's ``slotStartDevice(Hash{classId, deviceId, configuration})`` → (ok, deviceId or error)."""
        if not isinstance(request, Hash):
            return False, "slotStartDevice expects a Hash with classId, deviceId and configuration"
        return await self.startDevice(request.get("classId", ""), request.get("deviceId", ""),
                                      request.get("configuration", Hash()))

    def slotGetClassSchema(self, classId: str) -> tuple:
        """The schema of ``classId`` → (schema, classId, serverId)."""
        cls = self.classes.get(classId)
        if cls is None:
            raise KaraboError(f"Device class {classId!r} is not available on server {self.serverId}")
        schema = cls.getSchema() if issubclass(cls, PythonDevice) else cls.getClassSchema()
        return schema, classId, self.serverId

    async def slotKillServer(self) -> str:
        """Kill every device, then the server (after the reply left)."""
        loop = asyncio.get_running_loop()
        loop.call_soon(lambda: setattr(self, "_stopTask", loop.create_task(self.stop())))
        return self.serverId

    async def stop(self) -> None:
        """Kill the devices (their destruction hooks run), leave the bus."""
        if self._stopped is None or self._stopped.is_set():
            return
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(None, device.slotKillDevice) if isinstance(device, PythonDevice)
                               else device.slotKillDevice() for device in list(self.devices.values())),
                             return_exceptions=True)
        await self._sigslot.stop()
        log.info("server %s stopped", self.serverId)
        self._stopped.set()

    async def run(self) -> None:
        """Start and serve until stopped."""
        await self.start()
        await self._stopped.wait()
