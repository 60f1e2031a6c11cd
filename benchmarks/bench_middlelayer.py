"""Middlelayer: slot round trip, property updates observed by a proxy, pipeline items/s between two devices.

Each figure is measured for the middlelayer API and, in the same run, for the layer beneath it (the
reference): for the round trip the asyncio signal/slot transport between the same two instances
(alternating calls), for the updates two bare transports, for the pipeline the standalone asyncio
channels. ``ratio`` lines divide middlelayer by reference (time ratios: > 1
means the API costs that much more; rate ratios: < 1 means the API is slower). Real Karabo's middlelayer
is not installed here, so no Karabo column is measured. All on the embedded broker.

    python benchmarks/bench_middlelayer.py [--quick]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pykarabo import Hash  # noqa: E402
from pykarabo.middlelayer import (AccessMode, Configurable, Device, InputChannel, Int32, NDArray,  # noqa: E402
                                  OutputChannel, UInt8, call, configureClient, connectDevice, slot, waitUntil)
from pykarabo.middlelayer.proxy import getClient, stopClient  # noqa: E402
from pykarabo.net import pipeline_asyncio  # noqa: E402
from pykarabo.net.broker.aio import AsyncSignalSlotable  # noqa: E402
from pykarabo.net.broker.embedded import privateEmbeddedUrl  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parser  # noqa: E402


class Item(Configurable):
    data = NDArray(dtype=UInt8, shape=(1024,))


class Source(Device):
    value = Int32(accessMode=AccessMode.READONLY, defaultValue=0)
    output = OutputChannel(Item)

    @slot
    def echo(self, x):
        return x

    async def count(self, n: int) -> None:
        for i in range(1, n + 1):
            self.value = i
            await asyncio.sleep(0)   # one signalChanged per assignment (changes of one iteration are bundled)

    async def send(self, n: int) -> None:
        self.output.schema.data = np.zeros(1024, np.uint8)
        for _ in range(n):
            await self.output.writeData()
        await self.output.writeEndOfStream()


class Sink(Device):
    received = Int32(accessMode=AccessMode.READONLY, defaultValue=0)

    @InputChannel(raw=True)
    async def input(self, data, meta):
        self.received = self.received.value + 1


async def rawFigures(url: str, topic: str, updates: int) -> dict:
    """Observed update rate between two bare asyncio transports."""
    a = AsyncSignalSlotable("bench/rawA", broker=url, topic=topic)
    b = AsyncSignalSlotable("bench/rawB", broker=url, topic=topic)
    seen = {"n": 0}
    done = asyncio.get_running_loop().create_future()

    def onChanged(changes, deviceId):
        seen["n"] += 1
        if seen["n"] == updates and not done.done():
            done.set_result(time.perf_counter())
    a.registerSlot(onChanged, "slotChanged")
    b.registerSignal("signalChanged")
    await a.start(pingTimeout=0.2)
    await b.start(pingTimeout=0.2)
    a.connect("bench/rawB", "signalChanged", "slotChanged")
    await a.syncBroker()
    t0 = time.perf_counter()
    for i in range(updates):
        b.emit("signalChanged", Hash("value", i), "bench/rawB")
        await asyncio.sleep(0)
    end = await asyncio.wait_for(done, 30)
    await a.stop()
    await b.stop()
    return {"updates": updates / (end - t0)}


async def mdlFigures(url: str, topic: str, calls: int, updates: int, items: int) -> dict:
    """The same through devices and proxies, plus pipeline items/s between two devices."""
    configureClient(url, topic)
    source = Source({"deviceId": "bench/source"})
    await source.startInstance(broker=url, topic=topic)
    sink = Sink({"deviceId": "bench/sink", "input.connectedOutputChannels": ["bench/source:output"],
                 "input.onSlowness": "wait"})
    await sink.startInstance(broker=url, topic=topic)
    proxy = await connectDevice("bench/source")
    transport = (await getClient())._sigslot
    rtts, rawRtts = [], []
    for i in range(calls):   # alternating: the API and its transport between the same two instances
        t0 = time.perf_counter()
        await call("bench/source", "echo", i)
        t1 = time.perf_counter()
        await transport.request("bench/source", "echo", i, timeout=5)
        rtts.append(t1 - t0)
        rawRtts.append(time.perf_counter() - t1)
    t0 = time.perf_counter()
    await source.count(updates)
    await waitUntil(lambda: proxy.value == updates, timeout=30)
    updateRate = updates / (time.perf_counter() - t0)
    await source.output.waitForInputs(1, timeout=10)
    t0 = time.perf_counter()
    await source.send(items)
    await waitUntil(lambda: sink.received == items, timeout=60)
    itemRate = items / (time.perf_counter() - t0)
    await sink.slotKillDevice()
    await source.slotKillDevice()
    await stopClient()
    return {"rtt": statistics.median(rtts), "rawRtt": statistics.median(rawRtts), "updates": updateRate,
            "items": itemRate}


async def rawPipeline(items: int) -> float:
    """Items/s between standalone asyncio pipeline channels (same item, same policy)."""
    out = await pipeline_asyncio.OutputChannel().start()
    received = {"n": 0}
    done = asyncio.get_running_loop().create_future()

    def onData(data, meta):
        received["n"] += 1
        if received["n"] == items and not done.done():
            done.set_result(None)
    inp = await pipeline_asyncio.InputChannel([out.connectionInfo], onSlowness="wait", onData=onData).start()
    await out.waitForInputs(1, timeout=10)
    item = Hash("data", np.zeros(1024, np.uint8))
    t0 = time.perf_counter()
    for _ in range(items):
        out.write(item)
        await out.update()
    await asyncio.wait_for(done, 60)
    rate = items / (time.perf_counter() - t0)
    await inp.close()
    await out.close()
    return rate


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    calls, updates, items, rounds = (50, 200, 200, 1) if args.quick else (1000, 5000, 5000, 3)
    url = privateEmbeddedUrl()
    raw, mdl, pipe = [], [], []
    for r in range(rounds):   # alternate the contenders so load changes hit both alike
        raw.append(asyncio.run(rawFigures(url, f"benchraw{r}", updates)))
        mdl.append(asyncio.run(mdlFigures(url, f"benchmdl{r}", calls, updates, items)))
        pipe.append(asyncio.run(rawPipeline(items)))

    def med(rows, key):
        return statistics.median(row[key] for row in rows)
    figures = {
        "slot round trip": (med(mdl, "rtt"), med(mdl, "rawRtt")),
        "observed updates/s": (med(mdl, "updates"), med(raw, "updates")),
        "pipeline items/s": (med(mdl, "items"), statistics.median(pipe)),
    }
    print(f"middlelayer vs its transports, embedded broker, median of {rounds} round(s)")
    rtt, rawRtt = figures["slot round trip"]
    print(f"slot round trip: middlelayer {rtt * 1e6:.0f} µs, asyncio transport {rawRtt * 1e6:.0f} µs")
    print(f"ratio slot round trip: middlelayer/transport = {rtt / rawRtt:.2f}")
    for name in ("observed updates/s", "pipeline items/s"):
        ours, ref = figures[name]
        print(f"{name}: middlelayer {ours:,.0f}, reference {ref:,.0f}")
        print(f"ratio {name}: middlelayer/reference = {ours / ref:.2f}")


if __name__ == "__main__":
    main()
