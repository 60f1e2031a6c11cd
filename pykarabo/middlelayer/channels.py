"""Pipeline channels of middlelayer devices, on the asyncio pipeline transport.

An output listens on all interfaces and advertises this host; an input asks each configured output's
device for its address (``slotGetOutputChannelInformation``), retrying until the device is there.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from pykarabo import Hash, Types
from pykarabo.middlelayer.values import stampOf, wrap
from pykarabo.net import pipeline_asyncio
from pykarabo.timestamp import Epochstamp, Timestamp

__all__ = ["OutputChannelRunner", "InputChannelRunner", "PipelineMetaData", "DataView"]

RESOLVE_RETRY = 1.0   # seconds between attempts to find an output


def _advertisedHost() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


class OutputChannelRunner:
    """``self.output`` of a device: fill ``schema`` then ``await writeData()``."""

    def __init__(self, device: Any, path: str, descriptor: Any):
        self.device = device
        self.path = path
        self.schema = descriptor.cls() if descriptor.cls is not None else None
        params = device._core.parameters
        hostname = params.get(f"{path}.hostname", "default")
        self._channel = pipeline_asyncio.OutputChannel(
            "0.0.0.0" if hostname == "default" else hostname, int(params.get(f"{path}.port", 0)),
            source=f"{device._core.deviceId}:{path}", noInputShared=params.get(f"{path}.noInputShared", "drop"),
            advertisedHost=_advertisedHost() if hostname == "default" else hostname)

    async def start(self) -> None:
        """Listen and publish the address."""
        await self._channel.start()
        info = Hash()
        info.setAs(f"{self.path}.port", self._channel.port, Types.UINT32)
        info[f"{self.path}.address"] = f"{self._channel.connectionInfo['hostname']}:{self._channel.port}"
        self.device._changed(self.device._core.set(info))

    def connectionInfo(self) -> Hash:
        """What ``slotGetOutputChannelInformation`` replies with in ``info``."""
        return self._channel.connectionInfo

    def _stamp(self, timestamp: Timestamp | None) -> tuple:
        ts = timestamp or Timestamp()
        return ts.getSeconds(), ts.getFractionalSeconds(), ts.getTid()

    async def writeData(self, timestamp: Timestamp | None = None) -> None:
        """Send the current values of ``schema`` as one item."""
        # No copy: the item is serialized by write(), before any later assignment can change it.
        await self.writeRawData(self.schema._store.parameters, timestamp)

    async def writeRawData(self, data: Hash, timestamp: Timestamp | None = None) -> None:
        """Send ``data`` as one item."""
        self._channel.write(data, timestamp=self._stamp(timestamp))
        await self._channel.update()

    def writeDataNoWait(self, timestamp: Timestamp | None = None) -> None:
        """Queue :meth:`writeData` without waiting."""
        self.device._background(self.writeData(timestamp))

    def writeRawDataNoWait(self, data: Hash, timestamp: Timestamp | None = None) -> None:
        """Queue :meth:`writeRawData` without waiting."""
        self.device._background(self.writeRawData(data, timestamp))

    async def writeEndOfStream(self) -> None:
        """Tell every input that the stream ended."""
        await self._channel.signalEndOfStream()

    def writeEndOfStreamNoWait(self) -> None:
        """Queue :meth:`writeEndOfStream`."""
        self.device._background(self.writeEndOfStream())

    async def waitForInputs(self, n: int = 1, timeout: float | None = None) -> None:
        """Wait until ``n`` inputs are connected."""
        await self._channel.waitForInputs(n, timeout)

    async def close(self) -> None:
        """Stop listening."""
        await self._channel.close()


class PipelineMetaData:
    """Where an item comes from (``source``) and when (``timestamp``, a Timestamp with the train id)."""

    def __init__(self, meta: Any):
        self.source = meta.source
        self.timestamp = Timestamp(Epochstamp(int(meta.sec), int(meta.frac)), int(meta.tid))

    def __repr__(self) -> str:
        return f"PipelineMetaData({self.source!r}, {self.timestamp!r})"


class DataView:
    """Attribute access to received data: ``data.node.value`` gives KaraboValues stamped with the item's time."""

    def __init__(self, data: Hash, timestamp: Timestamp):
        self._data = data
        self._timestamp = timestamp

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, path: str) -> Any:
        try:
            node = self._data.getNode(path)
        except KeyError:
            raise AttributeError(f"the data have no '{path}'") from None
        value = node.getValue()
        if isinstance(value, Hash) and not hasattr(value, "getArray") and not hasattr(value, "getData"):
            return DataView(value, self._timestamp)
        return wrap(value, stampOf(node.getAttributes()) or self._timestamp)

    def __dir__(self) -> list[str]:
        return self._data.getKeys()

    @property
    def hash(self) -> Hash:
        """The raw data."""
        return self._data


class InputChannelRunner:
    """``self.input`` of a device: connects to the configured outputs and calls the device's handlers."""

    def __init__(self, device: Any, path: str, descriptor: Any):
        self.device = device
        self.path = path
        self.descriptor = descriptor
        self._channel: pipeline_asyncio.InputChannel | None = None

    async def start(self) -> None:
        """Resolve the outputs (retrying while their devices are absent) and connect."""
        params = self.device._core.parameters
        outputs = list(params.get(f"{self.path}.connectedOutputChannels", []))
        if not outputs:
            return
        self.device._changed(self.device._core.set(Hash(f"{self.path}.missingConnections", outputs)))
        addresses = [await self._resolve(output) for output in outputs]
        d = self.descriptor
        self._channel = pipeline_asyncio.InputChannel(
            addresses, instanceId=f"{self.device._core.deviceId}:{self.path}",
            dataDistribution=params.get(f"{self.path}.dataDistribution", "copy"),
            onSlowness=params.get(f"{self.path}.onSlowness", "drop"),
            maxQueueLength=int(params.get(f"{self.path}.maxQueueLength", 2)),
            onData=self._onData if d.handler is not None else None,
            onEndOfStream=self._onEndOfStream if d.eosHandler is not None else None)
        await self._channel.start()
        await self._channel.waitConnected()
        self.device._changed(self.device._core.set(Hash(f"{self.path}.missingConnections", [])))
        if d.connectHandler is not None:
            for output in outputs:
                await self.device._run(d.connectHandler, self.device, output)

    async def _resolve(self, output: str) -> Hash:
        deviceId, _, channel = output.rpartition(":")
        while True:
            try:
                reply = await self.device._sigslot.request(deviceId, "slotGetOutputChannelInformation",
                                                           Hash("channelId", channel), timeout=RESOLVE_RETRY)
                if reply and reply[0].get("success", False):
                    return reply[0]["info"]
            except Exception as exc:   # absent or not yet ready: try again
                self.device.logger.debug("output %s not available yet: %s", output, exc)
            await asyncio.sleep(RESOLVE_RETRY)

    async def _onData(self, data: Hash, meta: Any) -> None:
        meta = PipelineMetaData(meta)
        value = data if self.descriptor.raw else DataView(data, meta.timestamp)
        await self.device._run(self.descriptor.handler, self.device, value, meta)

    async def _onEndOfStream(self, _input: Any) -> None:
        await self.device._run(self.descriptor.eosHandler, self.device, self.path)

    async def close(self) -> None:
        """Disconnect."""
        if self._channel is not None:
            await self._channel.close()
            if self.descriptor.closeHandler is not None:
                for output in self.device._core.parameters.get(f"{self.path}.connectedOutputChannels", []):
                    await self.device._run(self.descriptor.closeHandler, self.device, output)
