"""Scripting functions: remote devices by id or proxy, awaited in a loop or blocking elsewhere (§6.4, §6.5)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any, Callable

from pykarabo import Hash
from pykarabo.errors import KaraboError
from pykarabo.middlelayer.proxy import Proxy, ProxyProperty, _changeHash, getClient, getInstance, loopChanged
from pykarabo.middlelayer.synchronization import eventLoop, inLoopThread, synchronize
from pykarabo.middlelayer.configurable import toHash
from pykarabo.schema import Schema

__all__ = [
    "connectDevice", "getDevice", "disconnectDevice", "updateDevice", "isAlive", "setWait", "setNoWait", "execute",
    "executeNoWait", "call", "callNoWait", "getConfiguration", "getSchema", "getProperties", "getInstanceInfo",
    "getTimeInfo", "getSystemInfo", "getOutputChannelInfo", "getClassSchema", "instantiate", "instantiateNoWait",
    "shutdown", "shutdownNoWait", "getDevices", "getServers", "getClients", "getClasses", "getTopology",
    "findDevices", "findServers", "waitUntil", "waitWhile", "waitUntilNew", "lock",
]


def _deviceId(device: Proxy | str) -> str:
    return device._deviceId if isinstance(device, Proxy) else str(device)


@synchronize
async def connectDevice(device: Proxy | str, *, timeout: float | None = 5) -> Proxy:
    """A proxy of ``device`` that follows the device's changes."""
    host = await getInstance()
    proxy = device if isinstance(device, Proxy) else await host._getProxy(device, timeout)
    await proxy._host._subscribe(proxy)
    await proxy._host._refresh(proxy)
    return proxy


class _ProxyRequest:
    """What :func:`getDevice` returns in a loop: await it, or use it with ``async with``."""

    def __init__(self, deviceId: str, timeout: float | None):
        self._deviceId = deviceId
        self._timeout = timeout
        self._proxy: Proxy | None = None

    async def _get(self) -> Proxy:
        host = await getInstance()
        self._proxy = await host._getProxy(self._deviceId, self._timeout)
        return self._proxy

    def __await__(self):
        return self._get().__await__()

    async def __aenter__(self) -> Proxy:
        proxy = await self._get()
        return await proxy.__aenter__()

    async def __aexit__(self, *exc: Any) -> None:
        await self._proxy.__aexit__(*exc)


def getDevice(deviceId: str, *, timeout: float | None = 5) -> Any:
    """A proxy of ``deviceId``; subscribed to its changes while used as a context manager."""
    if inLoopThread():
        return _ProxyRequest(deviceId, timeout)
    return _getDeviceBlocking(deviceId, timeout=timeout)


@synchronize
async def _getDeviceBlocking(deviceId: str, *, timeout: float | None = 5) -> Proxy:
    return await _ProxyRequest(deviceId, timeout)


@synchronize
async def disconnectDevice(proxy: Proxy) -> None:
    """Stop following ``proxy``'s device."""
    while proxy._subscriptions > 0:
        proxy._host._unsubscribe(proxy)


@synchronize
async def updateDevice(proxy: Proxy) -> Proxy:
    """Fetch ``proxy``'s configuration once."""
    await proxy._host._refresh(proxy)
    return proxy


def isAlive(proxy: Proxy) -> bool:
    """Whether ``proxy``'s device is still on the bus."""
    return proxy._alive


def _changes(args: tuple, kwargs: dict) -> dict:
    if len(args) % 2:
        raise TypeError("setWait/setNoWait take key, value pairs")
    values = dict(zip(args[::2], args[1::2]))
    values.update(kwargs)
    return values


def _changeHashFor(device: Proxy | str, values: dict) -> Hash:
    return _changeHash(device._schema, values) if isinstance(device, Proxy) else toHash(values)


@synchronize
async def setWait(device: Proxy | str, *args: Any, **kwargs: Any) -> None:
    """Reconfigure ``device`` (``key=value`` or ``"key", value`` pairs) and wait for the answer."""
    host = await getInstance()
    await host._reconfigure(_deviceId(device), _changeHashFor(device, _changes(args, kwargs)))


def setNoWait(device: Proxy | str, *args: Any, **kwargs: Any) -> None:
    """Reconfigure ``device`` without waiting (errors are not reported)."""
    _fireAndForget(_deviceId(device), "slotReconfigure", _changeHashFor(device, _changes(args, kwargs)))


_sending: set = set()


def _fireAndForget(target: str, slot: str, *args: Any) -> None:
    async def send() -> None:
        (await getInstance())._sigslot.callNoWait(target, slot, *args)
    if inLoopThread():
        task = asyncio.get_running_loop().create_task(send())
        _sending.add(task)          # the loop only keeps weak references to tasks
        task.add_done_callback(_sending.discard)
    else:
        asyncio.run_coroutine_threadsafe(send(), eventLoop()).result()


@synchronize
async def execute(device: Proxy | str, slot: str, *, timeout: float | None = None) -> Any:
    """Call the schema slot ``slot`` of ``device`` and return its reply."""
    host = await getInstance()
    return await host._request(_deviceId(device), slot, timeout=timeout)


def executeNoWait(device: Proxy | str, slot: str) -> None:
    """Call the schema slot ``slot`` of ``device`` without waiting."""
    _fireAndForget(_deviceId(device), slot)


@synchronize
async def call(device: Proxy | str, slot: str, *args: Any, timeout: float | None = None) -> Any:
    """Call any ``slot`` of ``device`` with ``args`` and return its reply."""
    host = await getInstance()
    return await host._request(_deviceId(device), slot, *args, timeout=timeout)


def callNoWait(device: Proxy | str, slot: str, *args: Any) -> None:
    """Call any slot without waiting."""
    _fireAndForget(_deviceId(device), slot, *args)


@synchronize
async def getConfiguration(device: Proxy | str, *, timeout: float | None = 5) -> Hash:
    """The full configuration of ``device``."""
    config, _ = await (await getInstance())._request(_deviceId(device), "slotGetConfiguration", timeout=timeout)
    return config


@synchronize
async def getSchema(device: Proxy | str, onlyCurrentState: bool = False, *, timeout: float | None = 5) -> Schema:
    """The schema of ``device`` (only what is writable now with ``onlyCurrentState``)."""
    schema, _ = await (await getInstance())._request(_deviceId(device), "slotGetSchema", onlyCurrentState,
                                                    timeout=timeout)
    return Schema.fromCore(schema)


@synchronize
async def getProperties(device: Proxy | str, paths: str | list[str], *, timeout: float | None = 5) -> Hash:
    """The values at ``paths`` of ``device`` (one request)."""
    paths = [paths] if isinstance(paths, str) else list(paths)
    return await (await getInstance())._request(_deviceId(device), "slotGetConfigurationSlice",
                                               Hash("paths", paths), timeout=timeout)


@synchronize
async def getInstanceInfo(device: Proxy | str, *, timeout: float | None = 5) -> Hash:
    """The instanceInfo of any instance (its answer to slotPing)."""
    return await (await getInstance())._request(_deviceId(device), "slotPing", 1, timeout=timeout)


@synchronize
async def getTimeInfo(device: Proxy | str, *, timeout: float | None = 5) -> Hash:
    """The time information of ``device`` (slotGetTime)."""
    return await (await getInstance())._request(_deviceId(device), "slotGetTime", Hash(), timeout=timeout)


@synchronize
async def getSystemInfo(device: Proxy | str, *, timeout: float | None = 5) -> Hash:
    """Time, broker and user of ``device`` (slotGetSystemInfo)."""
    return await (await getInstance())._request(_deviceId(device), "slotGetSystemInfo", Hash(), timeout=timeout)


@synchronize
async def getOutputChannelInfo(device: Proxy | str, channel: str, *, timeout: float | None = 5) -> Hash:
    """The connection information of output ``channel`` of ``device``."""
    reply = await (await getInstance())._request(_deviceId(device), "slotGetOutputChannelInformation",
                                                Hash("channelId", channel), timeout=timeout)
    if not reply.get("success", False):
        raise KaraboError(f"{_deviceId(device)} has no output channel {channel!r}")
    return reply["info"]


@synchronize
async def getClassSchema(serverId: str, classId: str, *, timeout: float | None = 5) -> Schema:
    """The schema of ``classId`` as served by ``serverId``."""
    schema, _, _ = await (await getInstance())._request(serverId, "slotGetClassSchema", classId, timeout=timeout)
    return Schema.fromCore(schema)


def _startRequest(classId: str, deviceId: str, configuration: Any, kwargs: dict) -> Hash:
    config = toHash(configuration).copy() if configuration is not None else Hash()
    for key, value in kwargs.items():
        config[key] = value
    return Hash("classId", classId, "deviceId", deviceId, "configuration", config)


@synchronize
async def instantiate(serverId: str, classId: str, deviceId: str = "", configuration: Any = None, *,
                      timeout: float | None = 30, **kwargs: Any) -> str:
    """Start a ``classId`` device on ``serverId``; returns its deviceId once it is up."""
    host = await getInstance()
    ok, message = await host._request(serverId, "slotStartDevice",
                                     _startRequest(classId, deviceId, configuration, kwargs), timeout=timeout)
    if not ok:
        raise KaraboError(f"cannot instantiate {classId} on {serverId}: {message}")
    return message


def instantiateNoWait(serverId: str, classId: str, deviceId: str = "", configuration: Any = None,
                      **kwargs: Any) -> None:
    """Ask ``serverId`` to start a device without waiting."""
    _fireAndForget(serverId, "slotStartDevice", _startRequest(classId, deviceId, configuration, kwargs))


@synchronize
async def shutdown(device: Proxy | str, *, timeout: float | None = 10) -> bool:
    """Kill ``device``; True once it confirmed."""
    await (await getInstance())._request(_deviceId(device), "slotKillDevice", timeout=timeout)
    return True


def shutdownNoWait(device: Proxy | str) -> None:
    """Kill ``device`` without waiting."""
    _fireAndForget(_deviceId(device), "slotKillDevice")


def _matching(kind: str, topology: Any, pattern: str | None, serverId: str | None = None) -> list[str]:
    out = []
    for instanceId in topology.instanceIds():
        info = topology.instanceInfo(instanceId)
        if info.get("type", "") != kind:
            continue
        if serverId is not None and info.get("serverId", "") != serverId:
            continue
        if pattern is not None and not re.search(pattern, instanceId, re.IGNORECASE):
            continue
        out.append(instanceId)
    return out


@synchronize
async def getDevices(serverId: str | None = None, matchPattern: str | None = None) -> list[str]:
    """Ids of the devices on the bus (of ``serverId``; containing ``matchPattern``)."""
    return _matching("device", (await getClient()).topology(), matchPattern, serverId)


@synchronize
async def getServers(matchPattern: str | None = None) -> list[str]:
    """Ids of the servers on the bus."""
    return _matching("server", (await getClient()).topology(), matchPattern)


@synchronize
async def getClients(matchPattern: str | None = None) -> list[str]:
    """Ids of the clients on the bus."""
    return _matching("client", (await getClient()).topology(), matchPattern)


@synchronize
async def getClasses(serverId: str) -> list[str]:
    """The device classes ``serverId`` can start."""
    info = (await getClient()).topology().instanceInfo(serverId)
    if info is None:
        raise KaraboError(f"server {serverId} is not on the bus")
    return list(info.get("deviceClasses", []))


@synchronize
async def getTopology() -> Hash:
    """Karabo's systemTopology Hash."""
    return (await getClient()).topology().systemTopology()


@synchronize
async def findDevices(matchPattern: str) -> list[str]:
    """Ids of devices containing ``matchPattern`` (case-insensitive)."""
    return _matching("device", (await getClient()).topology(), re.escape(matchPattern))


@synchronize
async def findServers(matchPattern: str) -> list[str]:
    """Ids of servers containing ``matchPattern`` (case-insensitive)."""
    return _matching("server", (await getClient()).topology(), re.escape(matchPattern))


@synchronize
async def waitUntil(condition: Callable[[], Any], *, timeout: float | None = None) -> None:
    """Wait until ``condition()`` is true, re-checking at every proxy update (no polling)."""
    await loopChanged().waitFor(lambda: bool(condition()), timeout,
                                f"condition not met within {timeout} s")


@synchronize
async def waitWhile(condition: Callable[[], Any], *, timeout: float | None = None) -> None:
    """Wait while ``condition()`` is true."""
    await loopChanged().waitFor(lambda: not condition(), timeout, f"condition still true after {timeout} s")


@synchronize
async def waitUntilNew(*values: Any, timeout: float | None = None) -> None:
    """Wait until a new update of any of the given proxy properties (or whole proxies) arrives."""
    def count() -> int:
        total = 0
        for v in values:
            if isinstance(v, Proxy):
                total += v._updateCount
            elif isinstance(getattr(v, "descriptor", None), ProxyProperty):
                total += v.descriptor.proxy._updates.get(v.descriptor.path, 0)
            else:
                raise TypeError(f"waitUntilNew needs proxy properties or proxies, not {v!r}")
        return total
    start = count()
    await loopChanged().waitFor(lambda: count() > start, timeout, f"no new value within {timeout} s")


@contextlib.contextmanager
def lock(proxy: Proxy):
    """Lock ``proxy``'s device for the caller while in the ``with`` block (blocking code only)."""
    me = proxy._host.instanceId
    setWait(proxy, lockedBy=me)
    try:
        yield proxy
    finally:
        setWait(proxy, lockedBy="")
