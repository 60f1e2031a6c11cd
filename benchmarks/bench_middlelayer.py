"""Middlelayer: slot round trip, property updates observed by a proxy, pipeline items/s between two devices.

Two devices (a source with an ``echo`` slot, an ``Int32`` property and an output channel of 1 KiB NDArray
items; a sink with a raw input channel, ``onSlowness="wait"``) and a client in one event loop: the client
calls ``echo`` (round trip, median), the source assigns its property N times while the client's proxy
watches (updates/s until the proxy shows the last value), and the source writes N items to the sink
(items/s until the last arrives). Measured for pykarabo on the embedded broker and on RabbitMQ and, on
the same RabbitMQ, for real Karabo's middlelayer with the same devices (``_karabo_companion.py
--middlelayer``, run by Karabo's interpreter); contenders alternate round by round, figures are medians
over the rounds. Target (issue 7): pykarabo at least 2x Karabo on each figure, on both brokers. For the
embedded broker, the layer beneath the API is measured too (bare asyncio transports, standalone pipeline
channels): ``ratio ... middlelayer/transport|reference`` lines show what the API costs.

    python benchmarks/bench_middlelayer.py [--quick] [--json] [--rabbitmq auto|none|URL] [--karabo-python PATH|none]

``--rabbitmq auto`` starts a private RabbitMQ node (Debian's rabbitmq-server) for the run.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
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
    def __init__(self, configuration):
        super().__init__(configuration)
        self.received, self.target = 0, None
        self.done = asyncio.get_running_loop().create_future()

    @InputChannel(raw=True)
    async def input(self, data, meta):
        self.received += 1
        if self.received == self.target and not self.done.done():
            self.done.set_result(time.perf_counter())


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
    sink.target = items
    t0 = time.perf_counter()
    await source.send(items)
    itemRate = items / (await asyncio.wait_for(sink.done, 60) - t0)
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


def karaboFigures(python: str, url: str, topic: str, calls: int, updates: int, items: int) -> dict:
    """The same figures for real Karabo's middlelayer (``_karabo_companion.py`` under Karabo's interpreter)."""
    script = Path(__file__).resolve().parent / "_karabo_companion.py"
    proc = subprocess.run([python, str(script), "--middlelayer", url, "--topic", topic, "--calls", str(calls),
                           "--updates", str(updates), "--items", str(items)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode:
        raise RuntimeError(f"Karabo's middlelayer run failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def karaboPython(choice: str) -> str | None:
    """The interpreter with karabo.middlelayer, or None (with the reason printed)."""
    if choice == "none":
        return None
    probe = subprocess.run([choice, "-c", "import karabo.middlelayer"], capture_output=True)
    if probe.returncode:
        print(f"karabo.middlelayer not importable by {choice}: Karabo reference skipped")
        return None
    return choice


def startRabbit(choice: str):
    """(url, server to close or None) for --rabbitmq auto|none|URL; url None when there is no RabbitMQ."""
    if choice == "none":
        return None, None
    if choice != "auto":
        return choice, None
    from tests.messaging.rabbitmq import RabbitServer, findRabbitServer
    program = findRabbitServer()
    if program is None:
        print("rabbitmq-server not installed: RabbitMQ cases skipped")
        return None, None
    server = RabbitServer(program)
    server.start()
    return server.url, server


FIGURES = (("slot round trip", "rtt"), ("observed updates/s", "updates"), ("pipeline items/s", "items"))


def describe(name: str, row: dict) -> str:
    return (f"{name:<28} slot round trip {row['rtt'] * 1e6:8.0f} µs   observed updates {row['updates']:9,.0f}/s   "
            f"pipeline {row['items']:9,.0f} items/s")


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--rabbitmq", default="auto", help="auto (start a private node), none, or an amqp:// URL")
    p.add_argument("--karabo-python", default=os.environ.get("PYKARABO_KARABO_PYTHON", "/work/kvenv312/bin/python"),
                   help="interpreter with karabo.middlelayer, or none")
    args = p.parse_args()
    calls, updates, items, rounds = (50, 200, 200, 1) if args.quick else (1000, 5000, 5000, 3)
    embedded = privateEmbeddedUrl()
    rabbit, server = startRabbit(args.rabbitmq)
    python = karaboPython(args.karabo_python) if rabbit else None
    rows: dict[str, list[dict]] = {"embedded": [], "raw": [], "pipe": []}
    try:
        for r in range(rounds):   # alternate the contenders so load changes hit all alike
            rows["raw"].append(asyncio.run(rawFigures(embedded, f"benchraw{r}", updates)))
            rows["embedded"].append(asyncio.run(mdlFigures(embedded, f"benchmdl{r}", calls, updates, items)))
            rows["pipe"].append(asyncio.run(rawPipeline(items)))
            if rabbit:
                rows.setdefault("rabbitmq", []).append(
                    asyncio.run(mdlFigures(rabbit, f"benchmdl{r}", calls, updates, items)))
            if python:
                rows.setdefault("karabo", []).append(
                    karaboFigures(python, rabbit, f"benchkarabo{r}", calls, updates, items))
    finally:
        if server is not None:
            server.close()

    def med(name: str, key: str) -> float:
        return statistics.median(row[key] for row in rows[name])
    results = {name: {key: med(name, key) for key in rowKeys}
               for name, rowKeys in (("embedded", ("rtt", "rawRtt", "updates", "items")),
                                     ("rabbitmq", ("rtt", "rawRtt", "updates", "items")),
                                     ("karabo", ("rtt", "updates", "items"))) if name in rows}
    results["transport"] = {"updates": med("raw", "updates")}
    results["pipeline channels"] = {"items": statistics.median(rows["pipe"])}
    checks = {}
    if "karabo" in results:
        theirs = results["karabo"]
        for broker in ("embedded", "rabbitmq"):
            ours = results[broker]
            for title, key in FIGURES:
                # Time: Karabo's over ours; rates: ours over Karabo's. Either way > 1 means pykarabo is faster.
                ratio = theirs[key] / ours[key] if key == "rtt" else ours[key] / theirs[key]
                checks[f"{title} {broker}"] = {"ratio": ratio, "pass": ratio >= 2}
    results["checks"] = checks
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print(f"median of {rounds} round(s); {calls} calls, {updates} updates, {items} items of 1 KiB per round")
    for name, label in (("embedded", "pykarabo embedded"), ("rabbitmq", "pykarabo rabbitmq"),
                        ("karabo", "karabo middlelayer rabbitmq")):
        if name in results:
            print(describe(label, results[name]))
    for name, check in checks.items():
        print(f"ratio {name} pykarabo vs karabo = {check['ratio']:.2f} "
              f"(target >= 2: {'PASS' if check['pass'] else 'FAIL'})")
    if "karabo" not in results:
        print("no Karabo reference measured (needs RabbitMQ and karabo.middlelayer): no target checks")
    ours = results["embedded"]
    print(f"ratio slot round trip: middlelayer/transport = {ours['rtt'] / ours['rawRtt']:.2f} "
          f"(embedded; {ours['rtt'] * 1e6:.0f} vs {ours['rawRtt'] * 1e6:.0f} µs)")
    print(f"ratio observed updates/s: middlelayer/reference = {ours['updates'] / results['transport']['updates']:.2f}")
    print(f"ratio pipeline items/s: middlelayer/reference = "
          f"{ours['items'] / results['pipeline channels']['items']:.2f}")


if __name__ == "__main__":
    main()
