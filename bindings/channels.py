"""Pipeline channels of bound devices, on the threaded pipeline transport.

An output listens on all interfaces and advertises this host; what ``writeChannel`` sends is
validated strictly against the channel's data schema (no casts: a Python int is INT32 and does not
fit a UINT32 field, as in Karabo 3). An input asks each configured output's device for its address
(``slotGetOutputChannelInformation``) in a thread of its own, retrying until the device is there.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any, Callable

from pykarabo import Hash, Types
from pykarabo.errors import KaraboError
from pykarabo.net import pipeline_threads
from pykarabo.schema import Schema, ValidationRules, Validator
from pykarabo.timestamp import Epochstamp, Timestamp

__all__ = ["ChannelMetaData", "InputView", "BoundInput", "BoundOutput", "isLocalRequest"]

log = logging.getLogger(__name__)

RESOLVE_RETRY = 1.0   # seconds between attempts to find an output
# Output data: every key must be declared and have the declared type; nothing is injected.
_DATA_RULES = ValidationRules(injectDefaults=False, allowMissingKeys=True, allowAdditionalKeys=False,
                              injectTimestamps=False)


def _advertisedHost() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def isLocalRequest(request: Hash) -> bool:
    """Whether an output-information request comes from this process (Karabo's rule for "local":
    same host and process id, and KARABO_NO_PIPELINE_SHORTCUT not set)."""
    return (request.get("processId", -1) == os.getpid() and request.get("hostname", "") == socket.gethostname()
            and not os.environ.get("KARABO_NO_PIPELINE_SHORTCUT"))


class ChannelMetaData:
    """Where an item comes from and when: ``getSource()``, ``getTimestamp()`` (train id included)."""

    __slots__ = ("source", "timestamp")

    def __init__(self, meta: Any) -> None:
        self.source: str = meta.source
        self.timestamp = Timestamp(Epochstamp(int(meta.sec), int(meta.frac)), int(meta.tid))

    def getSource(self) -> str:
        return self.source

    def getTimestamp(self) -> Timestamp:
        return self.timestamp

    def __getitem__(self, key: str) -> Any:
        """``meta["source"]``: Karabo 3 hands data handlers the metadata as a Hash ("source", "timestamp")."""
        if key == "source":
            return self.source
        if key == "timestamp":
            return True   # Karabo's Hash node; its attributes carry the time
        raise KeyError(f"channel metadata have no {key!r}, only 'source' and 'timestamp'")

    def getAttributes(self, key: str) -> dict[str, int]:
        """``{"sec", "frac", "tid"}`` for ``key="timestamp"`` (Karabo's ``Timestamp.fromHashAttributes`` idiom)."""
        if key != "timestamp":
            raise KeyError(f"channel metadata have no attributes for {key!r}, only for 'timestamp'")
        return self.timestamp.toDict()

    def __repr__(self) -> str:
        return f"ChannelMetaData({self.source!r}, tid={self.timestamp.getTid()})"


class InputView:
    """What a ``KARABO_ON_INPUT`` handler gets: the items of one message."""

    __slots__ = ("_items",)

    def __init__(self, items: list) -> None:
        self._items = items

    def size(self) -> int:
        return len(self._items)

    def read(self, index: int) -> Hash:
        """The data of item ``index``."""
        return self._items[index][0]

    def getMetaData(self) -> list[ChannelMetaData]:
        return [ChannelMetaData(meta) for _, meta in self._items]


class BoundOutput:
    """An output channel of a device: strict writes, end-of-stream, its address for inputs."""

    def __init__(self, device: Any, path: str) -> None:
        self.path = path
        core = device._core
        params = core.parameters
        hostname = params.get(f"{path}.hostname", "default")
        self.channel = pipeline_threads.OutputChannel(
            "0.0.0.0" if hostname == "default" else hostname, int(params.get(f"{path}.port", 0)),
            source=f"{core.deviceId}:{path}", noInputShared=params.get(f"{path}.noInputShared", "drop"),
            advertisedHost=_advertisedHost() if hostname == "default" else hostname)
        data = core.schema.hash.get(f"{path}.schema", Hash())
        self._dataSchema = Schema(f"{core.deviceId}:{path}", data.copy())
        self._validator = Validator(_DATA_RULES)
        self._validate = params.get(f"{path}.validateSchema", "always")
        self._validated = False

    def write(self, data: Hash, timestamp: Timestamp, copy: bool = True) -> None:
        """Validate ``data`` against the data schema and send it as one item (arrays copied if ``copy``)."""
        if not isinstance(data, Hash):
            raise TypeError(f"writeChannel({self.path!r}) expects a Hash, not {type(data).__name__}")
        if not self._validated or self._validate == "always":
            self._checkTypes(data, "")
            self._validator.validate(self._dataSchema, data)
            self._validated = True
        self.channel.write(data, timestamp=(timestamp.getSeconds(), timestamp.getFractionalSeconds(),
                                            timestamp.getTid()), copyAllData=copy)
        self.channel.update()

    def _checkTypes(self, data: Hash, prefix: str) -> None:
        # Karabo 3 refuses a leaf whose type differs from the declared one (the validator would cast).
        schema = self._dataSchema
        for node in data.nodes():
            path = prefix + node.getKey()
            if not schema.has(path):
                continue   # the validator names unknown keys
            if schema.isLeaf(path):
                want = schema.getValueType(path)
                got = node.getType()
                if got != want:
                    raise KaraboError(f"data/schema mismatch of output {self.path!r}: Expect '{want.name}', "
                                      f"but got '{Types(got).name}' for {path}")
            elif schema.isNode(path) and not schema.isCustomNode(path) and isinstance(node.getValue(), Hash):
                self._checkTypes(node.getValue(), path + ".")

    def signalEndOfStream(self) -> None:
        self.channel.signalEndOfStream()

    def connectionInfo(self) -> Hash:
        return self.channel.connectionInfo

    def close(self) -> None:
        self.channel.close()


class BoundInput:
    """An input channel of a device; connects once its outputs are found, calls the device's handlers."""

    def __init__(self, device: Any, path: str, onData: Callable | None, onInput: Callable | None,
                 onEndOfStream: Callable | None) -> None:
        self.device = device
        self.path = path
        self.handlers = (onData, onInput, onEndOfStream)
        self.channel: pipeline_threads.InputChannel | None = None
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._connect, daemon=True, name=f"resolve {path}")

    def start(self) -> None:
        """Resolve and connect in the background (outputs may appear later)."""
        self._thread.start()

    def waitConnected(self, timeout: float) -> None:
        """Block until every configured output is connected."""
        self._thread.join(timeout)
        if self.channel is None:
            raise KaraboError(f"input {self.path} found no output within {timeout} s")
        self.channel.waitConnected(timeout=timeout)

    def _connect(self) -> None:
        device = self.device
        params = device._core.parameters
        path = self.path
        outputs = list(params.get(f"{path}.connectedOutputChannels", []))
        if not outputs:
            return
        device.set(f"{path}.missingConnections", outputs)
        addresses = []
        for output in outputs:
            info = self._resolve(output)
            if info is None:
                return
            addresses.append(info)
        onData, onInput, onEos = self.handlers
        self.channel = pipeline_threads.InputChannel(
            addresses, instanceId=f"{device._core.deviceId}:{path}",
            dataDistribution=params.get(f"{path}.dataDistribution", "copy"),
            onSlowness=params.get(f"{path}.onSlowness", "drop"),
            maxQueueLength=int(params.get(f"{path}.maxQueueLength", 2)),
            onData=self._onData if onData is not None else None,
            onInput=self._onInput if onInput is not None else None,
            onEndOfStream=self._onEndOfStream if onEos is not None else None)
        self.channel.waitConnected()
        device.set(f"{path}.missingConnections", [])

    def _resolve(self, output: str) -> Hash | None:
        deviceId, _, channel = output.rpartition(":")
        while not self._closing.is_set():
            try:
                request = Hash("channelId", channel, "processId", os.getpid(), "hostname", socket.gethostname())
                reply = self.device.request(deviceId, "slotGetOutputChannelInformation",
                                            request).waitForReply(int(RESOLVE_RETRY * 1000))
                if reply and reply[0].get("success", False):
                    return reply[0]["info"]
            except Exception as exc:   # absent or not yet ready: try again
                log.debug("output %s not available yet: %s", output, exc)
            self._closing.wait(RESOLVE_RETRY)
        return None

    def _onData(self, data: Hash, meta: Any) -> None:
        self.handlers[0](data, ChannelMetaData(meta))

    def _onInput(self, items: list) -> None:
        self.handlers[1](InputView(items))

    def _onEndOfStream(self, _input: Any) -> None:
        self.handlers[2](InputView([]))

    def close(self) -> None:
        self._closing.set()
        if self.channel is not None:
            self.channel.close()
