"""Messaging: slot-call round trip (p50/p99) and the rate of property updates observed remotely.

At the signal/slot level, between two processes: one instance calls ``slotEcho`` of the other and
waits for the reply (round trip); then it emits ``signalChanged(Hash, deviceId)`` M times as fast as
it can while the other counts them in a connected slot (observed updates/s, from the first emission
to the last arrival). Contenders: pykarabo's threaded and asyncio transports on the embedded broker
and on RabbitMQ, and real Karabo 3 middlelayer instances (two processes, ``tests/messaging/mdl_peer.py``)
on the same RabbitMQ, all in one run. Round trips are measured in alternating batches (round robin),
so a change of machine load hits all contenders alike. Targets (issue 6): on RabbitMQ our round trip
<= 0.5x Karabo's and our update rate >= 2x Karabo's; embedded >= 20,000 observed updates/s.

    python benchmarks/bench_messaging.py [--quick] [--json] [--rabbitmq auto|none|URL] [--karabo-python PATH|none]

``--rabbitmq auto`` starts a private RabbitMQ node (Debian's rabbitmq-server) for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRANSPORTS = ("threads", "asyncio")
sys.path.insert(0, str(REPO))

from pykarabo import Hash  # noqa: E402
from pykarabo.net.broker.aio import AsyncSignalSlotable  # noqa: E402
from pykarabo.net.broker.embedded import privateEmbeddedUrl  # noqa: E402
from pykarabo.net.broker.threads import ThreadedSignalSlotable  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parser  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def result(times: list[float], counted: dict, start: float, updates: int) -> dict:
    """Round-trip percentiles and observed update rate (first emission to last arrival, wall clock)."""
    rate = counted["counted"] / (counted["last"] - start) if counted["counted"] else 0.0
    return {"p50": percentile(times, 0.5), "p99": percentile(times, 0.99), "rate": rate,
            "received": counted["counted"], "sent": updates}


class Counter:
    """Counts signalChanged arrivals in the peer process."""

    def __init__(self):
        self.n, self.last = 0, 0.0

    def onChanged(self, changes, deviceId):
        self.n += 1
        self.last = time.time()


def runPeer(url: str, topic: str, transport: str) -> None:
    """Peer mode (``--peer URL TOPIC TRANSPORT``): the remote side of :func:`measureOurs`, in JSON lines."""
    counter = Counter()
    print_ = functools.partial(print, flush=True)
    if transport == "threads":
        me = ThreadedSignalSlotable("bench/peer", broker=url, topic=topic)
        me.registerSlot(lambda x: x, "slotEcho")
        me.registerSlot(counter.onChanged, "onChanged")
        me.start(timeout=30, pingTimeout=0.3)
        print_(json.dumps({"ready": ["watch", "counted"]}))
        for line in sys.stdin:
            request = json.loads(line)
            if request["op"] == "watch":
                me.connect(request["emitter"], "signalChanged", "onChanged")
                me.syncBroker(10)
            else:
                deadline = time.monotonic() + request["timeout"]
                while counter.n < request["n"] and time.monotonic() < deadline:
                    time.sleep(0.01)
            print_(json.dumps({"counted": counter.n, "last": counter.last}))
        me.stop()
        return

    async def main():
        me = AsyncSignalSlotable("bench/peer", broker=url, topic=topic)
        me.registerSlot(lambda x: x, "slotEcho")
        me.registerSlot(counter.onChanged, "onChanged")
        await me.start(timeout=30, pingTimeout=0.3)
        print_(json.dumps({"ready": ["watch", "counted"]}))
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            request = json.loads(line)
            if request["op"] == "watch":
                me.connect(request["emitter"], "signalChanged", "onChanged")
                await me.syncBroker(10)
            else:
                deadline = time.monotonic() + request["timeout"]
                while counter.n < request["n"] and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
            print_(json.dumps({"counted": counter.n, "last": counter.last}))
        await me.stop()
    asyncio.run(main())


class OurPair:
    """One of our instances here (threads, or asyncio in a loop thread) and its peer in another process."""

    def __init__(self, url: str, topic: str, transport: str):
        from tests.karabo_env import PeerProcess
        self.peer = PeerProcess(sys.executable, Path(__file__), "--peer", url, topic, transport)
        self.transport = transport
        if transport == "threads":
            self.me = ThreadedSignalSlotable("bench/main", broker=url, topic=topic)
            self.me.start(timeout=30, pingTimeout=0.3)
        else:
            self.loop = asyncio.new_event_loop()
            self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
            self.thread.start()
            self.me = AsyncSignalSlotable("bench/main", broker=url, topic=topic)
            self._run(self.me.start(timeout=30, pingTimeout=0.3))
        self.me.registerSignal("signalChanged", Hash, str)

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def roundtrips(self, n: int) -> list[float]:
        """Seconds of ``n`` sequential slot calls."""
        if self.transport == "threads":
            times = []
            for i in range(n):
                t0 = time.perf_counter()
                self.me.request("bench/peer", "slotEcho", i).waitForReply(10_000)
                times.append(time.perf_counter() - t0)
            return times

        async def batch():
            times = []
            for i in range(n):
                t0 = time.perf_counter()
                await self.me.request("bench/peer", "slotEcho", i, timeout=10)
                times.append(time.perf_counter() - t0)
            return times
        return self._run(batch())

    def updates(self, n: int) -> tuple[float, dict]:
        """Emit ``n`` updates; the start time and what the peer counted."""
        self.peer.ask(op="watch", emitter="bench/main")
        change = Hash("value", 0)
        if self.transport == "threads":
            start = time.time()
            for i in range(n):
                change["value"] = i
                self.me.emit("signalChanged", change, "bench/main")
        else:
            async def burst():
                t0 = time.time()
                for i in range(n):
                    change["value"] = i
                    self.me.emit("signalChanged", change, "bench/main")
                    if i % 100 == 99:
                        await asyncio.sleep(0)   # let the loop send, as a device's loop would
                return t0
            start = self._run(burst())
        return start, self.peer.ask(op="counted", n=n, timeout=30 + n / 500)

    def close(self) -> None:
        if self.transport == "threads":
            self.me.stop()
        else:
            self._run(self.me.stop())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(2)
        self.peer.close()


class MdlPair:
    """Two real Karabo middlelayer instances in their own processes."""

    def __init__(self, python: str, url: str):
        from tests.karabo_env import PeerProcess
        env = dict(os.environ, KARABO_BROKER=url, KARABO_BROKER_TOPIC="bench_mdl")
        script = REPO / "tests" / "messaging" / "mdl_peer.py"
        self.a = PeerProcess(python, script, "bench/mdlA", env=env)
        self.b = PeerProcess(python, script, "bench/mdlB", env=env)

    def roundtrips(self, n: int) -> list[float]:
        return self.a.ask(op="roundtrips", target="bench/mdlB", slot="slotAdd", args=[1, 1], n=n)["times"]

    def updates(self, n: int) -> tuple[float, dict]:
        self.a.ask(op="watch", emitter="bench/mdlB", signal="signalChanged")
        time.sleep(0.3)
        start = self.b.ask(op="burst", n=n)["start"]
        return start, self.a.ask(op="counted", n=n, timeout=30 + n / 500)

    def close(self) -> None:
        self.a.close()
        self.b.close()


def compare(pairs: dict, calls: int, updates: int, rounds: int) -> dict:
    """Round trips in alternating batches, then each contender's update burst; results by name."""
    times = {name: [] for name in pairs}
    for pair in pairs.values():
        pair.roundtrips(min(20, calls))   # warm-up
    for _ in range(rounds):
        for name, pair in pairs.items():
            times[name] += pair.roundtrips(max(1, calls // rounds))
    results = {}
    for name, pair in pairs.items():
        start, counted = pair.updates(updates)
        results[name] = result(times[name], counted, start, updates)
    return results


def report(name: str, r: dict) -> None:
    print(f"{name:<30} round trip p50 {r['p50'] * 1e3:7.3f} ms  p99 {r['p99'] * 1e3:7.3f} ms   "
          f"observed updates {r['rate']:10,.0f}/s  ({r['received']}/{r['sent']} received)")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--rabbitmq", default="auto", help="auto (start a private node), none, or an amqp:// URL")
    p.add_argument("--karabo-python", default=os.environ.get("PYKARABO_KARABO_PYTHON", "/work/kvenv312/bin/python"),
                   help="interpreter with karabo.middlelayer, or none")
    p.add_argument("--peer", nargs=3, metavar=("URL", "TOPIC", "TRANSPORT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.peer:
        return runPeer(*args.peer)
    calls, updates = (50, 500) if args.quick else (1000, 20_000)
    rounds = 5 if args.quick else 10
    results = {}
    embedded = privateEmbeddedUrl()
    pairs = {f"embedded {t}": OurPair(embedded, f"bench_{t}", t) for t in TRANSPORTS}
    try:
        results.update(compare(pairs, calls, updates, rounds))
    finally:
        for pair in pairs.values():
            pair.close()
    for transport in TRANSPORTS:
        r = results[f"embedded {transport}"]
        report(f"pykarabo embedded {transport}", r)
        print(f"check embedded {transport} observed updates/s >= 20,000: {r['rate']:,.0f} {verdict(r['rate'] >= 20_000)}")

    server = None
    url = None if args.rabbitmq == "none" else args.rabbitmq
    if url == "auto":
        from tests.messaging.rabbitmq import RabbitServer, findRabbitServer
        program = findRabbitServer()
        if program is None:
            print("rabbitmq-server not installed: RabbitMQ cases skipped")
            url = None
        else:
            server = RabbitServer(program)
            server.start()
            url = server.url
    try:
        if url is not None:
            pairs = {f"rabbitmq {t}": OurPair(url, f"bench_{t}", t) for t in TRANSPORTS}
            python = None if args.karabo_python == "none" else args.karabo_python
            if python and os.popen(f"{python} -c 'import karabo.middlelayer' 2>&1").read().strip() == "":
                pairs["mdl"] = MdlPair(python, url)
            else:
                print("karabo.middlelayer not available: Karabo reference skipped")
            try:
                results.update(compare(pairs, calls, updates, rounds))
            finally:
                for pair in pairs.values():
                    pair.close()
            for transport in TRANSPORTS:
                report(f"pykarabo rabbitmq {transport}", results[f"rabbitmq {transport}"])
            if "mdl" in results:
                theirs = results["mdl"]
                report("karabo middlelayer rabbitmq", theirs)
                for transport in TRANSPORTS:
                    ours = results[f"rabbitmq {transport}"]
                    rt = ours["p50"] / theirs["p50"]
                    rate = ours["rate"] / theirs["rate"] if theirs["rate"] else float("inf")
                    print(f"ratio round trip p50 pykarabo-{transport}/karabo = {rt:.2f} "
                          f"(target <= 0.5: {verdict(rt <= 0.5)}); p99 {ours['p99'] / theirs['p99']:.2f}")
                    print(f"ratio observed updates pykarabo-{transport}/karabo = {rate:.2f} "
                          f"(target >= 2: {verdict(rate >= 2)})")
    finally:
        if server is not None:
            server.close()
    if args.json:
        print(json.dumps(results, indent=1))

if __name__ == "__main__":
    main()
