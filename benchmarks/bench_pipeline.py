"""Pipeline throughput: pykarabo output -> input (threads, asyncio) vs raw TCP vs real Karabo C++.

Each case moves K items of one size over 127.0.0.1 and reports, per contender, the median
per-item time of several rounds, the throughput, and same-run throughput ratios (higher is
better for us) against raw TCP and against real Karabo C++.  Rounds of the contenders are
interleaved, so a change of machine load affects all of them alike.

Like for like: every contender runs copy distribution with the ``wait`` policy (nothing is
dropped) and, per item, builds a fresh Hash (an NDArray ``image`` and ``trainId``), writes it
with its timestamp/train ID and calls ``update()`` - so every data message carries exactly one
item, on both sides, and every message waits for the input's readiness (``update`` round trip)
as the protocol requires.  Neither side groups items.  The consumer only counts items (C++ and
our threads: a data handler; our asyncio: iterating the input in a task of the same loop).
Karabo C++ is karabind's ``OutputChannel`` -> ``InputChannel`` in one process (remote mode, its
event loop in a thread), kept running between rounds.  Our inputs get the output's plain
connection info (memoryLocation "remote"), so our items travel over TCP too, not through the
in-process shortcut.  Raw TCP sends the same number of bytes per item with a 4-byte length and a
one-byte credit back (no protocol, no serialization): the physical limit here.

Targets of issue #4: large items >= 0.7x raw TCP and >= 1.5x Karabo C++; ~1 KB items >= 2x
Karabo C++ items/s (the ``check`` lines).

    python benchmarks/bench_pipeline.py [--quick] [--karabo-python PATH|none] [--sizes 1KB,16MiB]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

import numpy as np

from pykarabo import Hash
from pykarabo.pipeline import InputChannel, OutputChannel, aio

SIZES = {"46MB": (352, 512, 128), "16MiB": (16 << 20,), "1KB": (1000,)}
DTYPES = {"46MB": np.uint16, "16MiB": np.uint8, "1KB": np.uint8}
TARGETS = {"46MB": {"raw TCP": 0.7, "karabo C++": 1.5}, "16MiB": {"raw TCP": 0.7, "karabo C++": 1.5},
           "1KB": {"karabo C++": 2.0}}

_CPP = r'''
import json, os, sys, threading, time
import numpy as np
import karabind as k
threading.Thread(target=k.EventLoop.work, daemon=True).start()
shape, dtype = json.loads(sys.argv[1])
cfg = k.Hash(); cfg.set("port", 0); cfg.set("hostname", "127.0.0.1")
out = k.OutputChannel.create("bprod", "output", cfg)
icfg = k.Hash(); icfg.set("connectedOutputChannels", ["bprod:output"]); icfg.set("onSlowness", "wait")
inp = k.InputChannel.create("bcons", "input", icfg)
count = [0]; done = threading.Event()
inp.registerDataHandler(lambda d, m: count.__setitem__(0, count[0] + 1))
inp.registerEndOfStreamEventHandler(lambda i: done.set())
info = out.getInformation(); info.set("outputChannelString", "bprod:output"); info.set("memoryLocation", "remote")
inp.connectSync(info); time.sleep(0.3)
image = np.zeros(shape, dtype=dtype)
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    n = json.loads(line)
    done.clear(); count[0] = 0
    t0 = time.perf_counter()
    for i in range(n):
        h = k.Hash(); h.set("image", image); h.set("trainId", i)
        out.write(h, k.ChannelMetaData("bprod:output", k.Timestamp(k.Epochstamp(), k.TimeId(i))))
        out.update()
    out.signalEndOfStream()
    done.wait(120)
    print(json.dumps({"time": (time.perf_counter() - t0) / n, "count": count[0]}), flush=True)
os._exit(0)
'''


def item(image: np.ndarray, tid: int) -> Hash:
    h = Hash()
    h["image"] = image
    h["trainId"] = tid
    return h


class ThreadsCase:
    """Our threaded output -> threaded input, consumed by a data handler (as on the C++ side)."""

    def __init__(self, name: str):
        self.image = np.zeros(SIZES[name], DTYPES[name])
        self.count = 0
        self.done = threading.Event()
        self.out = OutputChannel()
        self.inp = InputChannel([self.out.connectionInfo], onSlowness="wait", onData=self._counted,
                                onEndOfStream=lambda _: self.done.set())
        self.out.waitForInputs(1, timeout=10)

    def _counted(self, data: Hash, meta: object) -> None:
        self.count += 1

    def round(self, n: int) -> float:
        self.count = 0
        self.done.clear()
        t0 = time.perf_counter()
        for i in range(n):
            self.out.write(item(self.image, i), timestamp=(0, 0, i), copyAllData=False)
            self.out.update(timeout=60)
        self.out.signalEndOfStream(timeout=60)
        self.done.wait(60)
        dt = (time.perf_counter() - t0) / n
        assert self.count == n, (self.count, n)
        return dt

    def close(self) -> None:
        self.inp.close()
        self.out.close()


class AsyncioCase:
    """Our asyncio output -> asyncio input on one event loop, consumed by an ``async for`` task."""

    def __init__(self, name: str):
        self.image = np.zeros(SIZES[name], DTYPES[name])
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self._start())

    async def _start(self) -> None:
        self.out = await aio.OutputChannel().start()
        self.inp = await aio.InputChannel([self.out.connectionInfo], onSlowness="wait").start()
        await self.out.waitForInputs(1, timeout=10)

    async def _round(self, n: int) -> float:
        async def consume():
            k = 0
            async for _ in self.inp:
                k += 1
            return k
        task = asyncio.create_task(consume())
        t0 = time.perf_counter()
        for i in range(n):
            self.out.write(item(self.image, i), timestamp=(0, 0, i), copyAllData=False)
            await self.out.update(timeout=60)
        await self.out.signalEndOfStream(timeout=60)
        count = await task
        dt = (time.perf_counter() - t0) / n
        assert count == n, (count, n)
        return dt

    def round(self, n: int) -> float:
        return self.loop.run_until_complete(self._round(n))

    def close(self) -> None:
        async def stop():
            await self.inp.close()
            await self.out.close()
        self.loop.run_until_complete(stop())
        self.loop.close()


class RawCase:
    """The same bytes per item, length-prefixed, into one reused buffer, one credit byte back."""

    def __init__(self, name: str):
        self.payload = np.zeros(SIZES[name], DTYPES[name]).view(np.uint8).reshape(-1)
        self.buf = memoryview(bytearray(self.payload.nbytes))

    def round(self, n: int) -> float:
        size = self.payload.nbytes
        server = socket.create_server(("127.0.0.1", 0))

        def send():
            conn, _ = server.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            prefix = size.to_bytes(4, "little")
            with conn:
                for _ in range(n):
                    sent = conn.sendmsg([prefix, self.payload])
                    if sent < size + 4:
                        conn.sendall(memoryview(self.payload)[sent - 4:])
                    conn.recv(1)            # the receiver's credit, like an update
        th = threading.Thread(target=send)
        th.start()
        with socket.create_connection(server.getsockname()) as c:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t0 = time.perf_counter()
            for _ in range(n):
                want = int.from_bytes(c.recv(4, socket.MSG_WAITALL), "little")
                got = 0
                while got < want:
                    got += c.recv_into(self.buf[got:want])
                c.sendall(b"u")
            dt = (time.perf_counter() - t0) / n
        th.join()
        server.close()
        return dt

    def close(self) -> None:
        pass


class CppCase:
    """Real Karabo C++ output -> input (karabind), in a companion process kept between rounds."""

    def __init__(self, python: str, name: str):
        arg = json.dumps([list(SIZES[name]), np.dtype(DTYPES[name]).name])
        self.proc = subprocess.Popen([python, "-c", _CPP, arg], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        if not json.loads(self._line()).get("ready"):
            raise RuntimeError("the Karabo C++ companion did not start")

    def _line(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the Karabo C++ companion ended")
        return line

    def round(self, n: int) -> float:
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        res = json.loads(self._line())
        if res["count"] != n:
            raise RuntimeError(f"Karabo C++ delivered {res['count']} of {n} items")
        return res["time"]

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def run_size(name: str, n: int, repeats: int, cpp: str | None) -> dict:
    """Interleaved rounds of every contender; per-item times in seconds."""
    cases = {"threads": ThreadsCase(name), "asyncio": AsyncioCase(name), "raw TCP": RawCase(name)}
    if cpp:
        try:
            cases["karabo C++"] = CppCase(cpp, name)
        except (OSError, RuntimeError, ValueError) as e:
            print(f"karabo C++ companion unavailable: {e}")
    times = {k: [] for k in cases}
    try:
        for _ in range(repeats):
            for k, case in list(cases.items()):
                try:
                    times[k].append(case.round(n))
                except (OSError, RuntimeError, ValueError) as e:
                    print(f"{k} failed: {e}")
                    case.close()
                    del cases[k], times[k]
    finally:
        for case in cases.values():
            case.close()
    return times


def main(argv: list[str] | None = None) -> int:
    """Run every case and print medians, throughputs, ratios and the issue's targets."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny runs, numbers meaningless (smoke test)")
    ap.add_argument("--karabo-python", default=os.environ.get("PYKARABO_KARABO_PYTHON", "/work/kvenv312/bin/python"))
    ap.add_argument("--sizes", default=",".join(SIZES), help=f"comma-separated subset of {','.join(SIZES)}")
    ap.add_argument("--repeats", type=int, default=None, help="rounds per contender (default 7, quick 2)")
    args = ap.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 7)
    counts = {"46MB": 3 if args.quick else 20, "16MiB": 3 if args.quick else 40, "1KB": 50 if args.quick else 3000}
    cpp = args.karabo_python if args.karabo_python != "none" and os.path.exists(args.karabo_python) else None
    for name in args.sizes.split(","):
        n = counts[name]
        nbytes = np.zeros(SIZES[name], DTYPES[name]).nbytes
        med = {k: statistics.median(v) for k, v in run_size(name, n, repeats, cpp).items() if v}
        print(f"== {name} items ({nbytes} bytes), {n} items x {repeats} interleaved rounds, one item per update()")
        for k, m in med.items():
            print(f"  {k:<11} median {m * 1e6:10.1f} us/item  {nbytes / m / 1e9:7.3f} GB/s  {1 / m:10.0f} items/s")
        for ours in ("threads", "asyncio"):
            for ref in ("raw TCP", "karabo C++"):
                if ours in med and ref in med:
                    ratio = med[ref] / med[ours]
                    print(f"ratio {name} {ours}/{ref} = {ratio:.2f} (throughput)")
                    target = TARGETS[name].get(ref)
                    if target is not None:
                        print(f"check {name} {ours} >= {target}x {ref}: {'pass' if ratio >= target else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
