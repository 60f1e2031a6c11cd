"""Proxies of remote devices, and the bus instances that host them (devices and the DeviceClient).

A proxy is built from the remote device's Schema and configuration; while connected it follows the
device's ``signalChanged``/``signalSchemaUpdated`` through the ``slotChanged``/``slotSchemaUpdated``
slots of its host. Every update also wakes :func:`waitUntil` and friends through the loop's
:class:`~pykarabo.middlelayer.synchronization.Changed`.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import socket
import weakref
from typing import Any

from pykarabo import Hash
from pykarabo.device.store import mergeLeaves
from pykarabo.errors import KaraboError
from pykarabo.alarms import AlarmCondition
from pykarabo.middlelayer.quantities import isQuantity, toUnit
from pykarabo.middlelayer.synchronization import Changed, currentInstance, synchronize
from pykarabo.middlelayer.values import KaraboValue, wrap
from pykarabo.net.broker.aio import AsyncSignalSlotable
from pykarabo.schema import Schema
from pykarabo.signalslot import InstanceGone, InstanceNew, SlotCall
from pykarabo.states import State

log = logging.getLogger(__name__)

__all__ = ["Proxy", "ProxyNode", "ProxyHost", "DeviceClient", "BusInstance", "getInstance", "getClient",
           "stopClient", "configureClient", "currentCaller", "loopChanged"]

RECONFIGURE_TIMEOUT = 30.0   # seconds: setters may move hardware, but a dead device must not block forever

_settingTasks: set = set()
_changedByLoop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Changed]" = weakref.WeakKeyDictionary()


def loopChanged() -> Changed:
    """The change broadcast of the running loop (proxy updates and topology changes notify it)."""
    loop = asyncio.get_running_loop()
    changed = _changedByLoop.get(loop)
    if changed is None:
        changed = _changedByLoop[loop] = Changed()
    return changed


class BusInstance(AsyncSignalSlotable):
    """The asyncio transport, telling each slot which call it serves (``call.sender`` is the caller's id).

    The call is put in a context variable around the dispatch: a plain handler runs inside it, and the
    task of a coroutine handler is created inside it and so keeps it.
    """

    def _startSlot(self, call: SlotCall) -> None:
        token = _currentCall.set(call)
        try:
            super()._startSlot(call)
        finally:
            _currentCall.reset(token)


_currentCall: contextvars.ContextVar = contextvars.ContextVar("currentCall", default=None)


def currentCaller() -> str:
    """The instance id of whoever called the running slot (empty outside slots)."""
    call = _currentCall.get()
    return "" if call is None else call.sender


class ProxyProperty:
    """What a value read from a proxy remembers: its proxy and path (for :func:`waitUntilNew`)."""

    def __init__(self, proxy: Proxy, path: str):
        self.proxy = proxy
        self.path = path


class ProxyNode:
    """A node of a proxy: attribute access continues below ``prefix``."""

    def __init__(self, proxy: Proxy, prefix: str):
        object.__setattr__(self, "_proxy", proxy)
        object.__setattr__(self, "_prefix", prefix)

    def __getattr__(self, name: str) -> Any:
        return self._proxy._attribute(self._prefix + name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._proxy._setAttribute(self._prefix + name, value)

    def __dir__(self) -> list[str]:
        return self._proxy._schema.getKeys(self._prefix[:-1])


class Proxy:
    """A remote device: ``proxy.prop`` reads, ``proxy.prop = v`` writes, ``await proxy.slot()`` calls."""

    def __init__(self, host: ProxyHost, deviceId: str, schema: Schema, configuration: Hash):
        object.__setattr__(self, "_host", host)
        object.__setattr__(self, "_deviceId", deviceId)
        object.__setattr__(self, "_schema", schema)
        object.__setattr__(self, "_kinds", {})
        object.__setattr__(self, "_values", configuration)
        object.__setattr__(self, "_alive", True)
        object.__setattr__(self, "_subscriptions", 0)
        object.__setattr__(self, "_updates", {})     # path -> number of updates received
        object.__setattr__(self, "_updateCount", 0)

    @property
    def deviceId(self) -> str:
        """The proxied device's id."""
        return self._deviceId

    # ---- attributes ---------------------------------------------------------------------------------

    def _kind(self, path: str) -> tuple:
        """How ``path`` reads (slot, node or value with its enum and table flag); cached per schema."""
        kind = self._kinds.get(path)
        if kind is None:
            schema = self._schema
            if not schema.has(path):
                raise AttributeError(f"'{self._deviceId}' has no property '{path}'")
            if schema.isCommand(path):
                kind = ("slot",)
            elif schema.isNode(path) and schema.getKeys(path) and not (
                    schema.isCustomNode(path) and schema.getCustomNodeClass(path) in ("NDArray", "ImageData")):
                kind = ("node",)
            else:
                classId = schema.getClassId(path) if schema.hasClassId(path) else None
                enum = {"State": State, "AlarmCondition": AlarmCondition}.get(classId)
                kind = ("value", enum, schema.isLeaf(path) and schema.hasRowSchema(path))
            self._kinds[path] = kind
        return kind

    def _attribute(self, path: str) -> Any:
        kind = self._kind(path)
        if kind[0] == "slot":
            return _SlotCaller(self, path)
        if kind[0] == "node":
            return ProxyNode(self, path + ".")
        if not self._values.has(path):
            return wrap(None, None, ProxyProperty(self, path))
        node = self._values.getNode(path)
        return wrap(node.getValue(), None, ProxyProperty(self, path), enum=kind[1], table=kind[2],
                    attrs=node.getAttributes())

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._attribute(name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._setAttribute(name, value)

    def _setAttribute(self, path: str, value: Any) -> None:
        if not self._schema.has(path):
            raise AttributeError(f"'{self._deviceId}' has no property '{path}'")
        changes = _changeHash(self._schema, {path: value})
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._host._runBlocking(self._host._reconfigure(self._deviceId, changes))
            return
        # In the loop assignments cannot block: sent in the background, errors are logged.
        task = asyncio.get_running_loop().create_task(self._host._reconfigure(self._deviceId, changes))
        _settingTasks.add(task)     # the loop only keeps weak references to tasks
        task.add_done_callback(_settingTasks.discard)
        task.add_done_callback(lambda t: not t.cancelled() and t.exception() is not None and log.error(
            "setting %s.%s failed: %s", self._deviceId, path, t.exception()))

    def __dir__(self) -> list[str]:
        return self._schema.getKeys()

    def __repr__(self) -> str:
        return f"<Proxy {self._deviceId}{'' if self._alive else ' (gone)'}>"

    # ---- updates ------------------------------------------------------------------------------------

    def _applyChanges(self, changes: Hash) -> None:
        mergeLeaves(self._values, changes)
        for path in changes.getPaths():
            self._updates[path] = self._updates.get(path, 0) + 1
        object.__setattr__(self, "_updateCount", self._updateCount + 1)

    def _setSchema(self, schema: Schema) -> None:
        object.__setattr__(self, "_schema", schema)
        object.__setattr__(self, "_kinds", {})

    def _gone(self) -> None:
        object.__setattr__(self, "_alive", False)
        self._values["state"] = State.UNKNOWN.value

    # ---- context manager: subscription scope --------------------------------------------------------

    async def __aenter__(self) -> Proxy:
        await self._host._subscribe(self)
        await self._host._refresh(self)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._host._unsubscribe(self)

    def __enter__(self) -> Proxy:
        self._host._runBlocking(self.__aenter__())
        return self

    def __exit__(self, *exc: Any) -> None:
        self._host._runBlocking(self.__aexit__())


class _SlotCaller:
    """A remote schema slot: calling it awaits (in the loop) or blocks for the reply."""

    def __init__(self, proxy: Proxy, path: str):
        self.proxy = proxy
        self.path = path

    def __call__(self, *, timeout: float | None = None, wait: bool = True) -> Any:
        return _callSlot(self.proxy, self.path, timeout=timeout, wait=wait)

    def __repr__(self) -> str:
        return f"<slot {self.proxy._deviceId}.{self.path}>"


@synchronize
async def _callSlot(proxy: Proxy, path: str) -> Any:
    return await proxy._host._request(proxy._deviceId, path)


def _changeHash(schema: Schema, values: dict) -> Hash:
    """A reconfiguration Hash typed after ``schema`` (so e.g. a Python int reaches a FLOAT as FLOAT)."""
    h = Hash()
    for path, value in values.items():
        if isinstance(value, KaraboValue):
            value = value.value
        value = getattr(value, "value", value) if isinstance(value, (State, AlarmCondition)) else value
        if isQuantity(value) and schema.has(path):
            value = toUnit(value, schema.hash.getAttributes(path))   # `proxy.x = 5 * unit.mm` on a METER property
        if schema.has(path) and schema.isLeaf(path) and schema.hasRowSchema(path):
            columns = schema.getRowSchema(path).getKeys()
            value = [row if isinstance(row, Hash) else Hash.fromDict(row) if isinstance(row, dict)
                     else Hash.fromDict(dict(zip(columns, row, strict=True))) for row in value]
        if schema.has(path) and schema.isLeaf(path):
            try:
                h.setAs(path, value, schema.getValueType(path))
                continue
            except (TypeError, ValueError, OverflowError):
                pass   # let the device answer with Karabo's message
        h[path] = value
    return h


class ProxyHost:
    """Proxy support of a bus instance (a Device or the DeviceClient): requests, subscriptions, updates."""

    _sigslot: BusInstance
    _loop: asyncio.AbstractEventLoop | None

    def _initProxyHost(self) -> None:
        self._proxies: dict[str, weakref.WeakSet] = {}
        self._subscribed: dict[str, int] = {}

    def _registerProxySlots(self) -> None:
        self._sigslot.registerSlot(self._slotChanged, "slotChanged")
        self._sigslot.registerSlot(self._slotSchemaUpdated, "slotSchemaUpdated")
        self._sigslot.addTopologyListener(self._onTopology)

    @property
    def instanceId(self) -> str:
        """Our id on the bus."""
        return self._sigslot.instanceId

    def _runBlocking(self, coro: Any) -> Any:
        """Run ``coro`` on our loop from another thread and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _request(self, target: str, slot: str, *args: Any, timeout: float | None = None) -> Any:
        """Call ``slot`` of ``target`` and return its reply (one value, a tuple of several, or None)."""
        values = await self._sigslot.request(target, slot, *args, timeout=timeout)
        if not values:
            return None
        return values[0] if len(values) == 1 else values

    async def _reconfigure(self, deviceId: str, changes: Hash) -> None:
        """Send ``slotReconfigure`` and wait for the device's answer."""
        await self._sigslot.request(deviceId, "slotReconfigure", changes, timeout=RECONFIGURE_TIMEOUT)

    async def _getProxy(self, deviceId: str, timeout: float | None = 5) -> Proxy:
        """A proxy of ``deviceId`` with its current schema and configuration (not subscribed)."""
        try:
            schema, _ = await self._sigslot.request(deviceId, "slotGetSchema", False, timeout=timeout)
        except TimeoutError:
            raise KaraboError(f"device {deviceId} not found (no answer within {timeout} s)") from None
        config, _ = await self._sigslot.request(deviceId, "slotGetConfiguration", timeout=timeout)
        proxy = Proxy(self, deviceId, Schema.fromCore(schema), config)
        self._proxies.setdefault(deviceId, weakref.WeakSet()).add(proxy)
        return proxy

    async def _refresh(self, proxy: Proxy) -> None:
        """Fetch the whole configuration of ``proxy`` again."""
        config, _ = await self._sigslot.request(proxy._deviceId, "slotGetConfiguration", timeout=5)
        proxy._applyChanges(config)
        loopChanged().notify()

    async def _subscribe(self, proxy: Proxy) -> None:
        """Follow the changes of ``proxy``'s device."""
        deviceId = proxy._deviceId
        object.__setattr__(proxy, "_subscriptions", proxy._subscriptions + 1)
        n = self._subscribed.get(deviceId, 0)
        self._subscribed[deviceId] = n + 1
        if n == 0:
            self._sigslot.connect(deviceId, "signalChanged", "slotChanged")
            self._sigslot.connect(deviceId, "signalSchemaUpdated", "slotSchemaUpdated")
            await self._sigslot.syncBroker()

    def _unsubscribe(self, proxy: Proxy) -> None:
        """Stop following ``proxy``'s device (once every subscription of it ended)."""
        deviceId = proxy._deviceId
        if proxy._subscriptions <= 0:
            return
        object.__setattr__(proxy, "_subscriptions", proxy._subscriptions - 1)
        n = self._subscribed.get(deviceId, 0) - 1
        if n > 0:
            self._subscribed[deviceId] = n
            return
        self._subscribed.pop(deviceId, None)
        self._sigslot.disconnect(deviceId, "signalChanged", "slotChanged")
        self._sigslot.disconnect(deviceId, "signalSchemaUpdated", "slotSchemaUpdated")

    def _slotChanged(self, changes: Hash, deviceId: str) -> None:
        for proxy in list(self._proxies.get(deviceId, ())):
            proxy._applyChanges(changes)
        loopChanged().notify()

    def _slotSchemaUpdated(self, schema: Any, deviceId: str) -> None:
        for proxy in list(self._proxies.get(deviceId, ())):
            proxy._setSchema(Schema.fromCore(schema))
        loopChanged().notify()

    def _onTopology(self, event: Any) -> None:
        if isinstance(event, InstanceGone):
            for proxy in list(self._proxies.get(event.instanceId, ())):
                proxy._gone()
        elif isinstance(event, InstanceNew):
            for proxy in list(self._proxies.get(event.instanceId, ())):
                object.__setattr__(proxy, "_alive", True)
        loopChanged().notify()


class DeviceClient(ProxyHost):
    """A client on the bus (like ikarabo's): hosts proxies and tracks the topology."""

    def __init__(self, broker: str | None = None, topic: str | None = None):
        info = Hash("type", "client", "classId", "DeviceClient", "lang", "python", "host", socket.gethostname())
        instanceId = f"pykarabo-{socket.gethostname()}-{os.getpid()}-{id(self) % 100000}".replace(".", "_")
        self._sigslot = BusInstance(instanceId, info, broker=broker, topic=topic, trackTopology=True)
        self._loop = None
        self._initProxyHost()
        self._registerProxySlots()

    async def start(self, discoverWait: float = 0.5) -> DeviceClient:
        """Join the bus and give the others ``discoverWait`` s to answer our discovery."""
        self._loop = asyncio.get_running_loop()
        await self._sigslot.start(pingTimeout=0.2)
        await asyncio.sleep(discoverWait)
        return self

    async def stop(self) -> None:
        """Leave the bus."""
        await self._sigslot.stop()

    def topology(self):
        """The tracked topology."""
        return self._sigslot.core.topology


_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Future]" = weakref.WeakKeyDictionary()
_clientSettings: dict[str, str | None] = {"broker": None, "topic": None}


def configureClient(broker: str | None = None, topic: str | None = None) -> None:
    """Broker URL and topic of the DeviceClients created from now on (default: ``$KARABO_BROKER...``)."""
    _clientSettings.update(broker=broker, topic=topic)


async def getClient() -> DeviceClient:
    """The DeviceClient of the running loop (started on first use)."""
    loop = asyncio.get_running_loop()
    future = _clients.get(loop)
    if future is None:
        future = _clients[loop] = loop.create_future()
        try:
            client = await DeviceClient(**_clientSettings).start()
        except BaseException as exc:
            del _clients[loop]
            future.set_exception(exc)
            future.exception()   # retrieved: the caller gets the error below
            raise
        future.set_result(client)
    return await asyncio.shield(future)


async def stopClient() -> None:
    """Stop the DeviceClient of the running loop, if any."""
    future = _clients.pop(asyncio.get_running_loop(), None)
    if future is not None and future.done() and future.exception() is None:
        await future.result().stop()


async def getInstance() -> ProxyHost:
    """The instance talking for the running code: the current device, else the loop's DeviceClient."""
    instance = currentInstance.get()
    if instance is not None and getattr(instance, "_sigslot", None) is not None:
        return instance
    return await getClient()


