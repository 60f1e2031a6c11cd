"""The middlelayer ``Device``: a Configurable on the bus, answering Karabo's standard slots."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from typing import Any, Callable

from pykarabo import Hash
from pykarabo.access import AccessLevel, AccessMode, Assignment
from pykarabo.alarms import AlarmCondition
from pykarabo.device.core import LOG_LEVELS, DeviceCore, instanceStatus
from pykarabo.device.store import leafPaths, setLeaf
from pykarabo.errors import KaraboError
from pykarabo.middlelayer.channels import InputChannelRunner, OutputChannelRunner
from pykarabo.middlelayer.configurable import Configurable, toHash
from pykarabo.middlelayer.descriptors import (Descriptor, InputChannel, Int32, Node, OutputChannel, Signal,
                                              Slot, String, Type, UInt32)
from pykarabo.middlelayer.proxy import BusInstance, ProxyHost, currentCaller
from pykarabo.middlelayer.synchronization import currentInstance, runInThread
from pykarabo.schema import ValidationRules, Validator
from pykarabo.states import State
from pykarabo.units import Unit

__all__ = ["Device"]

HOOK_TIMEOUT = 5.0   # seconds Karabo gives preInitialization and onDestruction


class LogNode(Configurable):
    """The ``log`` node every device has."""

    @String(displayedName="Logging Level", description="The log level of this device", options=LOG_LEVELS,
            defaultValue="INFO")
    async def level(self, value):
        self.level = value
        self._root.logger.setLevel({"WARN": "WARNING", "FATAL": "CRITICAL"}.get(value.value, value.value))


def _walk(cls: type, prefix: str = ""):
    """``(path, descriptor, nodePath)`` of every declaration, nodes included, depth first."""
    for name, descriptor in cls._descriptors.items():
        yield prefix + name, descriptor, prefix
        if isinstance(descriptor, Node):
            yield from _walk(descriptor.cls, f"{prefix}{name}.")


class Device(Configurable, ProxyHost):
    """Base class of middlelayer devices; the class name is the classId, ``__version__`` its version."""

    __version__ = ""

    deviceId = String(displayedName="DeviceID", description="The device instance ID uniquely identifies a "
                      "device instance in the distributed system", accessMode=AccessMode.INITONLY,
                      assignment=Assignment.INTERNAL)
    heartbeatInterval = Int32(displayedName="Heartbeat interval", description="The heartbeat interval",
                              accessMode=AccessMode.INITONLY, defaultValue=120, minInc=10, unitSymbol=Unit.SECOND,
                              requiredAccessLevel=AccessLevel.EXPERT)
    serverId = String(displayedName="ServerID", description="The server on which this device runs",
                      accessMode=AccessMode.INITONLY, assignment=Assignment.INTERNAL,
                      requiredAccessLevel=AccessLevel.EXPERT)
    classId = String(displayedName="ClassID", description="The (factory)-name of the class of this device",
                     accessMode=AccessMode.READONLY)
    classVersion = String(displayedName="Class version", description="The version of the class of this device",
                          accessMode=AccessMode.READONLY, requiredAccessLevel=AccessLevel.EXPERT)
    karaboVersion = String(displayedName="Karabo version", description="The version of the Karabo framework",
                           accessMode=AccessMode.READONLY, requiredAccessLevel=AccessLevel.EXPERT)
    hostName = String(displayedName="Host", description="The name of the host where this device runs",
                      accessMode=AccessMode.INITONLY, assignment=Assignment.INTERNAL,
                      requiredAccessLevel=AccessLevel.EXPERT)
    pid = UInt32(displayedName="Process ID", description="The unix process ID of the device",
                 accessMode=AccessMode.READONLY, requiredAccessLevel=AccessLevel.EXPERT)
    state = String(enum=State, displayedName="State", description="The current state the device is in",
                   displayType="State", defaultValue=State.UNKNOWN)
    status = String(displayedName="Status", description="A more detailed status description",
                    accessMode=AccessMode.READONLY, defaultValue="")
    alarmCondition = String(enum=AlarmCondition, displayedName="Alarm condition",
                            description="The current alarm condition of the device", displayType="AlarmCondition",
                            defaultValue=AlarmCondition.NONE)
    lockedBy = String(displayedName="Locked by", displayType="lockedBy", defaultValue="")

    @Slot(displayedName="Clear Lock", requiredAccessLevel=AccessLevel.EXPERT)
    async def slotClearLock(self):
        """Clear the lock on this device."""
        self.lockedBy = ""

    lastCommand = String(displayedName="Last command", description="The last slot called",
                         accessMode=AccessMode.READONLY, defaultValue="", requiredAccessLevel=AccessLevel.EXPERT)
    log = Node(LogNode, displayedName="Logging", description="Logging settings")

    def __init__(self, configuration: Any = None) -> None:
        """Create the device with its instantiation ``configuration`` (not yet on the bus)."""
        config = toHash(configuration)
        if config.has("_deviceId_"):   # Karabo's old spelling, still accepted by the middlelayer
            config["deviceId"] = config["_deviceId_"]
            config.erase("_deviceId_")
        # Each instance gets a class of its own, so schema injection changes only this device.
        base = type(self)
        cls = type(base.__name__, (base,), {"__module__": base.__module__, "__qualname__": base.__qualname__,
                                             "__doc__": base.__doc__})
        self.__class__ = cls
        self._core = DeviceCore(cls.getClassSchema(), config, cls.__name__)
        self._bind(self._core, "", self)
        self._initProxyHost()
        module = cls.__module__.split(".")[0]
        self._core.set(Hash("classVersion", f"{module}-{cls.__version__}"))
        self.logger = logging.getLogger(self._core.deviceId)
        self._sigslot: BusInstance | None = None
        self._server: Any = None
        self._pending: Hash | None = None
        self._pendingLock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Future] = set()
        self._outputs: dict[str, OutputChannelRunner] = {}
        self._inputs: dict[str, InputChannelRunner] = {}
        self.is_initialized = False
        self._stopping = False
        self._killed: asyncio.Event | None = None

    # ---- hooks for subclasses ------------------------------------------------------------------------

    async def preInitialization(self) -> None:
        """Runs before the device goes online (no network calls)."""

    async def onInitialization(self) -> None:
        """Runs once the device is online."""

    async def onDestruction(self) -> None:
        """Runs when the device is killed."""

    async def onException(self, slot: Any, exception: BaseException, traceback: Any) -> None:
        """Runs when a slot raised ``exception``."""

    async def onCancelled(self, slot: Any) -> None:
        """Runs when a running ``slot`` was cancelled (a macro's ``cancel``)."""

    # ---- life on the bus ----------------------------------------------------------------------------

    async def startInstance(self, server: Any = None, *, broker: str | None = None,
                            topic: str | None = None) -> None:
        """Go online: register slots, check the id is free, announce ourselves, run the init hooks."""
        self._loop = asyncio.get_running_loop()
        self._server = server
        self._killed = asyncio.Event()
        # A task of its own: the device becomes the current instance there, not in the caller's context.
        await self._loop.create_task(self._start(broker, topic))

    async def _start(self, broker: str | None, topic: str | None) -> None:
        currentInstance.set(self)
        await asyncio.wait_for(self.preInitialization(), HOOK_TIMEOUT)
        interval = int(self._core.parameters.get("heartbeatInterval", 120))
        self._sigslot = BusInstance(self._core.deviceId, self._instanceInfo(), broker=broker, topic=topic,
                                    heartbeatInterval=interval)
        self._registerSlots()
        await self._sigslot.start()
        try:
            for path, descriptor, _ in _walk(type(self)):
                if isinstance(descriptor, OutputChannel):
                    runner = self._outputs[path] = OutputChannelRunner(self, path, descriptor)
                    await runner.start()
            await self._initialSetters()
            for path, descriptor, _ in _walk(type(self)):
                if isinstance(descriptor, InputChannel):
                    runner = self._inputs[path] = InputChannelRunner(self, path, descriptor)
                    self._background(runner.start())
            await self.onInitialization()
        except Exception:
            self.logger.exception("initialization of %s failed: the device is killed", self._core.deviceId)
            await self._shutdown()
            raise
        self.is_initialized = True

    def _instanceInfo(self) -> Hash:
        return self._core.instanceInfo()

    def _registerSlots(self) -> None:
        sigslot = self._sigslot
        sigslot.registerSignal("signalChanged")
        sigslot.registerSignal("signalSchemaUpdated")
        for name in ("slotReconfigure", "slotGetConfiguration", "slotGetConfigurationSlice", "slotGetSchema",
                     "slotKillDevice", "slotGetTime", "slotGetSystemInfo", "slotGetOutputChannelInformation",
                     "slotGetOutputChannelNames"):
            sigslot.registerSlot(getattr(self, "_" + name), name)
        for path, descriptor, nodePath in _walk(type(self)):
            if isinstance(descriptor, Slot):
                sigslot.registerSlot(self._schemaSlot(path, descriptor, nodePath), path)
            elif isinstance(descriptor, Signal):
                sigslot.registerSignal(path)
        for cls in reversed(type(self).__mro__):
            for name, function in vars(cls).items():
                if getattr(function, "isPlainSlot", False):
                    sigslot.registerSlot(self._plainSlot(getattr(self, name)), name)
        self._registerProxySlots()

    def _owner(self, nodePath: str) -> Configurable:
        owner: Configurable = self
        for part in filter(None, nodePath.split(".")):
            owner = getattr(owner, part)
        return owner

    async def _run(self, function: Callable, *args: Any) -> Any:
        """Run a user function: awaited if a coroutine function, else in a worker thread."""
        currentInstance.set(self)
        if inspect.iscoroutinefunction(function):
            return await function(*args)
        result = await runInThread(self._loop, function, *args)
        return await result if inspect.isawaitable(result) else result

    def _schemaSlot(self, path: str, descriptor: Slot, nodePath: str) -> Callable:
        async def handler(*args: Any) -> Any:
            if args:
                raise KaraboError(f"Command Slot {path} does not take arguments")
            caller = currentCaller()
            self._core.checkSlotCall(path, caller)
            self._changed(self._core.set(self._core.commandRecord(path, caller)))
            try:
                result = await self._callSlot(descriptor, self._owner(nodePath))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self.onException(descriptor, exc, exc.__traceback__)
                raise
            finally:
                self._flush()   # changes made by the slot reach the caller before its reply
            return result
        return handler

    async def _callSlot(self, descriptor: Slot, owner: Configurable) -> Any:
        """Run a schema slot's method (Macros run it differently)."""
        return await self._run(descriptor.method, owner)

    def _plainSlot(self, method: Callable) -> Callable:
        if inspect.iscoroutinefunction(method):
            async def handler(*args: Any) -> Any:
                currentInstance.set(self)
                return await method(*args)
            return handler
        # Karabo runs plain @slot functions inline on the loop (unlike schema slots): no thread hop.
        return method

    async def _initialSetters(self) -> None:
        params = self._core.parameters
        for path, descriptor, nodePath in _walk(type(self)):
            if isinstance(descriptor, Type) and descriptor.setter is not None and params.has(path):
                node = params.getNode(path)
                value = descriptor.fromRaw(node.getValue(), node.getAttributes())
                await self._run(descriptor.setter, self._owner(nodePath), value)

    def _background(self, coro: Any) -> asyncio.Task:
        task = self._loop.create_task(coro)
        self._adopt(task)
        return task

    def _adopt(self, task: asyncio.Future) -> None:
        """Own ``task``: it is cancelled when the device is killed, its failure is logged."""
        self._tasks.add(task)
        task.add_done_callback(self._taskDone)

    def _taskDone(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.logger.error("a task of %s failed", self._core.deviceId, exc_info=task.exception())

    # ---- publishing -------------------------------------------------------------------------------

    def _changed(self, validated: Hash) -> None:
        if self._loop is None:
            return
        with self._pendingLock:   # worker threads of plain-function slots assign too
            if self._pending is None:
                self._pending = Hash()
                # Changes made in one loop iteration travel in one signalChanged.
                try:
                    running = asyncio.get_running_loop()
                except RuntimeError:
                    running = None
                if running is self._loop:
                    self._loop.call_soon(self._flush)
                else:
                    self._loop.call_soon_threadsafe(self._flush)
            self._pending.merge(validated)
        if validated.has("state"):
            status = instanceStatus(validated["state"])
            if self._sigslot is not None and self._sigslot.core.instanceInfo.get("status", "") != status:
                self._sigslot.core.updateInstanceInfo(Hash("status", status))

    def _flush(self) -> None:
        with self._pendingLock:
            pending, self._pending = self._pending, None
        if pending is not None and self._sigslot is not None and self._sigslot.core.online:
            self._sigslot.emit("signalChanged", pending, self._core.deviceId)

    def _emit(self, signal: str, *args: Any) -> None:
        self._sigslot.emit(signal, *args)

    def _pathOf(self, descriptor: Descriptor) -> str:
        cls = type(self)
        paths = cls.__dict__.get("_pathsById")   # None again after an injection
        if paths is None:
            paths = {id(d): p for p, d, _ in _walk(cls)}
            cls._pathsById = paths
        return paths[id(descriptor)]

    def _output(self, descriptor: Descriptor) -> OutputChannelRunner:
        path = self._pathOf(descriptor)
        runner = self._outputs.get(path)
        if runner is None:
            raise KaraboError(f"output channel {path} is not open: the device is not online")
        return runner

    def _input(self, descriptor: Descriptor) -> InputChannelRunner:
        return self._inputs.get(self._pathOf(descriptor))

    # ---- schema injection -------------------------------------------------------------------------

    async def publishInjectedParameters(self, **values: Any) -> None:
        """Publish declarations added to ``self.__class__`` since start-up, with optional initial ``values``.

        New properties get their defaults; the new schema goes out with ``signalSchemaUpdated``.
        """
        cls = type(self)
        cls._collectDescriptors()
        schema = cls.getClassSchema()
        defaults = Validator(ValidationRules(injectDefaults=True, allowMissingKeys=True)).validate(schema, Hash())
        fresh = Hash()
        for path in leafPaths(defaults):
            if not self._core.parameters.has(path):
                setLeaf(fresh, path, defaults.getNode(path))
        self._core.schema = schema
        cls._pathsById = None
        self._core.apply(fresh)
        for path, descriptor, nodePath in _walk(cls):
            if isinstance(descriptor, Slot) and not self._sigslot.core.hasSlot(path):
                self._sigslot.registerSlot(self._schemaSlot(path, descriptor, nodePath), path)
        self._sigslot.emit("signalSchemaUpdated", schema, self._core.deviceId)
        self._changed(fresh)
        for name, value in values.items():
            setattr(self, name, value)
        self._flush()

    # ---- standard slots ---------------------------------------------------------------------------

    async def _slotReconfigure(self, changes: Hash) -> None:
        caller = currentCaller()
        validated = self._core.validateReconfiguration(changes, caller)
        declared = {path: (descriptor, nodePath) for path, descriptor, nodePath in _walk(type(self))}
        plain = Hash()
        setters = []
        for path in leafPaths(validated):
            node = validated.getNode(path)
            descriptor, nodePath = declared.get(path, (None, ""))
            if isinstance(descriptor, Type) and descriptor.setter is not None:
                setters.append((descriptor, nodePath, descriptor.fromRaw(node.getValue(), node.getAttributes())))
            else:   # plain properties, and configuration leaves of channels (no descriptor of their own)
                setLeaf(plain, path, node)
        self._core.apply(plain)
        self._changed(plain)
        self._changed(self._core.set(self._core.commandRecord("slotReconfigure", caller)))
        for descriptor, nodePath, value in setters:
            await self._run(descriptor.setter, self._owner(nodePath), value)
        self._flush()   # the caller sees the new values before the reply

    def _slotGetConfiguration(self) -> tuple:
        return self._core.configuration(), self._core.deviceId

    def _slotGetConfigurationSlice(self, request: Hash) -> Hash:
        return self._core.configurationSlice(request)

    def _slotGetSchema(self, onlyCurrentState: bool = False) -> tuple:
        return self._core.schemaReply(bool(onlyCurrentState)), self._core.deviceId

    def _slotGetTime(self, info: Hash | None = None) -> Hash:
        return self._core.timeInfo()

    def _slotGetSystemInfo(self, info: Hash | None = None) -> Hash:
        return self._core.systemInfo(self._sigslot.backend.url.split("@")[-1])

    def _slotGetOutputChannelNames(self) -> list:
        return sorted(self._outputs)

    def _slotGetOutputChannelInformation(self, request: Any) -> Hash:
        channelId = request.get("channelId", "") if isinstance(request, Hash) else str(request)
        runner = self._outputs.get(channelId)
        if runner is None:
            return Hash("success", False, "info", Hash())
        return Hash("success", True, "info", runner.connectionInfo())

    async def _slotKillDevice(self) -> bool:
        # The reply leaves before the instance does: the shutdown runs after this slot returned.
        self._loop.call_soon(lambda: setattr(self, "_killTask", self._loop.create_task(self.slotKillDevice())))
        return True   # Karabo's middlelayer replies True (its shutdown() returns this reply)

    async def slotKillDevice(self) -> None:
        """Run onDestruction, close channels, cancel our tasks and leave the bus."""
        if self._killed is None or self._stopping:
            return
        self._stopping = True
        try:
            await asyncio.wait_for(self._run(self.onDestruction), HOOK_TIMEOUT)
        except Exception:
            self.logger.exception("onDestruction of %s failed", self._core.deviceId)
        await self._shutdown()

    async def _shutdown(self) -> None:
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        for runner in [*self._inputs.values(), *self._outputs.values()]:
            await runner.close()
        self._flush()
        if self._sigslot is not None:
            await self._sigslot.stop()
        if self._server is not None:
            self._server.deviceGone(self._core.deviceId)
        self._killed.set()

    async def waitKilled(self) -> None:
        """Return once the device left the bus."""
        await self._killed.wait()
