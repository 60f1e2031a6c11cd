"""Karabo Bridge over 127.0.0.1: pykarabo server/client vs karabo-bridge vs raw pyzmq; pipeline path; simulators.

Transfer cases move copies of one pre-generated train (a raw AGIPD module, ~17 MB; without
``--quick`` also a corrected AGIPD 1M train, ~277 MB) in each pattern (REP/REQ, PUSH/PULL,
PUB/SUB) and report trains/s measured at the client (first train excluded, it pays the
connection set-up).  On a shared two-core machine single runs vary by +-20 %, so each case is
run in many short runs (``--repeats``; twice as many for module-sized transfers and for the
server CPU): every repetition runs all cases of a pattern once, in an order rotated by one each
repetition, and a ratio is the median of the ratios within the repetitions (cases next to each
other in time), shown with its interquartile range:

* ``ours->ours``   pykarabo ``BridgeServer`` -> ``pykarabo_bridge.Client``
* ``ours->ref``    pykarabo ``BridgeServer`` -> ``karabo_bridge.Client``
* ``ref->ref``     ``karabo_bridge.server.Sender`` -> ``karabo_bridge.Client``
* ``zmq``          raw pyzmq moving the frames of the same message, serialized once, not decoded
* ``zmq reusing memory``  the same with our client's malloc settings in the receiving process
                   (information: it shows how much of our client's lead is that setting)
* ``zmq small sndbuf``  raw pyzmq with the TCP send buffer our server uses on loopback
                   (information: it shows how much of our server's lead is that setting)

Every client runs in a process of its own, as a user's analysis does (``ClientProcess``); the
servers run in this one.  Our client keeps the memory of received trains for the next ones
(``pykarabo_bridge.memory``, process-wide, so it must not reach the other clients).

Further figures: the pipeline path (a pipeline output -> ``PipelineBridge`` -> PUSH -> client: two
network hops, so the raw reference ``zmq relay`` moves the same frames over two hops too, PUSH ->
a relay thread (PULL -> PUSH, no copy) -> PULL; one-hop PUSH/PULL is shown for information; and a
check that the array frame the bridge sends is the pipeline's receive buffer),
server-added latency per train (``put`` -> the encoded frames handed to ZeroMQ, p50/p99, the
client in a process of its own), client decode
time per train at each size, server CPU seconds per GB sent (the serving process alone, all its
threads, from ``getrusage``) for ours and the reference, and both simulators with random data.

    python benchmarks/bench_bridge.py [--quick] [--json] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import zmq
from pykarabo_bridge import Client, deserialize, serialize
from pykarabo_bridge.memory import keep_freed_blocks

from pykarabo import Hash
from pykarabo.bridge import BridgeServer, PipelineBridge
from pykarabo.bridge.server import LOOPBACK_SNDBUF
from pykarabo.bridge.simulation import Simulator, serve_simulation
from pykarabo.pipeline import OutputChannel

try:
    import karabo_bridge
    from karabo_bridge.server import Sender, SimServer
except ImportError:     # the reference is optional: its cases are skipped
    karabo_bridge = None

CLIENT_SOCK = {"REP": "REQ", "PUSH": "PULL", "PUB": "SUB"}
SERVER_ZMQ = {"REP": zmq.REP, "PUSH": zmq.PUSH, "PUB": zmq.PUB}
CLIENT_ZMQ = {"REP": zmq.REQ, "PUSH": zmq.PULL, "PUB": zmq.SUB}
TIMEOUT = 60


def train_nbytes(train: tuple[dict, dict]) -> int:
    """Bytes of one encoded train."""
    return sum(memoryview(f).nbytes for f in serialize(*train))


def receive(client_next: Callable[[], object], n: int) -> float:
    """Trains per second for ``n`` trains after a first, untimed one."""
    client_next()
    t0 = time.perf_counter()
    for _ in range(n):
        client_next()
    return n / (time.perf_counter() - t0)


def loop_until(stop: threading.Event, step: Callable[[], object]) -> threading.Thread:
    """Call ``step`` in a thread until ``stop`` is set or the socket under it is closed."""
    def run() -> None:
        try:
            while not stop.is_set():
                step()
        except (zmq.ZMQError, RuntimeError):
            pass     # context destroyed / server stopped: the case is over
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# -- clients, each kind in a process of its own ----------------------------------------------------

class RawClient:
    """Raw pyzmq receiving the frames (HWM 1 like the bridge clients), no decoding."""

    def __init__(self, endpoint: str, pattern: str) -> None:
        self._pattern = pattern
        self._context = zmq.Context()
        self._socket = self._context.socket(CLIENT_ZMQ[pattern])
        self._socket.rcvhwm = self._socket.sndhwm = 1
        self._socket.rcvtimeo = TIMEOUT * 1000
        if pattern == "PUB":
            self._socket.subscribe(b"")
        self._socket.connect(endpoint)

    def next(self) -> None:
        if self._pattern == "REP":
            self._socket.send(b"next")
        self._socket.recv_multipart(copy=False)

    def close(self) -> None:
        self._context.destroy(linger=0)


def open_client(kind: str, endpoint: str, pattern: str) -> "Client | karabo_bridge.Client | RawClient":
    if kind == "ours":
        return Client(endpoint, sock=CLIENT_SOCK[pattern], timeout=TIMEOUT)
    if kind == "ref":
        return karabo_bridge.Client(endpoint, sock=CLIENT_SOCK[pattern], timeout=TIMEOUT)
    if kind == "zmq reusing memory":
        keep_freed_blocks(any_size=True)
    return RawClient(endpoint, pattern)


def close_client(client: "Client | karabo_bridge.Client | RawClient") -> None:
    """Close any kind of client."""
    if isinstance(client, (Client, RawClient)):
        client.close()
    else:
        client._context.destroy(linger=0)


def client_process(kind: str) -> None:
    """Child process of ``ClientProcess``: connect, receive and disconnect as told on stdin."""
    client = None
    for line in sys.stdin:
        command = json.loads(line)
        try:
            if command["op"] == "receive":
                client = open_client(kind, command["endpoint"], command["pattern"])
                reply = {"rate": receive(client.next, command["n"])}
            else:
                close_client(client)
                reply = {}
        except Exception as exc:       # reported to the parent, which raises it there
            reply = {"error": repr(exc)}
        print(json.dumps(reply), flush=True)


class ClientProcess:
    """One kind of client in a process of its own, as a user's analysis runs.

    Kinds: ``ours`` (``pykarabo_bridge.Client`` with its defaults, so it reuses the memory of
    earlier trains), ``ref`` (``karabo_bridge.Client``), ``zmq`` (``RawClient``) and, for
    information, ``zmq reusing memory`` (``RawClient`` with our client's malloc settings).  The
    servers all run in this process, so a client's process-wide settings never reach another
    kind's client or any server.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._child = subprocess.Popen([sys.executable, __file__, "--client-process", kind],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def _call(self, **command: object) -> dict:
        self._child.stdin.write(json.dumps(command) + "\n")
        self._child.stdin.flush()
        line = self._child.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.kind} client process ended (exit code {self._child.wait(30)})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"{self.kind} client: {reply['error']}")
        return reply

    def receive(self, endpoint: str, pattern: str, n: int) -> float:
        """Connect, take a first train and then ``n`` more, return their trains/s; stay connected."""
        return self._call(op="receive", endpoint=endpoint, pattern=pattern, n=n)["rate"]

    def disconnect(self) -> None:
        self._call(op="disconnect")

    def close(self) -> None:
        self._child.stdin.close()
        self._child.wait(30)


# -- transfer cases ------------------------------------------------------------------------------

def case_ours(train: tuple[dict, dict], n: int, pattern: str, client: ClientProcess) -> float:
    """Our server (fed as fast as it takes trains) to our client or to the reference client."""
    server = BridgeServer(0, pattern, maxlen=2).start()
    stop = threading.Event()
    feeder = loop_until(stop, lambda: server.put(*train, block=True, timeout=0.1))
    try:
        return client.receive(server.endpoint, pattern, n)
    finally:
        stop.set()
        server.stop()
        feeder.join(5)
        client.disconnect()


def case_reference(train: tuple[dict, dict], n: int, pattern: str, client: ClientProcess) -> float:
    """karabo_bridge's Sender (serializes each train, then waits for the peer) to its Client."""
    sender = Sender("tcp://127.0.0.1:*", sock=pattern)
    endpoint = sender.server_socket.getsockopt_string(zmq.LAST_ENDPOINT)
    stop = threading.Event()
    thread = loop_until(stop, lambda: sender.send(*train))
    try:
        return client.receive(endpoint, pattern, n)
    finally:
        stop.set()
        sender.stopper_w.send(b"")      # the reference's own way to end a waiting send()
        thread.join(5)
        sender.zmq_context.destroy(linger=0)
        client.disconnect()


def case_zmq(train: tuple[dict, dict], n: int, pattern: str, client: ClientProcess, sndbuf: int = 0) -> float:
    """Raw pyzmq moving the already encoded frames (HWM 1 like the bridge) to a raw client."""
    frames = serialize(*train)
    ctx = zmq.Context()
    server = ctx.socket(SERVER_ZMQ[pattern])
    server.sndhwm = server.rcvhwm = 1
    if sndbuf:
        server.sndbuf = sndbuf
    port = server.bind_to_random_port("tcp://127.0.0.1")

    def serve() -> None:
        # poll with a timeout so that the thread sees the stop flag and never blocks in a socket call
        if not server.poll(100, zmq.POLLIN if pattern == "REP" else zmq.POLLOUT):
            return
        if pattern == "REP":
            server.recv()
        server.send_multipart(frames, copy=False)

    stop = threading.Event()
    thread = loop_until(stop, serve)
    try:
        return client.receive(f"tcp://127.0.0.1:{port}", pattern, n)
    finally:
        stop.set()
        thread.join(5)
        ctx.destroy(linger=0)
        client.disconnect()


def case_zmq_relay(train: tuple[dict, dict], n: int, client: ClientProcess) -> float:
    """Raw pyzmq over the pipeline path's two hops: PUSH -> relay (PULL -> PUSH, frames not copied) -> PULL."""
    frames = serialize(*train)
    ctx, relay_ctx = zmq.Context(), zmq.Context()
    source = ctx.socket(zmq.PUSH)
    source.sndhwm = 1
    port = source.bind_to_random_port("tcp://127.0.0.1")
    inbound, outbound = relay_ctx.socket(zmq.PULL), relay_ctx.socket(zmq.PUSH)
    inbound.rcvhwm = outbound.sndhwm = 1
    inbound.connect(f"tcp://127.0.0.1:{port}")
    relay_port = outbound.bind_to_random_port("tcp://127.0.0.1")
    stop = threading.Event()

    def send() -> None:
        if source.poll(100, zmq.POLLOUT):
            source.send_multipart(frames, copy=False)

    def relay() -> None:
        if inbound.poll(100, zmq.POLLIN):
            outbound.send_multipart(inbound.recv_multipart(copy=False), copy=False)

    threads = [loop_until(stop, send), loop_until(stop, relay)]
    try:
        return client.receive(f"tcp://127.0.0.1:{relay_port}", "PUSH", n)
    finally:
        stop.set()
        for thread in threads:
            thread.join(5)
        for c in (ctx, relay_ctx):      # senders first, see ClientProcess
            c.destroy(linger=0)
        client.disconnect()


# -- pipeline output -> PipelineBridge -> client -----------------------------------------------------

def as_hash(props: dict) -> Hash:
    """One source of a train as a pipeline item (arrays become NDArrays, not copied)."""
    h = Hash()
    for key, value in props.items():
        if key != "metadata":
            h[key] = value
    return h


def _pooled(buffer: object) -> bool:
    """Whether ``buffer`` is (a view of) a pipeline receive block."""
    while buffer is not None:
        if type(buffer).__name__ == "_Block":
            return True
        buffer = buffer.obj if isinstance(buffer, memoryview) else getattr(buffer, "base", None)
    return False


def case_pipeline(train: tuple[dict, dict], n: int, checks: dict, client: ClientProcess) -> float:
    """Pipeline output (threads) -> PipelineBridge -> PUSH -> our client; records whether arrays were copied."""
    source, props = next(iter(train[0].items()))
    item = as_hash(props)
    out = OutputChannel(source=source)
    server = BridgeServer(0, "PUSH", maxlen=2).start()
    send = server._send
    first: list = []

    def spy(frames, *args, **kwargs):         # look at the frames handed to ZeroMQ once
        if not first:
            first.append([f for f in frames if memoryview(f).nbytes > 1 << 20])
        return send(frames, *args, **kwargs)
    server._send = spy
    bridge = PipelineBridge([out.connectionInfo], server, onSlowness="wait")
    out.waitForInputs(1, timeout=10)
    stop = threading.Event()
    tid = iter(range(10**9))

    def produce() -> None:
        out.write(item, timestamp=(1_700_000_000, 0, next(tid)), copyAllData=False)
        out.update(timeout=10)
    producer = loop_until(stop, produce)
    try:
        rate = client.receive(server.endpoint, "PUSH", n)
    finally:
        stop.set()
        producer.join(10)
        bridge.close()
        server.stop()
        out.close()
        client.disconnect()
    checks["no_copy"] = bool(first and first[0] and all(_pooled(f) for f in first[0]))
    return rate


# -- latency, decode, CPU -------------------------------------------------------------------------

def _stamp_sends(server: BridgeServer, stamps: list[float]) -> None:
    """Note when the server hands a train's encoded frames to ZeroMQ."""
    send = server._send

    def stamped(frames, *args, **kwargs):
        stamps.append(time.perf_counter())
        return send(frames, *args, **kwargs)
    server._send = stamped


def server_latency(train: tuple[dict, dict], n: int) -> dict[str, float]:
    """Seconds from ``put()`` until the server hands the encoded frames to ZeroMQ.

    That is what the server adds to a train's way (queue, thread hand-over, serialization); the
    send itself is ZeroMQ's transfer, which raw pyzmq pays alike.  One train at a time, PUSH to a
    PULL client in a process of its own (as a user's analysis is), which acknowledges each train
    so that the next is put only when the previous one has arrived.
    """
    ready: list[float] = []
    server = BridgeServer(0, "PUSH", maxlen=2)
    _stamp_sends(server, ready)
    server.start()
    ctx = zmq.Context()
    acks = ctx.socket(zmq.PULL)
    acks.rcvtimeo = TIMEOUT * 1000
    ack_port = acks.bind_to_random_port("tcp://127.0.0.1")
    client = subprocess.Popen([sys.executable, __file__, "--pull-and-ack", server.endpoint, str(ack_port), str(n + 1)])
    samples = []
    try:
        for i in range(n + 1):
            t0 = time.perf_counter()
            server.put(*train)
            acks.recv()
            if i:        # the first pays the connection set-up
                samples.append(ready[-1] - t0)
    finally:
        client.wait(TIMEOUT)
        server.stop()
        ctx.destroy(linger=0)
    samples.sort()
    return {"p50": statistics.median(samples), "p99": samples[min(len(samples) - 1, int(0.99 * len(samples)))]}


def pull_and_ack(endpoint: str, ack_port: int, n: int) -> None:
    """Child process of ``server_latency``: receive n trains, acknowledging each."""
    ctx = zmq.Context()
    ack = ctx.socket(zmq.PUSH)
    ack.connect(f"tcp://127.0.0.1:{ack_port}")
    with Client(endpoint, sock="PULL", timeout=TIMEOUT) as client:
        for _ in range(n):
            client.next()
            ack.send(b"")
    ctx.destroy(linger=1000)


def decode_time(train: tuple[dict, dict], repeats: int) -> dict[str, float]:
    """Median seconds to decode one received train: ours and the reference deserialize."""
    frames = [zmq.Frame(bytes(f)) for f in serialize(*train)]
    out = {}
    for name, fn in (("ours", deserialize), ("ref", getattr(karabo_bridge, "deserialize", None))):
        if fn is None:
            continue
        fn(frames)
        runs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(20):
                fn(frames)
            runs.append((time.perf_counter() - t0) / 20)
        out[name] = statistics.median(runs)
    return out


def serve_for_cpu(kind: str, n: int) -> None:
    """Child process: serve n+1 module trains over REP, then print the CPU seconds the serving took."""
    train = Simulator("AGIPDModule", raw=True, pregenerate=1).next_train()
    if kind == "ours":
        server = BridgeServer(0, "REP", maxlen=2).start()
        endpoint = server.endpoint
    else:
        sender = Sender("tcp://127.0.0.1:*", sock="REP")
        endpoint = sender.server_socket.getsockopt_string(zmq.LAST_ENDPOINT)
    print(endpoint, flush=True)
    before = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(n + 1):
        if kind == "ours":
            server.put(*train, block=True)
        else:
            sender.send(*train)
    sys.stdin.readline()     # the client has every train
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(json.dumps({"cpu": cpu, "bytes": (n + 1) * train_nbytes(train)}), flush=True)


def cpu_per_gb(kind: str, n: int, client: ClientProcess) -> float:
    """Server CPU seconds per GB sent, measured in a serving process of its own."""
    child = subprocess.Popen([sys.executable, __file__, "--serve-for-cpu", kind, str(n)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        endpoint = child.stdout.readline().strip()
        if not endpoint:
            raise RuntimeError(f"the {kind} serving process failed to start (exit code {child.wait(30)})")
        client.receive(endpoint, "REP", n)      # n + 1 trains
        child.stdin.write("done\n")
        child.stdin.flush()
        result = json.loads(child.stdout.readline())
    finally:
        child.wait(30)
        client.disconnect()
    return result["cpu"] / (result["bytes"] / 1e9)


def case_sim_ours(n: int, client: ClientProcess) -> float:
    """Our simulator (random data generated up front) to our client."""
    server = BridgeServer(0, "REP", maxlen=2).start()
    sim = Simulator("AGIPDModule", raw=True)
    feeder = threading.Thread(target=serve_simulation, args=(server, sim, n + 1), daemon=True)
    feeder.start()
    try:
        return client.receive(server.endpoint, "REP", n)
    finally:
        feeder.join(60)
        server.stop()
        client.disconnect()


def case_sim_reference(n: int, client: ClientProcess) -> float:
    """karabo_bridge's SimServer (random data per train) to our client."""
    sim = SimServer("tcp://127.0.0.1:*", sock="REP", detector="AGIPDModule", raw=True, debug=False)
    endpoint = sim.server_socket.getsockopt_string(zmq.LAST_ENDPOINT)
    data = iter(sim.data)
    thread = threading.Thread(target=lambda: [sim.send(*next(data)) for _ in range(n + 1)], daemon=True)
    thread.start()
    try:
        return client.receive(endpoint, "REP", n)
    finally:
        thread.join(60)
        sim.zmq_context.destroy(linger=0)
        client.disconnect()


def interleaved(cases: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Each case once per repetition, the order rotated by one each time: load changes and the
    position in a repetition (what ran just before) hit every case alike."""
    names = list(cases)
    runs: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            runs[name].append(cases[name]())
    return runs


def spread(values: list[float]) -> dict:
    """Median and interquartile range (the runs themselves kept for the JSON output)."""
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
    return {"median": statistics.median(values), "q1": q1, "q3": q3, "runs": values}


def paired(runs: dict[str, list[float]], num: str, den: str) -> dict:
    """Spread of ``num/den`` taken within each repetition (the two ran next to each other)."""
    return spread([a / b for a, b in zip(runs[num], runs[den])])


def summarize(runs: dict[str, list[float]], ratios: tuple[tuple[str, str], ...]) -> dict:
    """Spread of every case, and of the same-repetition ratios between the cases named."""
    return {"cases": {name: spread(values) for name, values in runs.items()},
            "ratios": {f"{a}/{b}": paired(runs, a, b) for a, b in ratios if a in runs and b in runs}}


# -- main -------------------------------------------------------------------------------------------

TRANSFER_RATIOS = (("ours->ours", "zmq"), ("ours->ours", "ref->ref"), ("ours->ref", "ref->ref"),
                   ("ours->ours", "zmq reusing memory"), ("ours->ours", "zmq small sndbuf"))
CLIENT_KINDS = ("ours", "ref", "zmq", "zmq reusing memory")
PIPELINE_RATIOS = (("pipeline", "zmq relay"), ("pipeline", "zmq PUSH"))


def measure(args: argparse.Namespace) -> dict:
    repeats = 1 if args.quick else args.repeats
    # Trains per run and repetitions: short runs (a fifth of a second of transfer at the module
    # size, about a second at 1M), many of them, so that load bursts of a few seconds on the
    # shared machine hit a pair of neighbouring runs alike or are outvoted by the median.
    sizes = {"AGIPD module raw": (Simulator("AGIPDModule", raw=True, pregenerate=1), 5 if args.quick else 20,
                                  2 * repeats)}
    if not args.quick:
        sizes["AGIPD 1M corrected"] = (Simulator("AGIPD", raw=False, pregenerate=1), 4, repeats)
    results: dict = {"load": os.getloadavg(), "sizes": {}, "targets": []}
    clients = {kind: ClientProcess(kind) for kind in CLIENT_KINDS if kind != "ref" or karabo_bridge is not None}
    try:
        measure_with(args, sizes, clients, results)
    finally:
        for client in clients.values():
            client.close()
    results["targets"] = targets(results)
    return results


def measure_with(args: argparse.Namespace, sizes: dict, clients: dict[str, ClientProcess], results: dict) -> None:
    """Run every case of ``measure`` with the given client processes, filling ``results``."""
    repeats = 1 if args.quick else args.repeats
    for label, (sim, n, size_repeats) in sizes.items():
        train = sim.next_train()
        res = results["sizes"][label] = {"bytes": train_nbytes(train), "trains": n, "repeats": size_repeats,
                                         "transfer": {}}
        for pattern in ("REP", "PUSH", "PUB"):
            cases = {"ours->ours": partial(case_ours, train, n, pattern, clients["ours"]),
                     "zmq": partial(case_zmq, train, n, pattern, clients["zmq"]),
                     "zmq reusing memory": partial(case_zmq, train, n, pattern, clients["zmq reusing memory"]),
                     "zmq small sndbuf": partial(case_zmq, train, n, pattern, clients["zmq"], LOOPBACK_SNDBUF)}
            if karabo_bridge is not None:
                cases["ours->ref"] = partial(case_ours, train, n, pattern, clients["ref"])
                cases["ref->ref"] = partial(case_reference, train, n, pattern, clients["ref"])
            res["transfer"][pattern] = summarize(interleaved(cases, size_repeats), TRANSFER_RATIOS)
        checks: dict = {}
        res["pipeline"] = summarize(interleaved({"pipeline": partial(case_pipeline, train, n, checks, clients["ours"]),
                                                 "zmq relay": partial(case_zmq_relay, train, n, clients["zmq"]),
                                                 "zmq PUSH": partial(case_zmq, train, n, "PUSH", clients["zmq"])},
                                                size_repeats),
                                    PIPELINE_RATIOS)
        res["pipeline_no_copy"] = checks.get("no_copy", False)
        res["latency"] = server_latency(train, 20 if args.quick else 200 if n > 10 else 100)
        res["decode"] = decode_time(train, 3 if args.quick else 15)
    small = ({"SRC/A:out": {"x": 1.5, "name": "a", "v": np.arange(10, dtype=np.uint16)}},
             {"SRC/A:out": {"source": "SRC/A:out", "timestamp.tid": 1}})
    results["small train"] = {"latency": server_latency(small, 20 if args.quick else 500),
                              "decode": decode_time(small, 3 if args.quick else 15)}
    if karabo_bridge is not None:
        n_cpu = 5 if args.quick else 40
        results["cpu_s_per_gb"] = summarize(interleaved({"ours": partial(cpu_per_gb, "ours", n_cpu, clients["ours"]),
                                                         "ref": partial(cpu_per_gb, "ref", n_cpu, clients["ours"])},
                                                        2 * repeats),
                                            (("ref", "ours"),))
    # The simulators differ several-fold: three repetitions suffice.
    n_sim = 5 if args.quick else 40
    cases = {"ours": partial(case_sim_ours, n_sim, clients["ours"])}
    if karabo_bridge is not None:
        cases["ref"] = partial(case_sim_reference, n_sim, clients["ours"])
    results["simulator AGIPD module raw random"] = {
        "trains": n_sim, "trains_per_s": summarize(interleaved(cases, min(repeats, 3)), (("ours", "ref"),))}


def targets(results: dict) -> list[dict]:
    """Every target of the issue with its measured value, verdict and the line that prints it.

    Ratios print as ``ratio FIGURE: COMPARED = VALUEx (target >= Tx; ...) PASS``, absolute figures as
    ``check FIGURE < T UNIT: VALUE UNIT PASS`` (the formats ``python -m benchmarks`` collects).  A
    ratio is the median of the ratios within repetitions; its interquartile range follows the target.
    """
    out = []

    def ratio(figure: str, compared: str, summary: dict | None, limit: float | None, why: str = "") -> None:
        value = summary and summary["median"]
        result = "n/a" if value is None else "" if limit is None else "PASS" if value >= limit else "FAIL"
        shown = "n/a" if value is None else f"{value:.2f}x"
        runs = f"{len(summary['runs'])} repetitions, IQR {summary['q1']:.2f}-{summary['q3']:.2f}x" if summary else ""
        line = (f"ratio {figure}: {compared} = {shown} ({runs}; no target: {why})" if limit is None
                else f"ratio {figure}: {compared} = {shown} (target >= {limit}x; {runs}) {result}")
        out.append({"name": f"{figure}: {compared}", "value": value, "target": "" if limit is None else f">= {limit}x",
                    "result": result, "line": line})

    def check(figure: str, value: float, limit: float, unit: str) -> None:
        result = "PASS" if value < limit else "FAIL"
        out.append({"name": figure, "value": value, "target": f"< {limit} {unit}", "result": result,
                    "line": f"check {figure} < {limit} {unit}: {value:.3f} {unit} {result}"})

    for label, res in results["sizes"].items():
        for pattern, summary in res["transfer"].items():
            ratios = summary["ratios"]
            ratio(f"{label} {pattern}", "ours->ours/zmq", ratios["ours->ours/zmq"], 0.9)
            ratio(f"{label} {pattern}", "ours->ours/ref->ref", ratios.get("ours->ours/ref->ref"), 1.0)
            ratio(f"{label} {pattern}", "ours->ref/ref->ref", ratios.get("ours->ref/ref->ref"), 1.0)
            ratio(f"{label} {pattern}", "ours->ours/zmq reusing memory", ratios["ours->ours/zmq reusing memory"],
                  None, "raw pyzmq with our client's malloc settings, for information")
            ratio(f"{label} {pattern}", "ours->ours/zmq small sndbuf", ratios["ours->ours/zmq small sndbuf"],
                  None, "raw pyzmq with our server's loopback send buffer, for information")
        pipe = res["pipeline"]["ratios"]
        ratio(f"{label} pipeline->bridge->client", "pipeline/zmq relay", pipe["pipeline/zmq relay"], 0.8)
        ratio(f"{label} pipeline->bridge->client", "pipeline/zmq PUSH one hop", pipe["pipeline/zmq PUSH"], None,
              "the path has two hops")
        verdict = "PASS" if res["pipeline_no_copy"] else "FAIL"
        out.append({"name": f"{label} pipeline path without array copy", "value": res["pipeline_no_copy"],
                    "target": "True", "result": verdict,
                    "line": f"check {label} pipeline path sends the received buffers (no array copy): "
                            f"{res['pipeline_no_copy']} {verdict}"})
        check(f"{label} server-added latency p99", res["latency"]["p99"] * 1e3, 1.0, "ms")
        check(f"{label} client decode per train", res["decode"]["ours"] * 1e3, 0.1, "ms")
    small = results["small train"]
    check("small train server-added latency p99", small["latency"]["p99"] * 1e3, 1.0, "ms")
    check("small train client decode per train", small["decode"]["ours"] * 1e3, 0.1, "ms")
    cpu = results.get("cpu_s_per_gb")
    ratio("server CPU per GB", "ref/ours", cpu and cpu["ratios"]["ref/ours"], 1.0)
    sim = results["simulator AGIPD module raw random"]["trains_per_s"]["ratios"]
    ratio("simulator trains/s", "ours/ref", sim.get("ours/ref"), 3.0)
    return out


def _iqr(summary: dict, scale: float = 1.0, digits: int = 1) -> str:
    return (f"{summary['median'] * scale:9.{digits}f} "
            f"[{summary['q1'] * scale:.{digits}f}-{summary['q3'] * scale:.{digits}f}]")


def report(results: dict) -> None:
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in results['load'])}; "
          f"at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("figures: median [interquartile range] of interleaved repetitions")
    for label, res in results["sizes"].items():
        print(f"\n{label} ({res['repeats']} repetitions of {res['trains']} trains, {res['bytes'] / 1e6:.1f} MB/train)")
        for pattern, summary in res["transfer"].items():
            for case, rates in summary["cases"].items():
                mb_s = rates["median"] * res["bytes"] / 1e6
                print(f"  {pattern:4s} {case:18s} {_iqr(rates)} trains/s {mb_s:7.0f} MB/s")
        for case, rates in res["pipeline"]["cases"].items():
            print(f"  {case:23s} {_iqr(rates)} trains/s {rates['median'] * res['bytes'] / 1e6:7.0f} MB/s")
        lat, dec = res["latency"], res["decode"]
        print(f"  server-added latency p50 {lat['p50'] * 1e6:.0f} µs, p99 {lat['p99'] * 1e6:.0f} µs")
        print("  decode per train: " + ", ".join(f"{k} {v * 1e6:.1f} µs" for k, v in dec.items()))
    small = results["small train"]
    print(f"\nsmall train: server-added latency p50 {small['latency']['p50'] * 1e6:.0f} µs, "
          f"p99 {small['latency']['p99'] * 1e6:.0f} µs; decode "
          + ", ".join(f"{k} {v * 1e6:.1f} µs" for k, v in small["decode"].items()))
    if "cpu_s_per_gb" in results:
        print("server CPU s per GB sent: " + ", ".join(f"{k} {_iqr(v, digits=3).strip()}"
                                                       for k, v in results["cpu_s_per_gb"]["cases"].items()))
    sim = results["simulator AGIPD module raw random"]
    print("simulators (random AGIPD module, REP), trains/s: "
          + ", ".join(f"{k} {_iqr(v).strip()}" for k, v in sim["trains_per_s"]["cases"].items()))
    print()
    for t in results["targets"]:
        print(t["line"])


def main() -> int:
    """Run every case and print trains/s, MB/s, latencies, CPU and the targets."""
    if len(sys.argv) == 3 and sys.argv[1] == "--client-process":
        client_process(sys.argv[2])
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-for-cpu":
        serve_for_cpu(sys.argv[2], int(sys.argv[3]))
        return 0
    if len(sys.argv) == 5 and sys.argv[1] == "--pull-and-ack":
        pull_and_ack(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: few trains, module-sized data only")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--repeats", type=int, default=7,
                   help="interleaved repetitions of each case, twice as many for module-sized transfers and the "
                        "server CPU (medians reported; 1 with --quick)")
    args = p.parse_args()
    results = measure(args)
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    else:
        report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
