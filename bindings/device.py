"""``PythonDevice``: Karabo's bound device API on threads.

The configuration, lock and standard-slot rules come from :class:`pykarabo.device.DeviceCore`
(shared with the middlelayer); messages travel over the threaded broker transport, whose slot
calls run on a thread pool (one strand per caller), and pipelines over the threaded pipeline
transport, whose input handlers run on the process-wide handler pool (one message at a time
per input, inputs in parallel).

Writes are serialised by one device lock: ``set`` validates, merges and emits ``signalChanged``
atomically, so concurrent writers never interleave.  Values are validated by the internal
validator, which converts a Python ``int`` to the declared integer type if it fits (a UINT32
property accepts ``5`` and refuses ``-1``), as real Karabo 3.1.2's bound ``set`` does too
(tests/bound/test_interop_karabo_bound.py runs a device doing it on Karabo's bound server).
``writeChannel`` stays strict, as in Karabo 3.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from pykarabo import Hash, Types
from pykarabo.alarms import AlarmCondition
from pykarabo.device import DeviceCore, instanceStatus
from pykarabo.errors import KaraboError
from pykarabo.net.broker.threads import Requestor, ThreadedSignalSlotable
from pykarabo.schema import Schema
from pykarabo.signalslot import SlotCall
from pykarabo.states import State
from pykarabo.timestamp import Timestamp
from pykarabo_bridge.memory import keep_freed_blocks

from .channels import BoundInput, BoundOutput, isLocalRequest
from .schema import KARABO_CLASSINFO, baseParameters, classSchema

__all__ = ["PythonDevice", "currentCaller"]

STOP_TIMEOUT = 5.0   # seconds preDestruction and channel shutdown may take
_NO_DEFAULT = object()
_thread = threading.local()   # per slot thread: the call being served and the reply chosen so far


def currentCaller() -> str:
    """The instance id of whoever called the slot running in this thread (empty elsewhere)."""
    call = getattr(_thread, "call", None)
    return "" if call is None else call.sender


class _DeviceSignalSlotable(ThreadedSignalSlotable):
    """The threaded transport, telling each slot thread which call it serves."""

    def _runSlot(self, call: SlotCall) -> None:
        _thread.call = call
        _thread.reply = None
        try:
            super()._runSlot(call)
        finally:
            _thread.call = None
            _thread.reply = None


class _Log:
    """Karabo's legacy logging calls: ``self.log.INFO("...")``."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def DEBUG(self, message: str) -> None:
        self._logger.debug(message)

    def INFO(self, message: str) -> None:
        self._logger.info(message)

    def WARN(self, message: str) -> None:
        self._logger.warning(message)

    def ERROR(self, message: str) -> None:
        self._logger.error(message)

    def FATAL(self, message: str) -> None:
        self._logger.critical(message)


_PY_LEVELS = {"WARN": "WARNING", "FATAL": "CRITICAL"}


@KARABO_CLASSINFO("PythonDevice", "")
class PythonDevice:
    """Base class of bound devices: declare ``expectedParameters``, register slots and handlers in ``__init__``."""

    @staticmethod
    def expectedParameters(expected: Schema) -> None:
        """The base properties; subclasses add theirs in their own ``expectedParameters``."""
        baseParameters(expected)

    @classmethod
    def getSchema(cls) -> Schema:
        """The class schema (every base's ``expectedParameters``, base first)."""
        return classSchema(cls)

    def __init__(self, configuration: Hash | dict | None = None) -> None:
        """Validate ``configuration`` against the class schema (not yet online)."""
        config = Hash() if configuration is None else configuration
        if isinstance(config, dict):
            config = Hash(config)
        if not isinstance(config, Hash):
            raise TypeError(f"a device configuration is a Hash, not {type(config).__name__}")
        cls = type(self)
        self._core = DeviceCore(classSchema(cls), config, cls.__classid__)
        module = cls.__module__.split(".")[0]
        self._core.set(Hash("classVersion", f"{module}-{cls.__version__}"))
        self._lock = threading.RLock()
        self.logger = logging.getLogger(self._core.deviceId)
        self.logger.setLevel(_PY_LEVELS.get(self._core.get("log.level"), self._core.get("log.level")))
        self.log = _Log(self.logger)
        self._slots: dict[str, Callable] = {}
        self._signals: dict[str, tuple] = {}
        self._initialFunctions: list[Callable] = []
        self._handlers: dict[str, list] = {}   # input path -> [onData, onInput, onEndOfStream]
        self._outputs: dict[str, BoundOutput] = {}
        self._inputs: dict[str, BoundInput] = {}
        self._ss: _DeviceSignalSlotable | None = None
        self._server: Any = None
        self._killed = threading.Event()
        self._stopping = False

    # ---- hooks for subclasses -------------------------------------------------------------------

    def preReconfigure(self, incomingReconfiguration: Hash) -> None:
        """Runs with the validated changes of ``slotReconfigure`` before they apply; may modify them."""

    def postReconfigure(self) -> None:
        """Runs after a reconfiguration was applied."""

    def preDestruction(self) -> None:
        """Runs when the device is killed, before it leaves the bus (stop Workers here)."""

    def registerInitialFunction(self, function: Callable[[], Any]) -> None:
        """Run ``function()`` once the device is online (in registration order)."""
        self._initialFunctions.append(function)

    # ---- properties -----------------------------------------------------------------------------

    def set(self, *args: Any, **kwargs: Any) -> None:
        """``set(key, value[, timestamp])``, ``set(hash[, timestamp])`` or ``set(key=value, ...)``: atomic."""
        if kwargs and args:
            raise TypeError("set() takes either positional or keyword arguments, not both")
        timestamp = None
        if kwargs:
            changes = Hash()
            for key, value in kwargs.items():
                changes[key] = self._plain(value)
        elif args and isinstance(args[0], Hash):
            if len(args) > 2:
                raise TypeError("set(hash, timestamp=None) takes at most two arguments")
            changes, timestamp = args[0], (args[1] if len(args) == 2 else None)
        elif len(args) in (2, 3) and isinstance(args[0], str):
            changes = Hash()
            changes[args[0]] = self._plain(args[1])
            timestamp = args[2] if len(args) == 3 else None
        else:
            raise TypeError("set() expects (key, value[, timestamp]), (hash[, timestamp]) or keywords")
        self._write(changes, timestamp)

    def setAs(self, key: str, value: Any, valueType: Types, timestamp: Timestamp | None = None) -> None:
        """Set ``key`` to ``value`` as Karabo type ``valueType``."""
        changes = Hash()
        changes.setAs(key, self._plain(value), valueType)
        self._write(changes, timestamp)

    def __setitem__(self, key: str, value: Any) -> None:
        self.set(key, value)

    def get(self, key: str, default: Any = _NO_DEFAULT) -> Any:
        """A copy of the current value of ``key`` (State / AlarmCondition for those properties)."""
        with self._lock:
            if not self._core.has(key):
                if default is _NO_DEFAULT:
                    raise KeyError(f'Device "{self._core.deviceId}" has no value for "{key}"')
                return default
            value = self._core.parameters[key]
            if callable(getattr(value, "copy", None)):   # arrays, lists, nodes: changing them must not bypass set
                value = value.copy()
            classId = self._core.schema.hash.getAttributes(key).get("classId") if self._core.schema.has(key) \
                else None
        if classId == "State":
            return State(value)
        if classId == "AlarmCondition":
            return AlarmCondition(value)
        return value

    __getitem__ = get

    def getAs(self, key: str, valueType: Types) -> Any:
        """The current value of ``key`` converted to Karabo type ``valueType``."""
        with self._lock:
            return self._core.parameters.getAs(key, valueType)

    def updateState(self, state: State | str, propertyUpdates: Hash | None = None,
                    timestamp: Timestamp | None = None) -> None:
        """Change the state (with further ``propertyUpdates``, atomically); the running slot replies the state."""
        changes = Hash() if propertyUpdates is None else propertyUpdates.copy()
        changes["state"] = State(state).value
        self._write(changes, timestamp)
        if getattr(_thread, "call", None) is not None and _thread.reply is None:
            _thread.reply = (State(state).value,)

    def setAlarmCondition(self, condition: AlarmCondition | str, timestamp: Timestamp | None = None) -> None:
        self._write(Hash("alarmCondition", AlarmCondition(condition).value), timestamp)

    def getAlarmCondition(self) -> AlarmCondition:
        return self.get("alarmCondition")

    def getActualTimestamp(self) -> Timestamp:
        """Now (train id 0: no time server is connected)."""
        return Timestamp()

    def getCurrentConfiguration(self, tags: str = "") -> Hash:
        """The whole configuration, or the properties carrying one of ``tags``."""
        with self._lock:
            config = self._core.configuration()
        if not tags:
            return config
        wanted = set(t for t in tags.replace(";", ",").replace(" ", ",").split(",") if t)
        out = Hash()
        schema = self._core.schema
        for path in schema.getPaths():
            if schema.hasTags(path) and wanted & set(schema.getTags(path)) and config.has(path):
                out[path] = config[path]
        return out

    def getFullSchema(self) -> Schema:
        return self._core.schema

    def getInstanceId(self) -> str:
        return self._core.deviceId

    def getServerId(self) -> str:
        return self._core.get("serverId", "")

    @staticmethod
    def _plain(value: Any) -> Any:
        return value.value if isinstance(value, (State, AlarmCondition)) else value

    def _write(self, changes: Hash, timestamp: Timestamp | None) -> None:
        with self._lock:
            validated = self._core.set(changes, timestamp)
            self._publish(validated)

    def _publish(self, validated: Hash) -> None:
        """Tell the world about applied changes; called with the device lock held (keeps their order)."""
        if validated.has("log.level"):
            level = validated["log.level"]
            self.logger.setLevel(_PY_LEVELS.get(level, level))
        ss = self._ss
        if ss is None or not ss.core.online:
            return
        if validated.has("state"):
            status = instanceStatus(validated["state"])
            if ss.core.instanceInfo.get("status", "") != status:
                ss.core.updateInstanceInfo(Hash("status", status))
        ss.emit("signalChanged", validated, self._core.deviceId)

    # ---- slots and signals ----------------------------------------------------------------------

    def KARABO_SLOT(self, function: Callable, slotName: str | None = None, numArgs: int | None = None) -> None:
        """Make ``function`` callable from the bus; ``node_reset`` serves the schema slot ``node.reset``."""
        name = slotName or function.__name__
        schema = self._core.schema
        if not schema.has(name) and "_" in name and schema.has(name.replace("_", ".")):
            name = name.replace("_", ".")
        if schema.has(name) and schema.isCommand(name):
            if numArgs:
                raise KaraboError(f"Command Slot {name} does not take arguments")
            handler = self._guarded(name, function)
        else:
            handler = self._plainSlot(function)
        self._slots[name] = handler
        if self._ss is not None:
            self._ss.registerSlot(handler, name, numArgs)

    registerSlot = KARABO_SLOT

    def registerSignal(self, name: str, *types: Any) -> None:
        """Declare signal ``name`` (argument types are documentation only)."""
        self._signals[name] = types
        if self._ss is not None:
            self._ss.registerSignal(name, *types)

    def emit(self, signal: str, *args: Any) -> None:
        self._online().emit(signal, *args)

    def connect(self, signalInstanceId: str, signal: str, slotOrInstanceId: str, slot: str | None = None) -> None:
        """Connect a remote signal to one of our slots: ``(emitter, signal, slot)`` or Karabo's four arguments."""
        if slot is not None and slotOrInstanceId != self._core.deviceId:
            raise KaraboError(f"{self._core.deviceId} can only connect signals to its own slots, "
                              f"not to {slotOrInstanceId}")
        ss = self._online()
        ss.connect(signalInstanceId, signal, slot or slotOrInstanceId)
        ss.syncBroker()

    def call(self, instanceId: str, slot: str, *args: Any) -> None:
        self._online().call(instanceId, slot, *args)

    def request(self, instanceId: str, slot: str, *args: Any) -> Requestor:
        """Send a request; ``.waitForReply(ms)`` or ``.receiveAsync(onReply, onError)``."""
        return self._online().request(instanceId, slot, *args)

    def requestNoWait(self, instanceId: str, slot: str, replyInstanceId: str, replySlot: str, *args: Any) -> None:
        """Request whose reply calls our ``replySlot``."""
        if replyInstanceId not in ("", self._core.deviceId):
            raise KaraboError("replies of requestNoWait can only go to this device")
        self._online().requestNoWait(instanceId, slot, replySlot, *args)

    def reply(self, *values: Any) -> None:
        """Set the reply of the running slot."""
        if getattr(_thread, "call", None) is None:
            raise KaraboError("reply() is only possible inside a slot")
        _thread.reply = values

    def execute(self, slot: str, *args: Any) -> None:
        """Call one of our own slots (through the bus, as Karabo does)."""
        self.call(self._core.deviceId, slot, *args)

    def _online(self) -> _DeviceSignalSlotable:
        if self._ss is None:
            raise KaraboError(f"device {self._core.deviceId} is not online")
        return self._ss

    def _guarded(self, name: str, function: Callable) -> Callable:
        def handler(*args: Any) -> Any:
            if args:
                raise KaraboError(f"Command Slot {name} does not take arguments")
            caller = currentCaller()
            self._core.checkSlotCall(name, caller)
            with self._lock:
                self._publish(self._core.set(self._core.commandRecord(name, caller)))
            result = function()
            return result if result is not None else _thread.reply
        handler.__name__ = name
        return handler

    @staticmethod
    def _plainSlot(function: Callable) -> Callable:
        def handler(*args: Any) -> Any:
            result = function(*args)
            return result if result is not None else getattr(_thread, "reply", None)
        handler.__name__ = function.__name__
        return handler

    # ---- pipelines ------------------------------------------------------------------------------

    def KARABO_ON_DATA(self, channel: str, handler: Callable) -> None:
        """Call ``handler(data, meta)`` for every item arriving at input ``channel``."""
        self._handler(channel, 0, handler)

    def KARABO_ON_INPUT(self, channel: str, handler: Callable) -> None:
        """Call ``handler(input)`` for every message (``input.size()``, ``input.read(i)``)."""
        self._handler(channel, 1, handler)

    def KARABO_ON_EOS(self, channel: str, handler: Callable) -> None:
        """Call ``handler(input)`` when every connected output ended its stream."""
        self._handler(channel, 2, handler)

    registerDataHandler = KARABO_ON_DATA
    registerInputHandler = KARABO_ON_INPUT
    registerEndOfStreamHandler = KARABO_ON_EOS

    def _handler(self, channel: str, kind: int, handler: Callable) -> None:
        schema = self._core.schema
        if not schema.has(channel) or schema.getClassId(channel) != "InputChannel":
            raise KaraboError(f'Device "{self._core.deviceId}" has no input channel "{channel}"')
        if self._inputs:
            raise KaraboError("register input handlers in __init__, before the device is online")
        self._handlers.setdefault(channel, [None, None, None])[kind] = handler

    def writeChannel(self, channel: str, data: Hash, timestamp: Timestamp | None = None,
                     safeNDArray: bool = False) -> None:
        """Send ``data`` (validated strictly against the channel's data schema) as one item.

        As in Karabo, arrays are copied unless ``safeNDArray`` promises that they are not changed
        afterwards (then they are sent from where they are).
        """
        self._output(channel).write(data, timestamp or self.getActualTimestamp(), copy=not safeNDArray)

    def signalEndOfStream(self, channel: str) -> None:
        """Tell every input connected to ``channel`` that the stream ended."""
        self._output(channel).signalEndOfStream()

    def _output(self, channel: str) -> BoundOutput:
        output = self._outputs.get(channel)
        if output is None:
            raise KaraboError(f'Device "{self._core.deviceId}" has no open output channel "{channel}"')
        return output

    def _channelPaths(self, classId: str) -> list[str]:
        """Paths of the pipeline channels of kind ``classId`` (also inside plain nodes)."""
        paths = []

        def walk(h: Hash, prefix: str) -> None:
            for node in h.nodes():
                path = prefix + node.getKey()
                nodeClass = node.getAttributes().get("classId")
                if nodeClass == classId:
                    paths.append(path)
                elif nodeClass is None and isinstance(node.getValue(), Hash):
                    walk(node.getValue(), path + ".")
        walk(self._core.schema.hash, "")
        return paths

    # ---- life on the bus ------------------------------------------------------------------------

    def startInstance(self, broker: Any = None, topic: str | None = None, server: Any = None,
                      connectTimeout: float = 10.0) -> None:
        """Go online, open the channels, run the initial functions; a failing one kills the device."""
        self._server = server
        keep_freed_blocks()     # handlers make large arrays per train: see pykarabo_bridge.memory
        interval = int(self._core.get("heartbeatInterval", 30))
        self._ss = ss = _DeviceSignalSlotable(self._core.deviceId, self._core.instanceInfo(), broker=broker,
                                              topic=topic, heartbeatInterval=interval)
        ss.registerSignal("signalChanged", Hash, str)
        ss.registerSignal("signalSchemaUpdated", Schema, str)
        for name in ("slotReconfigure", "slotGetConfiguration", "slotGetConfigurationSlice", "slotGetSchema",
                     "slotKillDevice", "slotGetTime", "slotGetOutputChannelInformation",
                     "slotGetOutputChannelNames", "slotLoggerLevel"):
            ss.registerSlot(getattr(self, "_" + name), name)
        ss.registerSlot(self._guarded("slotClearLock", self._clearLock), "slotClearLock")
        for name, types in self._signals.items():
            ss.registerSignal(name, *types)
        for name, handler in self._slots.items():
            ss.registerSlot(handler, name)
        ss.start()
        try:
            for path in self._channelPaths("OutputChannel"):
                output = self._outputs[path] = BoundOutput(self, path)
                info = Hash()
                info.setAs(f"{path}.port", output.channel.port, Types.UINT32)
                info[f"{path}.address"] = f"{output.connectionInfo()['hostname']}:{output.channel.port}"
                self.set(info)
            for path in self._channelPaths("InputChannel"):
                onData, onInput, onEos = self._handlers.get(path, [None, None, None])
                bound = self._inputs[path] = BoundInput(self, path, onData, onInput, onEos)
                bound.start()
            for function in self._initialFunctions:
                function()
        except Exception as exc:
            self.logger.exception("initialization of %s failed: the device is killed", self._core.deviceId)
            self.set("status", f"Initialization failed: {exc}")
            self._shutdown()
            raise

    def waitInputsConnected(self, timeout: float = 10.0) -> None:
        """Block until every input is connected to all its configured outputs."""
        for bound in self._inputs.values():
            bound.waitConnected(timeout)

    def waitForInputs(self, channel: str, n: int = 1, timeout: float | None = None) -> None:
        """Block until ``n`` inputs are connected to output ``channel`` (a pykarabo extension, as the middlelayer's)."""
        self._output(channel).channel.waitForInputs(n, timeout)

    def slotKillDevice(self) -> None:
        """Run ``preDestruction``, close the channels and leave the bus."""
        if self._stopping or self._ss is None:
            return   # not online, or already leaving
        self._stopping = True
        try:
            self.preDestruction()
        except Exception:
            self.logger.exception("preDestruction of %s failed", self._core.deviceId)
        self._shutdown()

    def waitKilled(self, timeout: float | None = None) -> bool:
        """Whether the device left the bus within ``timeout`` seconds."""
        return self._killed.wait(timeout)

    def _shutdown(self) -> None:
        self._stopping = True
        for channel in [*self._inputs.values(), *self._outputs.values()]:
            channel.close()
        ss, self._ss = self._ss, None
        if ss is not None:
            ss.stop()
        if self._server is not None:
            self._server.deviceGone(self._core.deviceId)
        self._killed.set()

    # ---- standard slots -------------------------------------------------------------------------

    def _slotReconfigure(self, changes: Hash) -> None:
        caller = currentCaller()
        with self._lock:
            validated = self._core.validateReconfiguration(changes, caller)
        self.preReconfigure(validated)
        with self._lock:
            validated = self._core.validate(validated)   # preReconfigure may have changed it
            self._core.apply(validated)
            validated.merge(self._core.set(self._core.commandRecord("slotReconfigure", caller)))
            self._publish(validated)   # one signalChanged for the changes and lastCommand
        self.postReconfigure()

    def _slotGetConfiguration(self) -> tuple:
        with self._lock:
            return self._core.configuration(), self._core.deviceId

    def _slotGetConfigurationSlice(self, request: Hash) -> Hash:
        with self._lock:
            return self._core.configurationSlice(request)

    def _slotGetSchema(self, onlyCurrentState: bool = False) -> tuple:
        return self._core.schemaReply(bool(onlyCurrentState)), self._core.deviceId

    def _slotGetTime(self, info: Hash | None = None) -> Hash:
        return self._core.timeInfo()

    def _slotGetOutputChannelNames(self) -> list:
        return sorted(self._outputs)

    def _slotGetOutputChannelInformation(self, request: Any) -> Hash:
        channelId = request.get("channelId", "") if isinstance(request, Hash) else str(request)
        output = self._outputs.get(channelId)
        if output is None:
            return Hash("success", False, "info", Hash())
        info = output.connectionInfo()
        if isinstance(request, Hash) and isLocalRequest(request):
            info["memoryLocation"] = "local"     # as Karabo: same process, data handed over in memory
        return Hash("success", True, "info", info)

    def _slotLoggerLevel(self, level: str) -> None:
        self.set("log.level", str(level))

    def _slotKillDevice(self) -> None:
        # The reply leaves before the instance does: the shutdown runs in a thread of its own.
        threading.Thread(target=self.slotKillDevice, name=f"kill {self._core.deviceId}", daemon=True).start()

    def _clearLock(self) -> None:
        self.set("lockedBy", "")
