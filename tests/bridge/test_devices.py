"""The bridge devices (middlelayer PipeToZeroMQ, bound BoundPipeToZeroMQ) on the embedded broker.

Each is fed by two pipeline outputs, one of a middlelayer device and one of a bound device, and
read by our client and by the real ``karabo_bridge.Client``.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
import zmq
from pykarabo_bridge import AsyncClient, Client

from pykarabo import Hash
from pykarabo.bound import (KARABO_CLASSINFO, NDARRAY_ELEMENT, NODE_ELEMENT, OUTPUT_CHANNEL, STRING_ELEMENT,
                            UINT64_ELEMENT, PythonDevice, Schema, Types, startDevice)
from pykarabo.bridge.bound_device import BoundPipeToZeroMQ
from pykarabo.bridge.mdl_device import PipeToZeroMQ
from pykarabo.middlelayer import (Device, OutputChannel, State, connectDevice, getClasses, getServers, instantiate,
                                  setWait, waitUntil)
from pykarabo.server import DeviceServer, discoverClasses
from pykarabo.timestamp import Epochstamp, Timestamp
from tests.bridge.conftest import HAVE_REFERENCE, NO_REFERENCE
from tests.middlelayer.bus import Bus

SEC, FRAC = 1_700_000_000, 250_000_000_000_000_000
MDL_SRC, BOUND_SRC = "BR/MDL/SRC:output", "BR/BOUND/SRC:output"
SOURCES = [MDL_SRC, BOUND_SRC]


def item(tid: int, name: str) -> Hash:
    """One pipeline item: a detector-like array in file layout and scalars."""
    h = Hash()
    h["image.data"] = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4) + np.uint16(tid % 1000)
    h.setAs("trainId", tid, Types.UINT64)
    h["name"] = name
    return h


class MdlSource(Device):
    """A middlelayer device with a pipeline output; the test writes to it directly."""

    output = OutputChannel()


def itemSchema() -> Schema:
    data = Schema("Item")
    NODE_ELEMENT(data).key("image").commit()
    NDARRAY_ELEMENT(data).key("image.data").dtype(Types.UINT16).shape("2,3,4").commit()
    UINT64_ELEMENT(data).key("trainId").readOnly().commit()
    STRING_ELEMENT(data).key("name").readOnly().commit()
    return data


@KARABO_CLASSINFO("BoundSource", "1.0")
class BoundSource(PythonDevice):
    """A bound device with a pipeline output."""

    @staticmethod
    def expectedParameters(expected: Schema) -> None:
        OUTPUT_CHANNEL(expected).key("output").dataSchema(itemSchema()).commit()


class Rig:
    """Two sources and one bridge device of either API on a private bus."""

    def __init__(self, bus: Bus, kind: str, **config) -> None:
        self.bus, self.kind = bus, kind
        self.config = {"deviceId": "BR/BRIDGE", "address": "tcp://127.0.0.1:0",
                       "input.connectedOutputChannels": SOURCES, "input.onSlowness": "wait", **config}
        self.loop = asyncio.get_running_loop()
        self.bridge = self.bound_bridge = self.bound_src = None

    async def start(self, sources: list[str] = SOURCES) -> "Rig":
        self.mdl_src = await self.bus.start(MdlSource({"deviceId": "BR/MDL/SRC"}))
        self.bound_src = await self._in_thread(startDevice, BoundSource, {"deviceId": "BR/BOUND/SRC"},
                                               broker=self.bus.url, topic=self.bus.topic)
        self.config["input.connectedOutputChannels"] = sources
        if self.kind == "mdl":
            self.bridge = await self.bus.start(PipeToZeroMQ(self.config))
        else:
            self.bound_bridge = await self._in_thread(startDevice, BoundPipeToZeroMQ, self.config,
                                                      broker=self.bus.url, topic=self.bus.topic)
        self.proxy = await connectDevice("BR/BRIDGE")
        await waitUntil(lambda: self.proxy.state != State.INIT, timeout=10)
        await waitUntil(lambda: len(self.proxy.input.missingConnections) == 0, timeout=10)
        await self.mdl_src.output.waitForInputs(1 if MDL_SRC in sources else 0, timeout=10)
        if BOUND_SRC in sources:
            await self._in_thread(self.bound_src.waitForInputs, "output", 1, 10.0)
        return self

    def _in_thread(self, fn, *args, **kwargs):
        return self.loop.run_in_executor(None, lambda: fn(*args, **kwargs))

    async def write(self, tid: int, sources: list[str] = SOURCES) -> None:
        stamp = Timestamp(Epochstamp(SEC, FRAC), tid)
        if MDL_SRC in sources:
            await self.mdl_src.output.writeRawData(item(tid, "mdl"), stamp)
        if BOUND_SRC in sources:
            await self._in_thread(self.bound_src.writeChannel, "output", item(tid, "bound"), stamp, True)

    @property
    def endpoint(self) -> str:
        return self.proxy.endpoint.value

    async def close(self) -> None:
        for device in (self.bound_bridge, self.bound_src):
            if device is not None:
                await self._in_thread(device.slotKillDevice)


def run(kind: str, test, timeout: float = 40, **config) -> None:
    """Run ``test(rig)`` with a rig whose bridge device is of ``kind`` ('mdl' or 'bound')."""
    bus = Bus()

    async def main():
        rig = Rig(bus, kind, **config)
        try:
            await rig.start()
            await test(rig)
        finally:
            await rig.close()
    bus.run(main, timeout=timeout)


def check_train(data: dict, meta: dict, tid: int, sources: list[str] = SOURCES) -> None:
    assert sorted(data) == sorted(sources)
    for src in sources:
        name = "mdl" if src == MDL_SRC else "bound"
        np.testing.assert_array_equal(data[src]["image.data"], item(tid, name)["image.data"])
        assert data[src]["trainId"] == tid and data[src]["name"] == name
        assert meta[src] == {"source": src, "timestamp": SEC + 0.25, "timestamp.sec": str(SEC),
                             "timestamp.frac": "250000000000000000", "timestamp.tid": tid}


KINDS = ["mdl", "bound"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("send_incomplete", [True, False])
def test_trains_matched_and_incomplete_ones_sent_or_dropped(kind: str, send_incomplete: bool) -> None:
    """Two sources matched by train ID over PUSH; a train lacking one is sent after maxWait or dropped."""
    async def test(rig: Rig) -> None:
        assert rig.proxy.state == State.ON and rig.endpoint.startswith("tcp://127.0.0.1:")
        assert rig.endpoint != "tcp://127.0.0.1:0"
        async with AsyncClient(rig.endpoint, sock="PULL", timeout=10) as client:
            await rig.write(1)
            check_train(*await client.next(), 1)
            await rig.write(2, [MDL_SRC])
            await asyncio.sleep(0.6)
            await rig.write(3)
            if send_incomplete:
                check_train(*await client.next(), 2, [MDL_SRC])
            check_train(*await client.next(), 3)
        await waitUntil(lambda: rig.proxy.trainsSent == (3 if send_incomplete else 2), timeout=5)
        assert rig.proxy.incompleteTrains == 1
        assert rig.proxy.trainsDropped == (0 if send_incomplete else 1)
        assert rig.proxy.rate > 0 and rig.proxy.dataRate > 0
    run(kind, test, pattern="PUSH", maxWait=0.3, sendIncomplete=send_incomplete)


@pytest.mark.skipif(not HAVE_REFERENCE, reason=NO_REFERENCE)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("pattern", ["REP", "PUB", "PUSH"])
def test_reference_client_receives(kind: str, pattern: str) -> None:
    """The real karabo_bridge.Client gets the matched trains in every pattern; the state goes ACTIVE."""
    import karabo_bridge

    async def test(rig: Rig) -> None:
        client = karabo_bridge.Client(rig.endpoint, sock={"REP": "REQ", "PUB": "SUB", "PUSH": "PULL"}[pattern],
                                      timeout=10)
        try:
            received = []
            for tid in range(10, 40):
                await rig.write(tid)
                if pattern != "PUB":   # PUB drops while nobody is subscribed: keep writing
                    received.append(await rig._in_thread(client.next))
                    continue
                try:
                    client._socket.setsockopt(zmq.RCVTIMEO, 300)
                    received.append(await rig._in_thread(client.next))
                except TimeoutError:
                    continue
                if len(received) == 3:
                    break
            tids = [meta[MDL_SRC]["timestamp.tid"] for _, meta in received]
            assert tids == sorted(set(tids)) and len(tids) >= 3
            for data, meta in received:
                check_train(data, meta, meta[MDL_SRC]["timestamp.tid"])
            await waitUntil(lambda: rig.proxy.state == State.ACTIVE, timeout=5)
        finally:
            client._context.destroy(linger=0)
    run(kind, test, pattern=pattern)


@pytest.mark.parametrize("kind", KINDS)
def test_source_and_key_selection_protocol_and_layout(kind: str) -> None:
    """Only the selected source and keys are served (protocol 1.0, online layout); the rest is listed as ignored."""
    async def test(rig: Rig) -> None:
        with Client(rig.endpoint, timeout=10) as client:
            await rig.write(5)
            data, meta = await rig._in_thread(client.next)
        assert list(data) == [BOUND_SRC]
        assert sorted(data[BOUND_SRC]) == ["image.data", "metadata"]     # 1.0 keeps metadata in the data
        np.testing.assert_array_equal(data[BOUND_SRC]["image.data"],
                                      item(5, "bound")["image.data"].transpose(2, 1, 0))
        assert meta[BOUND_SRC]["ignored_keys"] == ["trainId", "name"]
        assert meta[BOUND_SRC]["timestamp.tid"] == 5
        await setWait("BR/BRIDGE", maxWait=1.5, sendIncomplete=False)      # reconfigurable while serving
        matcher = (rig.bridge or rig.bound_bridge)._service.matcher
        await waitUntil(lambda: matcher.wait_time == 1.5 and matcher.incomplete == "drop", timeout=5)
    run(kind, test, sources=[BOUND_SRC], keys=["image.*"], protocol="1.0", layout="online")


@pytest.mark.parametrize("kind", KINDS)
def test_slow_or_vanished_client_never_blocks_the_pipeline(kind: str) -> None:
    """Nobody reads (or a client asks once and leaves): writes go on at pipeline speed, drops are counted."""
    async def test(rig: Rig) -> None:
        gone = Client(rig.endpoint, timeout=1)
        gone._request()          # a request whose client vanishes before the reply
        gone.close()
        t0 = time.monotonic()
        for tid in range(100, 160):
            await rig.write(tid)
        assert time.monotonic() - t0 < 20
        await waitUntil(lambda: rig.proxy.trainsDropped >= 40, timeout=5)
        with Client(rig.endpoint, timeout=10) as client:     # a new client gets recent trains
            data, meta = await rig._in_thread(client.next)
        assert meta[MDL_SRC]["timestamp.tid"] >= 140
        check_train(data, meta, meta[MDL_SRC]["timestamp.tid"])
    run(kind, test, pattern="REP")


@pytest.mark.parametrize("kind", KINDS)
def test_address_in_use_is_an_error_state(kind: str) -> None:
    """A bridge device that cannot bind goes to ERROR and says why."""
    ctx = zmq.Context()
    taken = ctx.socket(zmq.PULL)
    port = taken.bind_to_random_port("tcp://127.0.0.1")
    bus = Bus()

    async def test() -> None:
        config = {"deviceId": "BR/BAD", "address": f"tcp://127.0.0.1:{port}"}
        if kind == "mdl":
            await bus.start(PipeToZeroMQ(config))
            device = None
        else:
            device = await asyncio.get_running_loop().run_in_executor(
                None, lambda: startDevice(BoundPipeToZeroMQ, config, broker=bus.url, topic=bus.topic))
        try:
            proxy = await connectDevice("BR/BAD")
            await waitUntil(lambda: proxy.state == State.ERROR, timeout=10)
            assert "Address already in use" in proxy.status.value and str(port) in proxy.status.value
        finally:
            if device is not None:
                await asyncio.get_running_loop().run_in_executor(None, device.slotKillDevice)
    try:
        bus.run(test)
    finally:
        ctx.destroy(linger=0)


def test_device_server_hosts_both_bridge_devices() -> None:
    """The classes come through the 'pykarabo.device' entry points; instantiated, each binds a free port."""
    classes = discoverClasses(["pykarabo.device"])
    assert classes["PipeToZeroMQ"] is PipeToZeroMQ and classes["BoundPipeToZeroMQ"] is BoundPipeToZeroMQ
    bus = Bus()

    async def test() -> None:
        server = DeviceServer("BR_SERVER", {"PipeToZeroMQ": PipeToZeroMQ, "BoundPipeToZeroMQ": BoundPipeToZeroMQ},
                              broker=bus.url, topic=bus.topic)
        await server.start()
        try:
            for _ in range(100):     # the server's announcement reaches our topology soon after start()
                if "BR_SERVER" in await getServers():
                    break
                await asyncio.sleep(0.1)
            assert await getClasses("BR_SERVER") == ["BoundPipeToZeroMQ", "PipeToZeroMQ"]
            for cls in ("PipeToZeroMQ", "BoundPipeToZeroMQ"):
                deviceId = await instantiate("BR_SERVER", cls, address="tcp://127.0.0.1:*", pattern="PUB")
                proxy = await connectDevice(deviceId)
                await waitUntil(lambda: proxy.state == State.ON, timeout=10)
                assert proxy.endpoint.value.rsplit(":", 1)[1].isdigit() and proxy.pattern == "PUB"
        finally:
            await server.stop()
    bus.run(test, timeout=60)
