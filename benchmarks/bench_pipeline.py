"""Pipeline throughput: pykarabo output -> input (threads, asyncio) vs raw TCP vs real Karabo C++.

Each case moves K items of one size over 127.0.0.1 (copy distribution, ``wait`` policy, so
nothing is dropped) and reports the median per-item time over several runs, the throughput and
the ratio to raw TCP (the same bytes sent with ``sendall`` and received into one reused buffer,
no protocol at all) and to Karabo C++ (karabind output -> input in one process, remote mode).

    python benchmarks/bench_pipeline.py [--quick] [--karabo-python PATH|none]
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

_CPP = r'''
import json, os, sys, threading, time
import numpy as np
import karabind as k
threading.Thread(target=k.EventLoop.work, daemon=True).start()
shape, dtype, n, repeats = json.loads(sys.argv[1])
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
times = []
for r in range(repeats):
    done.clear(); count[0] = 0
    t0 = time.perf_counter()
    for i in range(n):
        h = k.Hash(); h.set("image", image); h.set("trainId", i)
        out.write(h, k.ChannelMetaData("bprod:output", k.Timestamp(k.Epochstamp(), k.TimeId(i))))
        out.update()
    out.signalEndOfStream()
    done.wait(60)
    times.append((time.perf_counter() - t0) / n)
print(json.dumps({"times": times, "count": count[0]}), flush=True)
os._exit(0)
'''


def item(name: str) -> Hash:
    h = Hash()
    h["image"] = np.zeros(SIZES[name], DTYPES[name])
    h["trainId"] = 1
    return h


def run_threads(name: str, n: int, repeats: int) -> list[float]:
    data = item(name)
    times = []
    with OutputChannel() as out:
        inp = InputChannel([out.connectionInfo], onSlowness="wait")
        out.waitForInputs(1, timeout=10)
        for _ in range(repeats):
            counted = []

            def consume():
                for _ in inp:
                    counted.append(1)
            th = threading.Thread(target=consume)
            th.start()
            t0 = time.perf_counter()
            for i in range(n):
                out.write(data, timestamp=(0, 0, i), copyAllData=False)
                out.update(timeout=60)
            out.signalEndOfStream(timeout=60)
            th.join(60)
            times.append((time.perf_counter() - t0) / n)
            assert len(counted) == n
        inp.close()
    return times


def run_asyncio(name: str, n: int, repeats: int) -> list[float]:
    data = item(name)

    async def main():
        times = []
        async with aio.OutputChannel() as out:
            inp = await aio.InputChannel([out.connectionInfo], onSlowness="wait").start()
            await out.waitForInputs(1, timeout=10)
            for _ in range(repeats):
                async def consume():
                    k = 0
                    async for _ in inp:
                        k += 1
                    return k
                task = asyncio.create_task(consume())
                t0 = time.perf_counter()
                for i in range(n):
                    out.write(data, timestamp=(0, 0, i), copyAllData=False)
                    await out.update(timeout=60)
                await out.signalEndOfStream(timeout=60)
                assert await task == n
                times.append((time.perf_counter() - t0) / n)
            await inp.close()
        return times
    return asyncio.run(main())


def run_raw(name: str, n: int, repeats: int) -> list[float]:
    """The same number of bytes per item, framed by a 4-byte length, into one reused buffer."""
    payload = np.zeros(SIZES[name], DTYPES[name]).view(np.uint8).reshape(-1)
    size = payload.nbytes
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    times = []
    buf = bytearray(size)
    view = memoryview(buf)

    def send():
        conn, _ = server.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        prefix = size.to_bytes(4, "little")
        with conn:
            for _ in range(repeats * n):
                sent = conn.sendmsg([prefix, payload])
                if sent < size + 4:
                    conn.sendall(memoryview(payload)[sent - 4:])
                conn.recv(1)            # the receiver's credit, like an update
    th = threading.Thread(target=send)
    th.start()
    with socket.create_connection(("127.0.0.1", port)) as c:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(n):
                hdr = c.recv(4, socket.MSG_WAITALL)
                want = int.from_bytes(hdr, "little")
                got = 0
                while got < want:
                    got += c.recv_into(view[got:want])
                c.sendall(b"u")
            times.append((time.perf_counter() - t0) / n)
    th.join()
    server.close()
    return times


def run_cpp(python: str, name: str, n: int, repeats: int) -> list[float] | None:
    arg = json.dumps([list(SIZES[name]), np.dtype(DTYPES[name]).name, n, repeats])
    try:
        p = subprocess.run([python, "-c", _CPP, arg], capture_output=True, text=True, timeout=300)
        return json.loads(p.stdout.strip().splitlines()[-1])["times"]
    except (subprocess.SubprocessError, ValueError, IndexError, OSError):
        return None


def main(argv: list[str] | None = None) -> int:
    """Run every case and print medians, throughputs and ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny runs, numbers meaningless (smoke test)")
    ap.add_argument("--karabo-python", default=os.environ.get("PYKARABO_KARABO_PYTHON", "/work/kvenv312/bin/python"))
    args = ap.parse_args(argv)
    repeats = 2 if args.quick else 5
    counts = {"46MB": 3 if args.quick else 20, "16MiB": 3 if args.quick else 40, "1KB": 50 if args.quick else 3000}
    cpp = args.karabo_python if args.karabo_python != "none" and os.path.exists(args.karabo_python) else None
    for name in SIZES:
        n = counts[name]
        nbytes = item(name)["image"].nbytes
        res = {"threads": run_threads(name, n, repeats), "asyncio": run_asyncio(name, n, repeats),
               "raw TCP": run_raw(name, n, repeats)}
        if cpp:
            t = run_cpp(cpp, name, n, repeats)
            if t:
                res["karabo C++"] = t
        med = {k: statistics.median(v) for k, v in res.items()}
        print(f"== {name} items ({nbytes} bytes), {n} items x {repeats} runs")
        for k, m in med.items():
            print(f"  {k:<11} median {m * 1e6:10.1f} us/item  {nbytes / m / 1e9:7.3f} GB/s  {1 / m:10.0f} items/s")
        for ours in ("threads", "asyncio"):
            print(f"ratio {name} {ours}/raw TCP = {med[ours] / med['raw TCP']:.2f}")
            if "karabo C++" in med:
                print(f"ratio {name} {ours}/karabo C++ = {med[ours] / med['karabo C++']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
