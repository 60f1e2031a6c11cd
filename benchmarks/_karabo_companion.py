#!/usr/bin/env python3
"""Companion of bench_serialize.py and bench_middlelayer.py, run by the interpreter that has real Karabo 3.

For bench_serialize: builds the data sets of _bench_data.py with karabo-cpp's Hash (``karabind``) and
karabo-native's Hash, times encode and decode+read exactly like bench_serialize.py does for pykarabo, and
prints one JSON document: {"karabo-cpp": {case: {"encode": t, "decode": t, "size": n, "sha256": s}},
"karabo-native": {...}, "versions": {...}}.  A library that cannot be imported is reported
under "errors" instead.

For bench_middlelayer (``--middlelayer URL``): the same two devices and client as bench_middlelayer.py's
pykarabo side, written for Karabo's own middlelayer, in one process on RabbitMQ ``URL``; prints
{"rtt": s, "updates": per s, "items": per s} (see :func:`middlelayerFigures`).

    /work/kvenv312/bin/python benchmarks/_karabo_companion.py [--quick] [--cells N]
    /work/kvenv312/bin/python benchmarks/_karabo_companion.py --middlelayer URL --topic T --calls N --updates N --items N
"""

import hashlib
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import _bench_data as data  # noqa: E402
from _common import dump_json, environment, parser, timing_from_args  # noqa: E402


# -- karabo-cpp (karabind) ------------------------------------------------------------------------

def cpp_impl():
    import karabind as kb
    T = kb.Types
    ser = kb.BinarySerializerHash.create("Bin")
    KHash, KVector = kb.Hash, kb.VectorHash

    def build_tiny(spec):
        h = KHash()
        for k, v in spec:
            h[k] = v
        return h

    def build_slow(spec):
        h = KHash()
        u64 = np.uint64          # karabind types a numpy uint64 scalar as UINT64
        for node, leaves in spec:
            for k, v, s, f, t in leaves:
                p = f"{node}.{k}"
                h[p] = v
                h.setAttribute(p, "sec", u64(s))
                h.setAttribute(p, "frac", u64(f))
                h.setAttribute(p, "tid", u64(t))
        return h

    def build_table(rows):
        out = []
        for a, b, c, e, m, t in rows:
            r = KHash("name", a, "value", b, "count", c, "enabled", e, "comment", m)
            r.setAs("trainId", t, T.UINT64)
            out.append(r)
        h = KHash()
        h["table"] = out
        return h

    def build_train(header, arr, cell_id, pulse_id):
        h = KHash()
        h.setAs("header.trainId", header[0][1], T.UINT64)
        h["header.pulseCount"] = header[1][1]
        h["header.source"] = header[2][1]
        h["image.data"] = arr                       # N-d numpy array -> NDArray
        h.setAs("image.cellId", cell_id.tolist(), T.VECTOR_UINT16)
        h.setAs("image.pulseId", pulse_id.tolist(), T.VECTOR_UINT64)
        return h

    def walk(h, out):
        for n in h:
            v = n.getValue()
            for a in n.getAttributes():
                out.append(a.getValue())
            if isinstance(v, KHash):
                if n.hasAttribute("__classId"):      # NDArray: h[key] gives the numpy array
                    out.append(h[n.getKey()])
                else:
                    walk(v, out)
            elif isinstance(v, KVector):
                for x in v:
                    walk(x, out)
            else:
                out.append(v)

    def decode_read(b):
        h = ser.load(b)
        walk(h, [])
        return h

    import karabind
    version = getattr(karabind, "__version__", None)
    try:
        from importlib.metadata import version as v
        version = v("karabo-cpp")
    except Exception:
        pass
    return {"build": {"tiny": build_tiny, "slow-control": build_slow, "table": build_table,
                      "train": build_train},
            "encode": ser.save, "decode": decode_read, "version": version}


# -- karabo-native ------------------------------------------------------------------------------

def native_impl():
    from karabo.native import Hash as NHash, decodeBinary, encodeBinary

    def build_tiny(spec):
        h = NHash()
        for k, v in spec:
            h[k] = v
        return h

    def build_slow(spec):
        h = NHash()
        u64 = np.uint64          # native types Python int as INT32; numpy uint64 is UINT64
        for node, leaves in spec:
            for k, v, s, f, t in leaves:
                p = f"{node}.{k}"
                h[p] = v
                h[p, "sec"] = u64(s)
                h[p, "frac"] = u64(f)
                h[p, "tid"] = u64(t)
        return h

    def build_table(rows):
        out = []
        for a, b, c, e, m, t in rows:
            r = NHash("name", a, "value", b, "count", c, "enabled", e, "comment", m)
            r["trainId"] = np.uint64(t)
            out.append(r)
        h = NHash()
        h["table"] = out
        return h

    def build_train(header, arr, cell_id, pulse_id):
        h = NHash()
        h["header.trainId"] = np.uint64(header[0][1])
        h["header.pulseCount"] = header[1][1]
        h["header.source"] = header[2][1]
        nd = NHash()                 # NDArray in the Hash form, C++ child order
        nd["data"] = bytearray(arr.tobytes())
        nd["type"] = np.int32(10)    # UINT16
        nd["shape"] = np.array(arr.shape, dtype=np.uint64)
        nd["isBigEndian"] = False
        h["image.data"] = nd
        h["image.data", "__classId"] = "NDArray"
        h["image.cellId"] = cell_id
        h["image.pulseId"] = pulse_id
        return h

    def walk(h, out):
        for _, v, attrs in h.iterall():
            out.extend(attrs.values())
            if isinstance(v, NHash):
                walk(v, out)
            elif isinstance(v, list) and v and isinstance(v[0], NHash):
                for x in v:
                    walk(x, out)
            else:
                out.append(v)

    def decode_read(b):
        h = decodeBinary(b)
        walk(h, [])
        return h

    version = None
    try:
        from importlib.metadata import version as v
        version = v("karabo-native")
    except Exception:
        pass
    return {"build": {"tiny": build_tiny, "slow-control": build_slow, "table": build_table,
                      "train": build_train},
            "encode": encodeBinary, "decode": decode_read, "version": version}


def run(args):
    timing = timing_from_args(args)
    cells = args.cells if args.cells else (8 if args.quick else data.TRAIN_CELLS)
    inputs = {"tiny": (data.tiny(),), "slow-control": (data.slow_control(),),
              "table": (data.table(100 if args.quick else data.TABLE_ROWS),),
              "train": data.train(cells)}
    result = {"environment": environment(), "train_cells": cells, "versions": {}, "errors": {}}
    for name, factory in (("karabo-cpp", cpp_impl), ("karabo-native", native_impl)):
        if args.only and name not in args.only.split(","):
            continue
        try:
            impl = factory()
        except Exception:
            result["errors"][name] = traceback.format_exc(limit=2)
            continue
        result["versions"][name] = impl["version"]
        res = result[name] = {}
        for case, inp in inputs.items():
            try:
                h = impl["build"][case](*inp)
                b = impl["encode"](h)
                impl["decode"](b)
                enc = impl["encode"]
                dec = impl["decode"]
                res[case] = {
                    **timing.measure_many({"encode": lambda: enc(h), "decode": lambda: dec(b)}),
                    "size": len(b),
                    "sha256": hashlib.sha256(b).hexdigest(),
                }
            except Exception:
                result["errors"][f"{name}/{case}"] = traceback.format_exc(limit=3)
    return result


# -- karabo.middlelayer ---------------------------------------------------------------------------

def middlelayerFigures(url, topic, calls, updates, items):
    """Slot round trip (median s), updates/s a proxy observes, pipeline items/s: Karabo's middlelayer.

    Mirrors ``mdlFigures`` of bench_middlelayer.py step by step: a source device (an ``echo`` slot, an
    ``Int32`` property, an output channel of 1 KiB NDArray items) and a sink device (a raw input channel,
    ``onSlowness="wait"``) in one event loop with a client (a ``DeviceClientBase``) that calls, watches
    and times.
    """
    os.environ.update(KARABO_BROKER=url, KARABO_BROKER_TOPIC=topic)
    import asyncio
    import statistics
    import time

    from karabo.middlelayer import (AccessMode, Configurable, Device, DeviceClientBase, Hash, InputChannel,
                                    Int32, NDArray, OutputChannel, UInt8, call, connectDevice, slot, waitUntil)
    from karabo.middlelayer.eventloop import EventLoop

    class Item(Configurable):
        data = NDArray(dtype=UInt8, shape=(1024,))

    class Source(Device):
        value = Int32(accessMode=AccessMode.READONLY, defaultValue=0)
        output = OutputChannel(Item)

        @slot
        def echo(self, x):
            return x

        async def count(self, n):
            for i in range(1, n + 1):
                self.value = i
                await asyncio.sleep(0)   # one signalChanged per assignment (one loop iteration's are bundled)

        async def send(self, n):
            self.output.schema.data = np.zeros(1024, np.uint8)
            for _ in range(n):
                await self.output.writeData()
            await self.output.writeEndOfStream()

    class Sink(Device):
        def __init__(self, configuration):
            super().__init__(configuration)
            self.received, self.target = 0, None
            self.connected = asyncio.get_event_loop().create_future()
            self.done = asyncio.get_event_loop().create_future()

        @InputChannel(raw=True)
        async def input(self, data, meta):
            self.received += 1
            if self.received == self.target and not self.done.done():
                self.done.set_result(time.perf_counter())

        @input.connect
        async def input(self, output):
            if not self.connected.done():
                self.connected.set_result(None)

    async def measure(source, sink):
        proxy = await connectDevice("bench/source")
        rtts = []
        for i in range(calls):
            t0 = time.perf_counter()
            await call("bench/source", "echo", i)
            rtts.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        await asyncio.get_event_loop().create_task(source.count(updates), instance=source)
        await waitUntil(lambda: proxy.value == updates)
        updateRate = updates / (time.perf_counter() - t0)
        await asyncio.wait_for(sink.connected, 10)
        sink.target = items
        t0 = time.perf_counter()
        await asyncio.get_event_loop().create_task(source.send(items), instance=source)
        end = await asyncio.wait_for(sink.done, 60)
        return {"rtt": statistics.median(rtts), "updates": updateRate, "items": items / (end - t0)}

    async def main():
        source = Source({"_deviceId_": "bench/source"})
        await source.startInstance()
        sink = Sink(Hash("_deviceId_", "bench/sink", "input.connectedOutputChannels", ["bench/source:output"],
                         "input.onSlowness", "wait"))
        await sink.startInstance()
        client = DeviceClientBase({"_deviceId_": "bench/client"})
        await client.startInstance()
        try:
            return await asyncio.get_event_loop().create_task(measure(source, sink), instance=client)
        finally:
            for device in (client, sink, source):
                await device.slotKillDevice()

    loop = EventLoop()
    asyncio.set_event_loop(loop)
    return loop.run_until_complete(main())


def main():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, default=None, help="train cells (default 352, quick 8)")
    p.add_argument("--only", default=None, help="comma-separated subset: karabo-cpp,karabo-native")
    p.add_argument("--middlelayer", metavar="URL", default=None,
                   help="measure Karabo's middlelayer devices on RabbitMQ URL instead (bench_middlelayer)")
    p.add_argument("--topic", default="bench_karabo_mdl")
    p.add_argument("--calls", type=int, default=1000)
    p.add_argument("--updates", type=int, default=5000)
    p.add_argument("--items", type=int, default=5000)
    args = p.parse_args()
    if args.middlelayer:
        # The middlelayer logs to stdout: keep stdout for the JSON document.
        out, sys.stdout = sys.stdout, sys.stderr
        figures = middlelayerFigures(args.middlelayer, args.topic, args.calls, args.updates, args.items)
        sys.stdout = out
        dump_json(figures)
        return 0
    dump_json(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
