"""``pykarabo pipe send|recv``: standalone pipeline output and input (no broker, no device).

The payload follows the interop convention: item of train ``t`` has ``image`` =
``(arange(prod(shape)) + t) % 251`` cast to the dtype, plus ``trainId``, ``seq`` and ``src``;
``crc32`` is zlib's CRC-32 of the array's C-order bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib

import numpy as np

from pykarabo import Hash, Types
from pykarabo.net import parseOutputAddress
from pykarabo.pipeline import END_OF_STREAM, POLICIES, InputChannel, OutputChannel


def _shape(text: str) -> tuple:
    try:
        shape = tuple(int(x) for x in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(n <= 0 for n in shape):
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, got {text!r}")
    return shape


def _dtype(text: str) -> str:
    try:
        dtype = np.dtype(text)
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "biuf":
        raise argparse.ArgumentTypeError(f"expected a numeric numpy dtype such as uint16, got {text!r}")
    return dtype.name


def _atLeast(lowest: float, kind=int):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not lowest <= value:
            raise argparse.ArgumentTypeError(f"must be at least {lowest}, got {text}")
        return value
    return parse


def _output(text: str) -> str:
    try:
        parseOutputAddress(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def register(sub) -> None:
    """Add the ``pipe`` subcommand with ``send`` and ``recv``."""
    p = sub.add_parser("pipe", help="send or receive Karabo pipeline data standalone")
    ps = p.add_subparsers(dest="pipe_command", required=True)

    s = ps.add_parser("send", help="run an output channel and send N trains")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on")
    s.add_argument("--port", type=_atLeast(0), default=0, help="port to listen on (0: any free port)")
    s.add_argument("--n", type=_atLeast(0), default=10, help="number of trains")
    s.add_argument("--shape", type=_shape, default=(352, 512, 128), help="image shape, comma separated")
    s.add_argument("--dtype", type=_dtype, default="uint16", help="image numpy dtype")
    s.add_argument("--distribution", choices=("copy", "shared"), default=None,
                   help="only count inputs of this distribution when waiting for inputs")
    s.add_argument("--inputs", type=_atLeast(1), default=1, help="inputs to wait for before sending")
    s.add_argument("--sources", default="pykarabo:output",
                   help="data sources, comma separated (one item each per train)")
    s.add_argument("--rate", type=_atLeast(0, float), default=0, help="trains per second (0: as fast as possible)")
    s.add_argument("--no-input-shared", choices=POLICIES, default="drop", help="policy when no shared input is ready")
    s.add_argument("--timeout", type=_atLeast(0, float), default=60,
                   help="seconds to wait for inputs / a waiting input")
    s.set_defaults(func=run_send)

    r = ps.add_parser("recv", help="connect an input channel to one or more outputs")
    r.add_argument("outputs", nargs="+", type=_output, metavar="HOST:PORT")
    r.add_argument("--on-slowness", choices=POLICIES, default="wait")
    r.add_argument("--distribution", choices=("copy", "shared"), default="copy")
    r.add_argument("--max-queue-length", type=_atLeast(0), default=2, help="chunks kept under queueDrop")
    r.add_argument("--instance-id", default=None, help="input id (default: unique per process)")
    r.add_argument("--json", action="store_true", help="one JSON line per item and a final summary")
    r.add_argument("--timeout", type=_atLeast(0, float), default=60, help="seconds without data before giving up")
    r.set_defaults(func=run_recv)


def payload(t: int, shape: tuple, dtype: str) -> np.ndarray:
    """The conventional test image of train ``t``."""
    return ((np.arange(int(np.prod(shape)), dtype=np.uint64) + t) % 251).astype(dtype).reshape(shape)


def _emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def run_send(args: argparse.Namespace) -> int:
    """Serve one output until N trains and the end-of-stream are sent."""
    shape = args.shape
    sources = args.sources.split(",")
    with OutputChannel(args.host, args.port, source=sources[0], noInputShared=args.no_input_shared) as out:
        _emit({"listening": {"host": args.host, "port": out.port}})
        deadline = time.monotonic() + args.timeout
        while sum(1 for _, d, _ in out.inputs() if args.distribution in (None, d)) < args.inputs:
            if time.monotonic() > deadline:
                _emit({"error": f"fewer than {args.inputs} inputs connected within {args.timeout} s"})
                return 1
            time.sleep(0.02)
        t0 = time.perf_counter()
        nbytes = 0
        for i in range(args.n):
            tid = 1000 + i
            image = payload(tid, shape, args.dtype)
            now = time.time_ns()
            for seq, src in enumerate(sources):
                h = Hash()
                h.setAs("trainId", tid, Types.UINT64)
                h.setAs("seq", seq, Types.UINT32)
                h["src"] = src
                h["image"] = image
                out.write(h, source=src, timestamp=(now // 10**9, now % 10**9 * 10**9, tid), copyAllData=False)
                nbytes += image.nbytes
            out.update(timeout=args.timeout)
            if args.rate > 0:
                time.sleep(max(0.0, t0 + (i + 1) / args.rate - time.perf_counter()))
        out.signalEndOfStream(timeout=args.timeout)
        dt = time.perf_counter() - t0
        _emit({"summary": {"trains": args.n, "items": args.n * len(sources), "bytes": nbytes,
                           "seconds": round(dt, 6), "dropped": out.core.dropped}})
        time.sleep(0.2)      # let the end-of-stream leave before the sockets close
    return 0


def run_recv(args: argparse.Namespace) -> int:
    """Receive until one end-of-stream (after all outputs ended) and print what arrived."""
    inp = InputChannel(args.outputs, instanceId=args.instance_id, dataDistribution=args.distribution,
                       onSlowness=args.on_slowness, maxQueueLength=args.max_queue_length)
    n = nbytes = 0
    sources: dict[str, int] = {}
    t0 = None
    try:
        while True:
            x = inp.get(timeout=args.timeout)
            if x is END_OF_STREAM:
                break
            data, meta = x
            t0 = t0 or time.perf_counter()
            n += 1
            sources[meta.source] = sources.get(meta.source, 0) + 1
            rec = {"source": meta.source, "trainId": meta.trainId}
            if data.has("image"):
                image = data["image"]
                nbytes += image.nbytes
                rec.update(shape=list(image.shape), dtype=str(image.dtype),
                           crc32=zlib.crc32(np.ascontiguousarray(image).data))
            if args.json:
                _emit(rec)
            else:
                print(" ".join(f"{k}={v}" for k, v in rec.items()), flush=True)
    except TimeoutError as e:
        print(f"pykarabo pipe recv: {e}", file=sys.stderr)
        return 1
    finally:
        inp.close()
    dt = time.perf_counter() - t0 if t0 else 0.0
    summary = {"items": n, "bytes": nbytes, "sources": sources, "seconds": round(dt, 6), "endOfStream": True}
    if args.json:
        _emit({"summary": summary})
    else:
        print(f"received {n} items ({nbytes} array bytes) from {len(sources)} sources in {dt:.3f} s, "
              "then end-of-stream", flush=True)
    return 0
