"""Bound API: the correction chain detector -> calibration -> sink in one process, 1, 2 and 4 handler threads.

The example devices of ``examples/bound_*.py`` run on the embedded broker: a detector module
sends trains of (64, 512, 128) uint16 as fast as they are taken (``wait`` inputs); N calibration
devices share them (``shared`` distribution, so N input handlers run in parallel on the handler
pool), correct each with numpy (offset/gain per pixel and cell, float32) and forward it; one sink
takes all N outputs and counts.  Per N, several rounds of K trains are timed from ``start`` to the
sink's end-of-stream; trains/s is K / median round time.

References measured in the same run: ``numpy 1`` / ``numpy 2`` (the correction alone in one or two
plain threads, no devices or pipelines: what one handler thread could do at most, and how far numpy
work scales over two threads on this machine) and the 1-thread chain for the scaling ratios.
Real Karabo's bound API (``karabo.bound``) is not installed in the Karabo 3.1.2 venv here, so no
Karabo column is measured.  Targets of issue #8: > 1.6x from 1 to 2 threads; >= 1.5x Karabo bound.

    python benchmarks/bench_bound.py [--quick] [--rounds R] [--trains K]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from examples.bound_calibration import BoundCalibration, BoundTrainSink, cellIndex  # noqa: E402
from examples.bound_detector import BoundDetectorModule  # noqa: E402
from pykarabo import Hash  # noqa: E402
from pykarabo.bound import startDevice  # noqa: E402
from pykarabo.net.broker.embedded import privateEmbeddedUrl  # noqa: E402
from pykarabo.net.broker.threads import ThreadedSignalSlotable  # noqa: E402

THREADS = (1, 2, 4)
WAIT = 120.0   # seconds a round may take at most


class Chain:
    """One detector, ``n`` calibration devices sharing its trains, one sink."""

    def __init__(self, n: int, pulses: int, broker: str, topic: str) -> None:
        prefix = f"BENCH/{n}"
        self.sink = startDevice(BoundTrainSink, Hash(
            "deviceId", f"{prefix}/SINK", "input.onSlowness", "wait",
            "input.connectedOutputChannels", [f"{prefix}/CAL{i}:output" for i in range(n)]),
            broker=broker, topic=topic)
        self.cals = [startDevice(BoundCalibration, Hash(
            "deviceId", f"{prefix}/CAL{i}", "input.onSlowness", "wait", "input.dataDistribution", "shared",
            "input.connectedOutputChannels", [f"{prefix}/DET:output"]), broker=broker, topic=topic)
            for i in range(n)]
        # Shared inputs are served by the output's noInputShared policy: "wait", so that nothing is dropped.
        self.det = startDevice(BoundDetectorModule, Hash("deviceId", f"{prefix}/DET", "frequency", 0.0,
                                                         "pulses", pulses, "output.noInputShared", "wait"),
                               broker=broker, topic=topic)
        self.sink.waitInputsConnected(WAIT)
        for cal in self.cals:
            cal.waitInputsConnected(WAIT)
            cal.waitForInputs("output", 1, WAIT)
        self.det.waitForInputs("output", n, WAIT)

    def round(self, trains: int) -> float:
        """Seconds to get ``trains`` corrected trains through (start to the sink's end-of-stream)."""
        self.sink.ended.clear()
        before = self.sink["trainsReceived"]
        self.det.set("numTrains", trains)
        t0 = time.perf_counter()
        self.det.execute("start")
        if not self.sink.ended.wait(WAIT):
            raise RuntimeError(f"the chain did not end within {WAIT} s")
        elapsed = time.perf_counter() - t0
        received = self.sink["trainsReceived"] - before
        if received != trains:
            raise RuntimeError(f"the sink got {received} of {trains} trains")
        return elapsed

    def close(self) -> None:
        for device in (self.det, *self.cals, self.sink):
            device.slotKillDevice()


def numpyReference(pulses: int, trains: int, threads: int) -> float:
    """Seconds for ``trains`` corrections with numpy alone, split over ``threads`` plain threads.

    The same arithmetic as the calibration device: what the machine allows at most, and how far
    numpy work scales over threads here (the cores are shared with other processes).
    """
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 16384, size=(pulses, 512, 128), dtype=np.uint16)
    cells = np.arange(pulses, dtype=np.uint16)
    offset = rng.normal(1000, 10, (352, 512, 128)).astype(np.float32)
    gain = rng.normal(1, 0.02, (352, 512, 128)).astype(np.float32)

    def correct(count: int) -> None:
        for _ in range(count):
            index = cellIndex(cells)
            corrected = np.subtract(raw, offset[index], dtype=np.float32)
            np.multiply(corrected, gain[index], out=corrected)
    workers = [threading.Thread(target=correct, args=(trains // threads + (i < trains % threads),))
               for i in range(threads)]
    t0 = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: few small trains (numbers are not meaningful)")
    p.add_argument("--rounds", type=int, default=None, help="timed rounds per configuration (default 5, quick 1)")
    p.add_argument("--trains", type=int, default=None, help="trains per round (default 100, quick 3)")
    args = p.parse_args()
    rounds = args.rounds or (1 if args.quick else 5)
    trains = args.trains or (3 if args.quick else 100)
    pulses = 4 if args.quick else 64
    broker = privateEmbeddedUrl()
    topic = f"benchbound{os.getpid()}"
    host = ThreadedSignalSlotable(f"bench-bound-{os.getpid()}", broker=broker, topic=topic)
    host.start()   # hosts the embedded broker for the whole run
    chains = {}
    try:
        for n in THREADS:
            chains[n] = Chain(n, pulses, broker, topic)
            chains[n].round(max(1, trains // 10))   # warm-up: connections, buffer pools
        times: dict[str, list[float]] = {**{f"numpy {n}": [] for n in THREADS[:2]},
                                         **{f"{n} threads": [] for n in THREADS}}
        for _ in range(rounds):   # interleaved, so load changes affect every configuration alike
            for n in THREADS[:2]:
                times[f"numpy {n}"].append(numpyReference(pulses, trains, n))
            for n in THREADS:
                times[f"{n} threads"].append(chains[n].round(trains))
    finally:
        for chain in chains.values():
            chain.close()
        host.stop()
    rate = {name: trains / statistics.median(t) for name, t in times.items()}
    print(f"bound correction chain: {trains} trains of ({pulses}, 512, 128) uint16 per round, {rounds} rounds, "
          f"{os.cpu_count()} cores")
    for name, r in rate.items():
        print(f"{name:>10}: {r:8.1f} trains/s  (median {statistics.median(times[name]) * 1e3:.0f} ms per round)")
    for n in THREADS[1:]:
        print(f"ratio scaling {n}/1 threads: {rate[f'{n} threads'] / rate['1 threads']:.2f}")
    print(f"ratio scaling numpy alone 2/1 threads: {rate['numpy 2'] / rate['numpy 1']:.2f}")
    print(f"ratio 1 thread chain/numpy alone: {rate['1 threads'] / rate['numpy 1']:.2f}")
    print("karabo bound: not available (no karabo.bound in the Karabo 3.1.2 venv)")


if __name__ == "__main__":
    main()
