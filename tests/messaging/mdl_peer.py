"""A real Karabo 3 middlelayer instance on RabbitMQ, for the AMQP interop tests and the messaging benchmark.

Run by Karabo's interpreter (karabo.middlelayer, Python 3.12) as ``python mdl_peer.py DEVICE_ID`` with
``KARABO_BROKER`` and ``KARABO_BROKER_TOPIC`` set; spoken to in JSON lines (see tests/karabo_env.PeerProcess).
Requests (``op``): ``topology``; ``call`` (target, slot, args); ``roundtrips`` (target, slot, args, n:
seconds of n sequential calls); ``watch`` (emitter, signal: count its emissions); ``counted`` (n, timeout:
wait for n, tell the wall time of the last); ``burst`` (n: emit signalChanged n times); ``quit``.
"""

import asyncio
import json
import sys
import time

from karabo.middlelayer import DeviceClientBase, Hash, slot
from karabo.middlelayer.eventloop import EventLoop

# The middlelayer prints its log to stdout: keep stdout for our JSON lines.
REPLIES, sys.stdout = sys.stdout, sys.stderr


class MdlPeer(DeviceClientBase):
    """A DeviceClientBase (tracks the topology) with a plain slot and a counter for remote signals."""

    def __init__(self, configuration):
        super().__init__(configuration)
        self.counted = 0
        self.lastCounted = 0.0

    @slot
    def slotAdd(self, a, b):
        return a + b

    @slot
    def slotCount(self, *args):
        self.counted += 1
        self.lastCounted = time.time()


def jsonable(value):
    if isinstance(value, Hash):
        return {k: jsonable(value[k]) for k in value}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "value"):      # KaraboValue
        return jsonable(value.value)
    if hasattr(value, "item"):       # numpy scalar
        return value.item()
    return value


async def handle(peer: MdlPeer, request: dict) -> dict:
    op = request["op"]
    if op == "topology":
        topology = peer.systemTopology
        return {"topology": {branch: list(topology[branch]) for branch in topology}}
    if op == "call":
        reply = await asyncio.wait_for(peer.call(request["target"], request["slot"], *request["args"]), 10)
        return {"reply": jsonable(reply)}
    if op == "roundtrips":
        times = []
        for _ in range(request["n"]):
            start = time.perf_counter()
            await asyncio.wait_for(peer.call(request["target"], request["slot"], *request["args"]), 10)
            times.append(time.perf_counter() - start)
        return {"times": times}
    if op == "watch":
        peer.counted = 0
        await peer._sigslot.async_connect(request["emitter"], request["signal"], peer.slotCount)
        return {}
    if op == "counted":
        deadline = time.monotonic() + request["timeout"]
        while peer.counted < request["n"] and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return {"counted": peer.counted, "last": peer.lastCounted}
    if op == "burst":
        start = time.time()
        for i in range(request["n"]):
            peer.signalChanged(Hash("value", i), peer.deviceId)
            if i % 100 == 99:
                await asyncio.sleep(0)   # let the publishing tasks run, as a device's event loop would
        return {"start": start}
    raise ValueError(f"unknown op {op!r}")


async def main(deviceId: str) -> None:
    peer = MdlPeer({"_deviceId_": deviceId})
    await peer.startInstance()
    loop = asyncio.get_running_loop()
    print(json.dumps({"ready": ["topology", "call", "roundtrips", "watch", "counted", "burst"]}), file=REPLIES,
          flush=True)
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or json.loads(line)["op"] == "quit":
            break
        try:
            reply = await handle(peer, json.loads(line))
        except Exception as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), file=REPLIES, flush=True)
    await peer.slotKillDevice()


if __name__ == "__main__":
    loop = EventLoop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(main(sys.argv[1]))
