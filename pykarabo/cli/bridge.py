"""``pykarabo bridge ...``: Karabo Bridge simulator, file streamer, recorder/replayer, monitor and glimpse.

ENDPOINT arguments of servers are a port number (bound on 127.0.0.1 only) or a ZeroMQ endpoint
to bind verbatim (``tcp://*:4545`` to serve every interface, ``ipc://...``).  ``-z`` always
names the *server's* socket (REP, PUB or PUSH); client commands pick the matching peer socket.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np
from pykarabo_bridge import deserialize

from pykarabo.bridge import record as recording
from pykarabo.bridge.server import SOCKET_TYPES, BridgeServer
from pykarabo.bridge.simulation import DETECTORS, Simulator, serve_simulation

_LINGER = 5.0   # seconds a finishing server keeps sending what ZeroMQ still holds


def register(sub: Any) -> None:
    """Add the ``bridge`` subcommand and its tools."""
    p = sub.add_parser("bridge", help="Karabo Bridge tools (simulate, serve files, record, replay, monitor)")
    ps = p.add_subparsers(dest="bridge_command", required=True)

    def server_options(q: argparse.ArgumentParser, protocol: bool = True) -> None:
        q.add_argument("-z", "--server-socket", choices=sorted(SOCKET_TYPES), default="REP")
        if protocol:
            q.add_argument("-p", "--protocol", choices=("1.0", "2.2"), default="2.2")
        q.add_argument("--maxlen", type=int, default=10, help="trains queued before the oldest is dropped")

    s = ps.add_parser("sim", help="serve simulated detector trains")
    s.add_argument("endpoint", help="port (loopback) or ZeroMQ endpoint to bind")
    server_options(s)
    s.add_argument("-d", "--detector", choices=sorted(DETECTORS), default="AGIPD")
    s.add_argument("-r", "--raw", action="store_true", help="raw (uint16) instead of corrected (float32) data")
    s.add_argument("-n", "--nsources", type=int, default=1)
    s.add_argument("-g", "--gen", choices=("random", "zeros"), default="random")
    s.add_argument("--data-like", choices=("online", "file"), default="online")
    s.add_argument("--pregenerate", type=int, default=2, help="distinct random trains generated up front")
    s.add_argument("--ntrains", type=int, default=None, help="stop after this many trains")
    s.add_argument("--rate", type=float, default=0.0, help="trains per second (0: as fast as possible; "
                   "the facility runs at 10)")
    s.add_argument("--debug", action="store_true", help="print every train ID")
    s.set_defaults(func=run_sim)

    f = ps.add_parser("serve-files", help="stream a European XFEL run (needs extra-data)")
    f.add_argument("run", metavar="RUN_DIR", help="run directory or single HDF5 file")
    f.add_argument("endpoint", metavar="ENDPOINT")
    server_options(f)
    f.add_argument("--source", default="*", help="source glob")
    f.add_argument("--key", default="*", help="key glob")
    f.add_argument("--append-detector-modules", action="store_true", help="merge detector modules into one source")
    f.add_argument("--dummy-timestamps", action="store_true", help="add wall-clock timestamps to the metadata")
    f.set_defaults(func=run_serve_files)

    q = ps.add_parser("pipeline", help="serve trains matched by ID from Karabo pipeline outputs")
    q.add_argument("outputs", nargs="+", metavar="HOST:PORT", help="pipeline outputs to connect to")
    q.add_argument("--endpoint", default="0", help="port (loopback) or ZeroMQ endpoint to bind (0: any port)")
    server_options(q)
    q.add_argument("--sources", nargs="+", default=None, help="expected sources (default: every source seen)")
    q.add_argument("--keys", nargs="+", default=None, help="key globs to send (default: all)")
    q.add_argument("--wait-time", type=float, default=0.5, help="seconds to wait for a train's missing sources")
    q.add_argument("--incomplete", choices=("send", "drop"), default="send")
    q.add_argument("--layout", choices=("online", "file"), default=None, help="detector layout to send")
    q.add_argument("--input-layout", choices=("online", "file"), default="file")
    q.add_argument("--on-slowness", choices=("drop", "wait"), default="drop")
    q.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    q.set_defaults(func=run_pipeline)

    r = ps.add_parser("record", help="record raw bridge messages into a directory")
    r.add_argument("endpoint", metavar="ENDPOINT", help="server to connect to")
    r.add_argument("directory", metavar="DIR")
    r.add_argument("-z", "--server-socket", choices=sorted(SOCKET_TYPES), default="REP")
    r.add_argument("--ntrains", type=int, default=None)
    r.add_argument("--timeout", type=float, default=None, help="stop after this many seconds without data")
    r.set_defaults(func=run_record)

    y = ps.add_parser("replay", help="serve recorded messages byte for byte")
    y.add_argument("directory", metavar="DIR")
    y.add_argument("endpoint", metavar="ENDPOINT")
    server_options(y, protocol=False)
    y.add_argument("--rate", type=float, default=0.0, help="messages per second (0: as fast as possible)")
    y.add_argument("--realtime", action="store_true", help="keep the recorded intervals")
    y.add_argument("--loop", action="store_true", help="start again at the end")
    y.set_defaults(func=run_replay)

    for name, func, text in (("monitor", run_monitor, "print rate, size, train ID, losses and latency per train"),
                             ("glimpse", run_glimpse, "print the structure of one train")):
        m = ps.add_parser(name, help=text)
        m.add_argument("endpoint", metavar="ENDPOINT", help="server to connect to")
        m.add_argument("-z", "--server-socket", choices=sorted(SOCKET_TYPES), default="REP")
        m.add_argument("--timeout", type=float, default=None, help="give up after this many seconds without data")
        if name == "monitor":
            m.add_argument("--ntrains", type=int, default=None, help="stop after this many trains")
        else:
            m.add_argument("--save-image", metavar="PNG", default=None,
                           help="write a greyscale preview of the first image-like array")
        m.set_defaults(func=func)


def _server(args: argparse.Namespace, **options: Any) -> BridgeServer:
    return BridgeServer(args.endpoint, args.server_socket, maxlen=args.maxlen, **options).start()


def run_sim(args: argparse.Namespace) -> int:
    """Serve simulated trains until Ctrl-C (or ``--ntrains``)."""
    sim = Simulator(args.detector, args.raw, args.nsources, args.gen, args.data_like, args.pregenerate)
    server = _server(args, protocol_version=args.protocol)
    print(f"Simulated Karabo-bridge server started on:\n{server.endpoint}", flush=True)

    def report(n: int, seconds: float) -> None:
        print(f"Sent {n} trains in {seconds:.2f} seconds ({n / seconds:.2f} Hz)", flush=True)

    try:
        each = (lambda tid: print("Server : emitted train:", tid, flush=True)) if args.debug else None
        serve_simulation(server, sim, args.ntrains, report=report, each=each, rate=args.rate)
        server.drain()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop(linger=_LINGER if args.ntrains is not None else 0)
    print("Stopped.")
    return 0


def run_serve_files(args: argparse.Namespace) -> int:
    """Stream every selected train of a run once."""
    from pykarabo.bridge.files import serve_files

    server = _server(args, protocol_version=args.protocol, dummy_timestamps=args.dummy_timestamps)
    print(f"Streamer started on: {server.endpoint}", flush=True)
    t0 = time.perf_counter()

    def progress(i: int, total: int, tid: int) -> None:
        if i % 5 == 0 or i == total:
            print(f"\rSent {i}/{total} trains - Train ID {tid} - {i / (time.perf_counter() - t0):.1f} Hz",
                  end="", flush=True)

    try:
        serve_files(args.run, server, args.source, args.key, args.append_detector_modules, progress)
        server.drain()
    except KeyboardInterrupt:
        pass
    except RuntimeError as exc:
        print(f"pykarabo bridge serve-files: {exc}", file=sys.stderr)
        return 1
    finally:
        server.stop(linger=_LINGER)
    print("\nStopped.")
    return 0


def run_pipeline(args: argparse.Namespace) -> int:
    """Bridge pipeline outputs until Ctrl-C (or ``--duration``), printing statistics every 5 s."""
    from pykarabo.bridge.pipeline import PipelineBridge

    server = _server(args, protocol_version=args.protocol)
    bridge = PipelineBridge(args.outputs, server, sources=args.sources, keys=args.keys, wait_time=args.wait_time,
                            incomplete=args.incomplete, layout=args.layout, input_layout=args.input_layout,
                            onSlowness=args.on_slowness)
    print(f"Pipeline bridge started on: {server.endpoint}", flush=True)
    end = None if args.duration is None else time.monotonic() + args.duration
    try:
        while end is None or time.monotonic() < end:
            time.sleep(min(5.0, max(0.0, end - time.monotonic())) if end is not None else 5.0)
            print(f"trains complete {bridge.trains_complete}, incomplete {bridge.trains_incomplete}, "
                  f"sent {server.trains_sent}, dropped {server.trains_dropped}, {server.rate:.1f} Hz, "
                  f"{server.data_rate / 1e6:.1f} MB/s", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        bridge.close()
        server.stop()
    print("Stopped.")
    return 0


def run_record(args: argparse.Namespace) -> int:
    """Record messages until ``--ntrains``, ``--timeout`` or Ctrl-C."""
    try:
        n = recording.record(args.endpoint, args.directory, args.server_socket, args.ntrains, args.timeout)
    except KeyboardInterrupt:
        n = None
    print(f"recorded {'' if n is None else n} messages into {args.directory}")
    return 0


def run_replay(args: argparse.Namespace) -> int:
    """Serve a recording, once or in a loop."""
    server = _server(args)
    print(f"Replaying {args.directory} on: {server.endpoint}", flush=True)
    n = 0
    try:
        while True:
            start = previous = None
            for received, frames in recording.read_messages(args.directory):
                if args.realtime and previous is not None:
                    time.sleep(max(0.0, received - previous))
                elif args.rate > 0:
                    start = start or time.perf_counter()
                    time.sleep(max(0.0, start + n / args.rate - time.perf_counter()))
                previous = received
                server.put_frames(frames, block=True)
                n += 1
            if not args.loop:
                break
        server.drain()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop(linger=_LINGER)
    print(f"replayed {n} messages")
    return 0


def _train_id(metadata: dict[str, dict]) -> int | None:
    return next((m["timestamp.tid"] for m in metadata.values() if "timestamp.tid" in m), None)


def run_monitor(args: argparse.Namespace) -> int:
    """Print one line per train: ID, sources, size, rate, lost trains and latency."""
    socket = recording.connect(args.endpoint, args.server_socket)
    received = lost = 0
    last_tid = None
    t_prev = time.perf_counter()
    try:
        while args.ntrains is None or received < args.ntrains:
            frames = recording.receive_raw(socket, args.timeout)
            if frames is None:
                print(f"no data from {args.endpoint} in {args.timeout} s", file=sys.stderr)
                return 1
            now = time.perf_counter()
            _, metadata = deserialize(frames)
            received += 1
            tid = _train_id(metadata)
            if tid is not None and last_tid is not None and tid > last_tid + 1:
                lost += tid - last_tid - 1
            last_tid = tid if tid is not None else last_tid
            stamps = [m["timestamp"] for m in metadata.values() if "timestamp" in m]
            latency = f"{(time.time() - stamps[0]) * 1e3:.1f} ms" if stamps else "n/a"
            size = sum(f.buffer.nbytes for f in frames)
            print(f"train {tid}  sources {len(metadata)}  {size / 1e6:.2f} MB  {1 / (now - t_prev):.1f} Hz  "
                  f"lost {lost}  latency {latency}", flush=True)
            t_prev = now
    except KeyboardInterrupt:
        pass
    finally:
        socket.close(linger=0)
    return 0


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array {value.dtype} {list(value.shape)}"
    text = repr(value)
    return f"{type(value).__name__}: {text if len(text) <= 60 else text[:57] + '...'}"


def run_glimpse(args: argparse.Namespace) -> int:
    """Receive one train and print its sources, metadata and keys (optionally save a preview PNG)."""
    socket = recording.connect(args.endpoint, args.server_socket)
    t0 = time.perf_counter()
    try:
        frames = recording.receive_raw(socket, args.timeout)
    finally:
        socket.close(linger=0)
    if frames is None:
        print(f"no data from {args.endpoint} in {args.timeout} s", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - t0
    data, metadata = deserialize(frames)
    print(f"Train ID: {_train_id(metadata)} " + "-" * 40)
    print(f"Data from {len(data)} sources, {len(frames)} frames, "
          f"{sum(f.buffer.nbytes for f in frames) / 1e6:.2f} MB, received in {elapsed * 1e3:.1f} ms")
    image = None
    for source in sorted(data):
        meta = metadata.get(source, {})
        print(f"\n{source} @ {meta.get('timestamp.tid')}")
        if "timestamp" in meta:
            print(f"timestamp: {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(meta['timestamp']))} "
                  f"(delay {(time.time() - meta['timestamp']) * 1e3:.1f} ms)")
        else:
            print("No timestamp")
        for key in sorted(data[source]):
            value = data[source][key]
            print(f"  - {key}: {_describe(value)}")
            if image is None and args.save_image and isinstance(value, np.ndarray):
                from pykarabo.bridge.png import preview_image
                image = preview_image(value)
    if args.save_image:
        from pykarabo.bridge.png import to_grey8, write_png
        if image is None:
            print("no image-like array to save", file=sys.stderr)
            return 1
        write_png(args.save_image, to_grey8(image))
        print(f"\nsaved a {image.shape[1]}x{image.shape[0]} preview to {args.save_image}")
    return 0
