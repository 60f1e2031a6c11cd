"""Real Karabo 3 middlelayer on both ends of the device-level interop tests (run by Karabo's Python 3.12).

``Greeter``, ``RealCamera`` and ``Sink`` are device classes for Karabo's own middlelayer server
(``karabo-middlelayerserver``), found through ``karabo.middlelayer_device`` entry points the test writes.
Run as a script,
``python mdl_device_peer.py CLIENT_ID`` with ``KARABO_BROKER`` and ``KARABO_BROKER_TOPIC`` set, it is a
middlelayer client (a ``DeviceClientBase``) spoken to in JSON lines (see tests/karabo_env.PeerProcess).
Requests (``op``): ``topology`` (servers and devices with their instanceInfo); ``instantiate`` (serverId,
classId, deviceId, configuration); ``shutdown`` (deviceId); ``connect`` (deviceId, keys: connectDevice, reply
its values); ``get`` (deviceId, keys: a fresh getDevice); ``setWait`` (deviceId, key, value) and ``assign``
(the same by ``proxy.key = value``), both waiting until the connected proxy shows the value; ``execute``
(deviceId, slot); ``call`` (deviceId, slot, args); ``waitFor`` (deviceId, values, timeout: waitUntil the
connected proxy shows all values); ``quit``.
"""

import asyncio
import json
import sys

import numpy as np
from karabo.middlelayer import (AccessMode, Configurable, Device, DeviceClientBase, Double, InputChannel, Int32,
                                NDArray, OutputChannel, Slot, State, String, UInt16, UInt32, background, call,
                                connectDevice, getDevice, getTopology, instantiate, setWait, shutdown, sleep, slot,
                                waitUntil)


class Greeter(Device):
    """Greets ``name``: ``greet`` sets ``greeting`` and counts; ``scale`` is a plain slot with arguments."""

    name = String(defaultValue="world")
    factor = Double(defaultValue=2.0, minInc=0.0)
    greeting = String(defaultValue="", accessMode=AccessMode.READONLY)
    count = Int32(defaultValue=0, accessMode=AccessMode.READONLY)

    @Slot(allowedStates=[State.ON])
    async def greet(self):
        self.greeting = f"hello {self.name.value}"
        self.count = self.count.value + 1

    @slot
    def scale(self, x):
        return x * self.factor.value

    async def onInitialization(self):
        self.state = State.ON


class Frame(Configurable):
    """The data of the imaging example (examples/imaging.py), declared with Karabo's own descriptors."""

    image = NDArray(dtype=UInt16, shape=(32, 48))
    frameNumber = UInt32(defaultValue=0)


class RealCamera(Device):
    """Frames of constant value ``frameNumber`` at 50 Hz while ACQUIRING (``start``/``stop``)."""

    framesSent = UInt32(defaultValue=0, accessMode=AccessMode.READONLY)
    output = OutputChannel(Frame)

    @Slot(allowedStates=[State.ON])
    async def start(self):
        self.state = State.ACQUIRING
        self.task = background(self.acquire())

    @Slot(allowedStates=[State.ACQUIRING])
    async def stop(self):
        self.task.cancel()
        self.state = State.ON
        await self.output.writeEndOfStream()

    async def acquire(self):
        while True:
            self.output.schema.image = np.full((32, 48), 200 + self.framesSent.value % 10, np.uint16)
            self.output.schema.frameNumber = self.framesSent.value
            await self.output.writeData()
            self.framesSent = self.framesSent.value + 1
            await sleep(0.02)

    async def onInitialization(self):
        self.task = None
        self.state = State.ON


class Sink(Device):
    """Reads a pipeline and, through ``grab``, drives its source (a device of ours) by its slots."""

    sourceId = String(defaultValue="")
    received = Int32(defaultValue=0, accessMode=AccessMode.READONLY)
    lastFrame = Int32(defaultValue=-1, accessMode=AccessMode.READONLY)
    shape = String(defaultValue="", accessMode=AccessMode.READONLY)
    ends = Int32(defaultValue=0, accessMode=AccessMode.READONLY)

    # not raw: Karabo builds the data proxy from our output's schema (its NDArray needs the unit attributes)
    @InputChannel()
    async def input(self, data, meta):
        self.shape = "x".join(str(n) for n in data.image.value.shape)
        self.lastFrame = int(data.frameNumber.value)
        self.received = self.received.value + 1

    @input.endOfStream
    async def input(self, name):
        self.ends = self.ends.value + 1

    @Slot(allowedStates=[State.ON])
    async def grab(self):
        start = self.received.value
        async with getDevice(self.sourceId.value) as source:   # a proxy of our device, built from its schema
            await source.start()
            while self.received.value < start + 5:
                await sleep(0.02)
            await source.stop()

    async def onInitialization(self):
        self.state = State.ON


def plain(value):
    """A JSON-able plain value of a KaraboValue (units and timestamps dropped)."""
    value = getattr(value, "value", value)
    if hasattr(value, "magnitude"):
        value = value.magnitude
    if hasattr(value, "item"):
        value = value.item()
    return value.value if isinstance(value, State) else value


async def handle(proxies: dict, request: dict) -> dict:
    op = request["op"]
    if op == "topology":
        topology = getTopology()
        return {kind: {instanceId: {k: plain(v) for k, v in attrs.items()}
                       for instanceId, _, attrs in topology[kind].iterall()} for kind in ("server", "device")}
    if op == "instantiate":
        return {"deviceId": await instantiate(request["serverId"], request["classId"], request["deviceId"],
                                              **request["configuration"])}
    deviceId = request["deviceId"]
    if op == "shutdown":
        return {"ok": await shutdown(deviceId)}
    if op == "get":
        proxy = await getDevice(deviceId)
        return {key: plain(getattr(proxy, key)) for key in request["keys"]}
    if op == "connect":
        proxies[deviceId] = proxy = await connectDevice(deviceId)
        return {key: plain(getattr(proxy, key)) for key in request["keys"]}
    proxy = proxies[deviceId]
    if op in ("setWait", "assign"):
        if op == "setWait":
            await setWait(proxy, **{request["key"]: request["value"]})
        else:
            setattr(proxy, request["key"], request["value"])
        # the proxy learns the new value from signalChanged, which may arrive after setWait's reply
        await asyncio.wait_for(waitUntil(lambda: plain(getattr(proxy, request["key"])) == request["value"]), 10)
        return {}
    if op == "execute":
        await getattr(proxy, request["slot"])()
        return {}
    if op == "call":
        return {"reply": plain(await asyncio.wait_for(call(deviceId, request["slot"], *request["args"]), 10))}
    if op == "waitFor":
        values = request["values"]
        await asyncio.wait_for(waitUntil(lambda: all(plain(getattr(proxy, k)) == v for k, v in values.items())),
                               request["timeout"])
        return {}
    raise ValueError(f"unknown op {op!r}")


async def main(clientId: str, replies) -> None:
    client = DeviceClientBase({"_deviceId_": clientId})
    await client.startInstance()
    loop = asyncio.get_running_loop()
    proxies = {}
    print(json.dumps({"ready": ["topology", "instantiate", "shutdown", "get", "connect", "setWait", "assign",
                                "execute", "call", "waitFor"]}), file=replies, flush=True)
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or json.loads(line)["op"] == "quit":
            break
        try:
            # a task owned by the client, so that Karabo's functions find their instance
            reply = await loop.create_task(handle(proxies, json.loads(line)), instance=client)
        except Exception as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), file=replies, flush=True)
    await client.slotKillDevice()


if __name__ == "__main__":
    from karabo.middlelayer.eventloop import EventLoop

    # The middlelayer prints its log to stdout: keep stdout for our JSON lines.
    replies, sys.stdout = sys.stdout, sys.stderr
    loop = EventLoop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(main(sys.argv[1], replies))
