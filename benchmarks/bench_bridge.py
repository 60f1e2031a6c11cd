"""Karabo Bridge throughput over 127.0.0.1 (REQ/REP): pykarabo server/client vs karabo-bridge vs raw pyzmq.

Transfer cases move N copies of one pre-generated train (a raw AGIPD module, ~17 MB; without
``--quick`` also a corrected AGIPD 1M train, ~277 MB) and report trains/s measured at the client
(first train excluded, it pays the connection set-up; median of ``--repeats`` alternating runs):

* ``ours->ours``       pykarabo ``BridgeServer`` -> ``pykarabo_bridge.Client``
* ``ours->ref``        pykarabo ``BridgeServer`` -> ``karabo_bridge.Client``
* ``ref->ref``         ``karabo_bridge.server.Sender`` -> ``karabo_bridge.Client``
* ``zmq``              raw pyzmq REP/REQ moving the frames of the same message, serialized once

The simulator case serves random raw AGIPD-module trains from ``pykarabo bridge sim``'s
``Simulator`` and from ``karabo_bridge``'s ``SimServer`` to the same client.

    python benchmarks/bench_bridge.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections.abc import Callable
from functools import partial

import zmq
from pykarabo_bridge import Client, serialize

from pykarabo.bridge import BridgeServer
from pykarabo.bridge.simulation import Simulator, serve_simulation

try:
    import karabo_bridge
    from karabo_bridge.server import Sender, SimServer
except ImportError:     # the reference is optional: its cases are skipped
    karabo_bridge = None


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


def ours_server(train: tuple[dict, dict], n: int) -> tuple[BridgeServer, threading.Thread]:
    """A BridgeServer fed n+1 times with the same train from a producer thread."""
    server = BridgeServer(0, "REP", maxlen=2).start()

    def feed() -> None:
        for _ in range(n + 1):
            server.put(*train, block=True)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return server, thread


def case_ours(train: tuple[dict, dict], n: int, reference_client: bool) -> float:
    """Our server to our client or to the reference client."""
    server, feeder = ours_server(train, n)
    try:
        if reference_client:
            client = karabo_bridge.Client(server.endpoint, timeout=60)
            try:
                return receive(client.next, n)
            finally:
                client._context.destroy(linger=0)
        with Client(server.endpoint, timeout=60) as client:
            return receive(client.next, n)
    finally:
        feeder.join(60)
        server.stop()


def case_reference(train: tuple[dict, dict], n: int) -> float:
    """karabo_bridge's Sender (serializes each train, waits for the request) to its Client."""
    sender = Sender("tcp://127.0.0.1:*", sock="REP")
    endpoint = sender.server_socket.getsockopt_string(zmq.LAST_ENDPOINT)
    thread = threading.Thread(target=lambda: [sender.send(*train) for _ in range(n + 1)], daemon=True)
    thread.start()
    client = karabo_bridge.Client(endpoint, timeout=60)
    try:
        return receive(client.next, n)
    finally:
        thread.join(60)
        client._context.destroy(linger=0)
        sender.zmq_context.destroy(linger=0)


def case_zmq(train: tuple[dict, dict], n: int) -> float:
    """Raw REP/REQ moving the already encoded frames, no decoding."""
    frames = serialize(*train)
    # One context per side, like the bridge cases: each end gets its own ZeroMQ I/O thread.
    ctx, client_ctx = zmq.Context(), zmq.Context()
    rep = ctx.socket(zmq.REP)
    port = rep.bind_to_random_port("tcp://127.0.0.1")

    def serve() -> None:
        for _ in range(n + 1):
            rep.recv()
            rep.send_multipart(frames, copy=False)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    req = client_ctx.socket(zmq.REQ)
    req.connect(f"tcp://127.0.0.1:{port}")

    def next_train() -> None:
        req.send(b"next")
        req.recv_multipart(copy=False)

    try:
        return receive(next_train, n)
    finally:
        thread.join(60)
        client_ctx.destroy(linger=0)
        ctx.destroy(linger=0)


def case_sim_ours(n: int) -> float:
    """Our simulator (random data generated up front) to our client."""
    server = BridgeServer(0, "REP", maxlen=2).start()
    sim = Simulator("AGIPDModule", raw=True)
    feeder = threading.Thread(target=serve_simulation, args=(server, sim, n + 1), daemon=True)
    feeder.start()
    try:
        with Client(server.endpoint, timeout=60) as client:
            return receive(client.next, n)
    finally:
        feeder.join(60)
        server.stop()


def case_sim_reference(n: int) -> float:
    """karabo_bridge's SimServer (random data per train) to our client."""
    sim = SimServer("tcp://127.0.0.1:*", sock="REP", detector="AGIPDModule", raw=True, debug=False)
    endpoint = sim.server_socket.getsockopt_string(zmq.LAST_ENDPOINT)
    data = iter(sim.data)
    thread = threading.Thread(target=lambda: [sim.send(*next(data)) for _ in range(n + 1)], daemon=True)
    thread.start()
    try:
        with Client(endpoint, timeout=60) as client:
            return receive(client.next, n)
    finally:
        thread.join(60)
        sim.zmq_context.destroy(linger=0)


def median_rates(cases: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Median trains/s of each case; cases alternate so load changes hit them alike."""
    runs: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, case in cases.items():
            runs[name].append(case())
    return {name: statistics.median(rates) for name, rates in runs.items()}


def main() -> int:
    """Run every case and print trains/s, MB/s and ratios."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: few trains, module-sized data only")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--repeats", type=int, default=3, help="runs per case (median reported; 1 with --quick)")
    args = p.parse_args()
    sizes = {"AGIPD module raw": (Simulator("AGIPDModule", raw=True), 5 if args.quick else 200)}
    if not args.quick:
        sizes["AGIPD 1M corrected"] = (Simulator("AGIPD", raw=False, pregenerate=1), 20)
    results: dict[str, dict] = {}
    repeats = 1 if args.quick else args.repeats
    for label, (sim, n) in sizes.items():
        train = sim.next_train()
        cases = {"ours->ours": partial(case_ours, train, n, False), "zmq": partial(case_zmq, train, n)}
        if karabo_bridge is not None:
            cases["ours->ref"] = partial(case_ours, train, n, True)
            cases["ref->ref"] = partial(case_reference, train, n)
        results[label] = {"bytes": train_nbytes(train), "trains": n, "trains_per_s": median_rates(cases, repeats)}
    n_sim = 5 if args.quick else 100
    cases = {"ours": lambda: case_sim_ours(n_sim)}
    if karabo_bridge is not None:
        cases["ref"] = lambda: case_sim_reference(n_sim)
    results["simulator AGIPD module raw random"] = {"trains": n_sim, "trains_per_s": median_rates(cases, repeats)}

    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for label, res in results.items():
        size = f", {res['bytes'] / 1e6:.1f} MB/train" if "bytes" in res else ""
        print(f"{label} ({res['trains']} trains{size})")
        for case, rate in res["trains_per_s"].items():
            mbs = f"  {rate * res['bytes'] / 1e6:9.0f} MB/s" if "bytes" in res else ""
            print(f"  {case:12s} {rate:9.1f} trains/s{mbs}")
        rates = res["trains_per_s"]
        if "zmq" in rates:
            print(f"ratio {label}: ours->ours/zmq = {rates['ours->ours'] / rates['zmq']:.2f}")
        if "ref->ref" in rates:
            print(f"ratio {label}: ours->ours/ref->ref = {rates['ours->ours'] / rates['ref->ref']:.2f}")
            print(f"ratio {label}: ours->ref/ref->ref = {rates['ours->ref'] / rates['ref->ref']:.2f}")
        if "ref" in rates:
            print(f"ratio {label}: ours/ref = {rates['ours'] / rates['ref']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
