"""Bound API: the correction chain detector -> calibration -> sink in one process, 1, 2 and 4 handler threads.

The example devices of ``examples/bound_*.py`` run on the embedded broker: a detector module
sends trains of (64, 512, 128) uint16 as fast as they are taken (``wait`` inputs); N calibration
devices share them (``shared`` distribution, so N input handlers run in parallel on the handler
pool), correct each with numpy (offset/gain per pixel and cell, float32) and forward it; one sink
takes all N outputs and counts.  Per N, several rounds of K trains are timed from ``start`` to the
sink's end-of-stream; trains/s is K / median round time.

The devices of one process hand their trains over in memory (Karabo's "local" memory location:
the inputs' connection info says so because they share the process id), so the handlers' numpy
work, not loopback copies, decides the throughput; the detector cycles through pre-generated frames.

References measured in the same run: ``numpy 1`` / ``numpy 2`` (the correction alone in one or two
plain threads, no devices or pipelines: what one handler thread could do at most, and how far numpy
work scales over two threads on this machine: the cores are shared with whatever else runs, see the
load printed) and the same chain built from real Karabo 3.1.2 C++ channels (karabind's
``OutputChannel``/``InputChannel``, which Karabo's bound API wraps), with the same numpy handler
and, like our N devices, N sets of constants.  The channels are driven directly, without
``karabo.bound``'s device layer and broker: that layer would only add its own Python work per
train (and a RabbitMQ to the benchmark), so the reference is, if anything, faster than real
bound devices:

* ``karabo bound N``: as real bound devices run.  Karabo's bound server starts every device as an
  OS process of its own (spec device-apis.md §1.1), so the detector, the N calibrations and the
  sink are N + 2 processes and their channels are TCP ("remote": the peers' process ids differ).
  The processes do not share a GIL.  This is the reference of the >= 1.5x target.
* ``karabo local N``: for information, the chain in one process with ``memoryLocation`` "local"
  (Karabo's in-process shortcut), N extra event-loop threads.  Only C++ devices of one C++ server
  get this; bound Python devices never share a process.

Targets of issue #8: > 1.6x from 1 to 2 threads; >= 1.5x Karabo bound.

    python benchmarks/bench_bound.py [--quick] [--rounds R] [--trains K] [--karabo-python PATH|none]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
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

# What both Karabo companions below run: karabind's event loop, the detector's trains and the
# calibration handler (numpy correction as in examples/bound_calibration.py, forwarding on ``out``).
_KARABO_COMMON = r'''
import json, sys, threading, time
import numpy as np
import karabind as k
threading.Thread(target=k.EventLoop.work, daemon=True).start()

def output(device, noInputShared="drop"):
    cfg = k.Hash(); cfg.set("port", 0); cfg.set("hostname", "127.0.0.1"); cfg.set("noInputShared", noInputShared)
    return k.OutputChannel.create(device, "output", cfg)

def input(device, outputs, distribution):
    cfg = k.Hash(); cfg.set("connectedOutputChannels", [f"{o}:output" for o in outputs])
    cfg.set("onSlowness", "wait"); cfg.set("dataDistribution", distribution)
    return k.InputChannel.create(device, "input", cfg)

def connect(inp, device, info, memory):
    info.set("outputChannelString", device + ":output"); info.set("memoryLocation", memory)
    inp.connectSync(info)

def detector(pulses):
    # Pre-generated frames, as our detector device cycles through.
    frames = [np.random.default_rng(0).integers(0, 16384, size=(pulses, 512, 128), dtype=np.uint16)
              for _ in range(4)]
    cells = np.arange(pulses, dtype=np.uint16)
    tid = [10_000_000]

    def send(out, trains):
        for _ in range(trains):
            t = tid[0]; tid[0] += 1
            h = k.Hash(); h.set("image.data", frames[t % 4]); h.set("image.cellId", cells)
            h.set("image.pulseId", np.arange(t * 1000, t * 1000 + pulses, dtype=np.uint64)); h.set("trainId", t)
            out.write(h, k.ChannelMetaData("det:output", k.Timestamp(k.Epochstamp(), k.TimeId(t))))
            out.update(safeNDArray=True)
        out.signalEndOfStream()
    return send

def cellIndex(c):
    first = int(c[0])
    return slice(first, first + len(c)) if np.array_equal(c, np.arange(first, first + len(c))) else c

def calibration(out, source):
    # Constants of its own per calibration, as every BoundCalibration device has (shared ones
    # would stay in the L3 cache across handlers, which separate devices do not get).
    rng = np.random.default_rng(1)
    offset = (1000 + rng.normal(0, 10, (352, 512, 128))).astype(np.float32)
    gain = rng.normal(1, 0.02, (352, 512, 128)).astype(np.float32)

    def onData(data, meta):
        raw = data["image.data"]; c = data["image.cellId"]; index = cellIndex(c)
        corrected = np.subtract(raw, offset[index], dtype=np.float32)
        np.multiply(corrected, gain[index], out=corrected)
        h = k.Hash(); h.set("image.data", corrected); h.set("image.cellId", c)
        h.set("image.pulseId", data["image.pulseId"]); h.set("trainId", data["trainId"])
        stamp = k.Timestamp(k.Epochstamp(), k.TimeId(int(data["trainId"])))   # meta arrives as a Hash
        out.write(h, k.ChannelMetaData(source, stamp)); out.update(safeNDArray=True)
    return onData
'''

# The chain of Chain below in one process ("local"): detector -> N shared inputs, each forwarding
# on its own output -> one sink.  Reads "TRAINS" lines, answers {"time": seconds, "count": trains}.
_KARABO_LOCAL = _KARABO_COMMON + r'''
n, pulses = int(sys.argv[1]), int(sys.argv[2])
k.EventLoop.addThread(n + 2)          # the handlers of n inputs in parallel, plus the sink and I/O
det = output("det", "wait")
send = detector(pulses)
done = threading.Event(); count = [0]; target = [0]

def counted(data, meta):
    # Finished at the last train: the end-of-stream of a chain of concurrent C++ handlers can
    # overtake a train still being forwarded.
    count[0] += 1
    if count[0] == target[0]:
        done.set()
sink = input("sink", [f"cal{i}" for i in range(n)], "copy")
sink.registerDataHandler(counted)
for i in range(n):
    out = output(f"cal{i}")
    inp = input(f"cal{i}", ["det"], "shared")
    inp.registerDataHandler(calibration(out, f"cal{i}:output"))
    inp.registerEndOfStreamEventHandler(lambda _, out=out: out.signalEndOfStream())
    connect(inp, "det", det.getInformation(), "local")
    connect(sink, f"cal{i}", out.getInformation(), "local")
time.sleep(0.5)
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    done.clear(); count[0] = 0; target[0] = int(line)
    t0, c0 = time.perf_counter(), time.process_time()
    send(det, int(line))
    done.wait(120)
    print(json.dumps({"time": time.perf_counter() - t0, "cpu": time.process_time() - c0, "count": count[0]}),
          flush=True)
'''

# One device of the chain as a bound device runs: a process of its own, TCP channels ("remote":
# the peers' process ids differ).  argv: role (det | cal<i> | sink), pulses, JSON list of the
# output ports it reads from.  Every role prints {"port": its output port} (0 for the sink) once
# its inputs are connected.  det: sends the trains of each stdin line "TRAINS", then end-of-stream.
# sink: for each stdin line "TRAINS" answers {"armed": true}, then {"count": trains} at the last.
_KARABO_DEVICE = _KARABO_COMMON + r'''
role, pulses, peers = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
k.EventLoop.addThread(2)              # the input's handler and the I/O
names = [f"peer{i}" for i in range(len(peers))]

def connectPeers(inp):
    for name, port in zip(names, peers):
        info = k.Hash(); info.set("connectionType", "tcp"); info.set("hostname", "127.0.0.1")
        info.setAs("port", port, k.Types.UINT32)
        connect(inp, name, info, "remote")

if role == "det":
    out = output(role, "wait")
    send = detector(pulses)
    print(json.dumps({"port": out.getInformation()["port"]}), flush=True)
    for line in sys.stdin:
        send(out, int(line))
elif role.startswith("cal"):
    out = output(role)
    inp = input(role, names, "shared")
    inp.registerDataHandler(calibration(out, role + ":output"))
    inp.registerEndOfStreamEventHandler(lambda _: out.signalEndOfStream())
    connectPeers(inp)
    time.sleep(0.3)
    print(json.dumps({"port": out.getInformation()["port"]}), flush=True)
    sys.stdin.read()                  # until the benchmark ends
else:
    done = threading.Event(); count = [0]; target = [0]

    def counted(data, meta):
        count[0] += 1
        if count[0] == target[0]:
            done.set()
    inp = input(role, names, "copy")
    inp.registerDataHandler(counted)
    connectPeers(inp)
    time.sleep(0.3)
    print(json.dumps({"port": 0}), flush=True)
    for line in sys.stdin:
        done.clear(); count[0] = 0; target[0] = int(line)
        print(json.dumps({"armed": True}), flush=True)
        done.wait(120)
        print(json.dumps({"count": count[0]}), flush=True)
'''


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

    def round(self, trains: int) -> tuple[float, float]:
        """(seconds, CPU seconds of this process) to get ``trains`` corrected trains through
        (start to the sink's end-of-stream)."""
        self.sink.ended.clear()
        before = self.sink["trainsReceived"]
        self.det.set("numTrains", trains)
        t0, c0 = time.perf_counter(), time.process_time()
        self.det.execute("start")
        if not self.sink.ended.wait(WAIT):
            raise RuntimeError(f"the chain did not end within {WAIT} s")
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        received = self.sink["trainsReceived"] - before
        if received != trains:
            raise RuntimeError(f"the sink got {received} of {trains} trains")
        return elapsed, cpu

    def close(self) -> None:
        for device in (self.det, *self.cals, self.sink):
            device.slotKillDevice()


def _cpuSeconds(pid: int) -> float:
    """CPU seconds (user + system, all threads) the process ``pid`` used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Companion:
    """A process of the Karabo venv running one of the scripts above, talking JSON lines."""

    def __init__(self, python: str, script: str, *args: str) -> None:
        self.proc = subprocess.Popen([python, "-c", script, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)

    def ask(self, line: str | None = None) -> dict:
        if line is not None:
            self.proc.stdin.write(f"{line}\n")
            self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise RuntimeError("a Karabo companion process ended")
        return json.loads(answer)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


class KaraboLocalChain:
    """The chain of real Karabo C++ channels in one companion process ("local"), kept between rounds."""

    def __init__(self, python: str, n: int, pulses: int) -> None:
        self.companion = _Companion(python, _KARABO_LOCAL, str(n), str(pulses))
        if not self.companion.ask().get("ready"):
            raise RuntimeError("the Karabo companion did not start")

    def round(self, trains: int) -> tuple[float, float]:
        """(seconds, CPU seconds of the process) to get ``trains`` corrected trains through."""
        result = self.companion.ask(str(trains))
        if result["count"] != trains:
            raise RuntimeError(f"the Karabo chain delivered {result['count']} of {trains} trains")
        return result["time"], result["cpu"]

    def close(self) -> None:
        self.companion.close()


class KaraboBoundChain:
    """The chain as real bound devices run it: one process per device, TCP channels between them."""

    def __init__(self, python: str, n: int, pulses: int) -> None:
        self.devices: list[_Companion] = []
        try:
            self.det = self._start(python, "det", pulses, [])
            det = self.det.ask()["port"]
            cals = [self._start(python, f"cal{i}", pulses, [det]) for i in range(n)]
            ports = [cal.ask()["port"] for cal in cals]
            self.sink = self._start(python, "sink", pulses, ports)
            self.sink.ask()
        except Exception:
            self.close()
            raise

    def _start(self, python: str, role: str, pulses: int, peers: list[int]) -> _Companion:
        device = _Companion(python, _KARABO_DEVICE, role, str(pulses), json.dumps(peers))
        self.devices.append(device)
        return device

    def round(self, trains: int) -> tuple[float, float]:
        """(seconds, CPU seconds of all the chain's processes) to get ``trains`` corrected trains through."""
        self.sink.ask(str(trains))                    # armed: counts from now on
        c0 = sum(_cpuSeconds(d.proc.pid) for d in self.devices)
        t0 = time.perf_counter()
        self.det.proc.stdin.write(f"{trains}\n")
        self.det.proc.stdin.flush()
        result = self.sink.ask()
        elapsed = time.perf_counter() - t0
        if result["count"] != trains:
            raise RuntimeError(f"the Karabo chain delivered {result['count']} of {trains} trains")
        return elapsed, sum(_cpuSeconds(d.proc.pid) for d in self.devices) - c0

    def close(self) -> None:
        for device in self.devices:
            device.close()


def numpyReference(pulses: int, trains: int, threads: int) -> tuple[float, float]:
    """(seconds, CPU seconds) for ``trains`` corrections with numpy alone, split over ``threads`` plain threads.

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
    t0, c0 = time.perf_counter(), time.process_time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: few small trains (numbers are not meaningful)")
    p.add_argument("--rounds", type=int, default=None, help="timed rounds per configuration (default 5, quick 1)")
    p.add_argument("--trains", type=int, default=None, help="trains per round (default 100, quick 3)")
    p.add_argument("--karabo-python", default=os.environ.get("PYKARABO_KARABO_PYTHON", "/work/kvenv312/bin/python"),
                   help="interpreter with karabo-cpp (karabind) for the reference chain, or 'none'")
    args = p.parse_args()
    rounds = args.rounds or (1 if args.quick else 5)
    trains = args.trains or (3 if args.quick else 100)
    pulses = 4 if args.quick else 64
    karabo = args.karabo_python if args.karabo_python != "none" and os.path.exists(args.karabo_python) else None
    broker = privateEmbeddedUrl()
    topic = f"benchbound{os.getpid()}"
    host = ThreadedSignalSlotable(f"bench-bound-{os.getpid()}", broker=broker, topic=topic)
    host.start()   # hosts the embedded broker for the whole run
    chains: dict[str, Chain | KaraboLocalChain | KaraboBoundChain] = {}
    unavailable = "karabo: reference unavailable (no karabo-cpp interpreter given or found)"
    try:
        for n in THREADS:
            chains[f"{n} threads"] = Chain(n, pulses, broker, topic)
        if karabo:
            try:
                for n in THREADS:
                    chains[f"karabo bound {n}"] = KaraboBoundChain(karabo, n, pulses)
                for n in THREADS:
                    chains[f"karabo local {n}"] = KaraboLocalChain(karabo, n, pulses)
                unavailable = ""
            except (OSError, RuntimeError, ValueError) as e:
                unavailable = f"karabo: reference unavailable ({e})"
        for chain in chains.values():
            chain.round(max(1, trains // 10))   # warm-up: connections, buffer pools
        times: dict[str, list[tuple[float, float]]] = {**{f"numpy {n}": [] for n in THREADS[:2]},
                                                      **{k: [] for k in chains}}
        for _ in range(rounds):   # interleaved, so load changes affect every configuration alike
            for n in THREADS[:2]:
                times[f"numpy {n}"].append(numpyReference(pulses, trains, n))
            for name, chain in chains.items():
                times[name].append(chain.round(trains))
    finally:
        for chain in chains.values():
            chain.close()
        host.stop()
    rate = {name: trains / statistics.median(w for w, _ in t) for name, t in times.items() if t}
    cpu = {name: statistics.median(c for _, c in t) / trains for name, t in times.items() if t}
    print(f"bound correction chain: {trains} trains of ({pulses}, 512, 128) uint16 per round, {rounds} rounds, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    print("CPU ms/train: CPU time per train of the whole process (all its threads; karabo bound: of all its "
          "processes), independent of the load")
    for name, r in rate.items():
        print(f"{name:>16}: {r:8.1f} trains/s  (median {trains / r * 1e3:.0f} ms per round)  "
              f"CPU {cpu[name] * 1e3:6.1f} ms/train")
    for n in THREADS[1:]:
        print(f"ratio scaling {n}/1 threads: {rate[f'{n} threads'] / rate['1 threads']:.2f}")
        if f"karabo local {n}" in rate:
            print(f"ratio scaling karabo local {n}/1 threads: {rate[f'karabo local {n}'] / rate['karabo local 1']:.2f}")
    print(f"ratio scaling numpy alone 2/1 threads: {rate['numpy 2'] / rate['numpy 1']:.2f}")
    print(f"ratio 1 thread chain/numpy alone: {rate['1 threads'] / rate['numpy 1']:.2f}")
    # On idle cores the chain's 2-thread rate is bounded by its CPU per train over 2 cores, and
    # by numpy's own scaling; the share of numpy in the chain's CPU says how close it can get.
    print(f"ratio numpy CPU/chain CPU per train (1 thread): {cpu['numpy 1'] / cpu['1 threads']:.2f}")
    print(f"check scaling 2/1 threads > 1.6: {'pass' if rate['2 threads'] / rate['1 threads'] > 1.6 else 'FAIL'}")
    if unavailable:
        print(unavailable)
        return
    for n in THREADS:
        ratio = rate[f"{n} threads"] / rate[f"karabo bound {n}"]
        print(f"ratio {n} threads ours/karabo bound = {ratio:.2f}")
        print(f"ratio {n} threads ours/karabo local (C++ devices' in-process shortcut) = "
              f"{rate[f'{n} threads'] / rate[f'karabo local {n}']:.2f}")
        print(f"check {n} threads >= 1.5x karabo bound: {'pass' if ratio >= 1.5 else 'FAIL'}")

if __name__ == "__main__":
    main()
