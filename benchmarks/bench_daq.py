"""Recording one AGIPD module: pykarabo's RunWriter vs ``numpy.ndarray.tofile`` vs plain h5py.

Each contender writes the same trains — ``image.data`` (64, 512, 128) uint16 plus per-frame
``cellId`` (uint16), ``pulseId`` and ``trainId`` (uint64) — to a fresh file in ``--dir``:

* **tofile**: the raw bytes appended to one binary file (the floor: no format at all);
* **h5py**: one chunked dataset per key, chunks of one frame, resized and written per train
  with ``ds[a:b] = frames`` (what a straightforward HDF5 writer does);
* **RunWriter**: a complete EXDF sequence file (INDEX, METADATA, RUN, one frame per chunk via
  direct chunk writes) through ``RunWriter.write_train``.

Measured twice: without fsync (page cache: the format's CPU overhead) and with ``fsync`` of the
file at close (disk bound).  Contenders alternate round robin (the order rotated every round); the figure is the median
over ``--repeats`` whole runs.  Targets: RunWriter >= 0.75x tofile's throughput without fsync,
>= 0.9x with fsync, >= 1.2x plain h5py without fsync (with fsync both HDF5 writers wait for
the same disk; that ratio is shown without a target).

Fairness: every contender writes the same bytes to a fresh file in the same directory, and
``os.sync()`` runs before each one, so nobody pays for the write-back of another's dirty pages.
Without fsync a run ends when the data are in the page cache: the figure is the format's CPU and
memory-copy cost (the disk is not waited for unless the dirty-page limit is reached).  With fsync
(``fsync`` of the file at close; RunWriter also syncs the directory after its rename) the figure
includes the disk.  The page-cache state is printed with the results.

End to end: the bound detector example (``examples/bound_detector.py``, the same (64, 512, 128)
uint16 trains) sends as fast as it is taken to the DAQ device (middlelayer ``DaqWriter`` and bound
``BoundDaqWriter``, ``wait`` inputs) on the embedded broker; a round is one run: ``startRun``, the
detector's K trains, until ``trainsWritten`` is K, then ``stopRun``.  Reported: trains/s and MB/s
(median round) and the ratio to RunWriter's own rate without fsync from the same run.
"""

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # examples/
from _common import dump_json, environment, fmt_ratio, fmt_time, parser, print_table

from pykarabo import Hash
from pykarabo.daq import RunWriter

SOURCE = "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf"


def make_trains(n, frames, first=1_000_000_000):
    """Trains of one module: the same image block (contents do not matter uncompressed)."""
    image = np.random.default_rng(0).integers(0, 16000, (frames, 512, 128), dtype=np.uint16)
    cell = np.arange(frames, dtype=np.uint16)
    pulse = np.arange(frames, dtype=np.uint64)
    return [(first + i, image, cell, pulse, np.full(frames, first + i, np.uint64)) for i in range(n)]


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def run_tofile(trains, directory, fsync):
    path = os.path.join(directory, "raw.bin")
    with open(path, "wb") as f:
        for _, image, cell, pulse, tid in trains:
            image.tofile(f)
            cell.tofile(f)
            pulse.tofile(f)
            tid.tofile(f)
        if fsync:
            f.flush()
            os.fsync(f.fileno())


def run_h5py(trains, directory, fsync):
    path = os.path.join(directory, "plain.h5")
    frames = trains[0][1].shape[0]
    with h5py.File(path, "w") as f:
        g = f.create_group("INSTRUMENT/" + SOURCE + "/image")
        data = g.create_dataset("data", shape=(0, 512, 128), maxshape=(None, 512, 128), dtype=np.uint16,
                                chunks=(1, 512, 128))
        small = {k: g.create_dataset(k, shape=(0,), maxshape=(None,), dtype=dt, chunks=(frames,))
                 for k, dt in (("cellId", np.uint16), ("pulseId", np.uint64), ("trainId", np.uint64))}
        n = 0
        for _, image, cell, pulse, tid in trains:
            for ds in (data, *small.values()):
                ds.resize(n + frames, axis=0)
            data[n:n + frames] = image
            small["cellId"][n:n + frames] = cell
            small["pulseId"][n:n + frames] = pulse
            small["trainId"][n:n + frames] = tid
            n += frames
    if fsync:
        _fsync(path)


def run_runwriter(trains, directory, fsync):
    with RunWriter(directory, 1, max_trains=len(trains), fsync=fsync, flush_interval=None,
                   aggregators={"AGIPD00": [SOURCE]}) as w:
        w.add_instrument_source(SOURCE, pulse_groups=("image",))
        for tid, image, cell, pulse, tids in trains:
            w.write_train(tid, None, {SOURCE: Hash("image.data", image, "image.cellId", cell,
                                                   "image.pulseId", pulse, "image.trainId", tids)})


CONTENDERS = {"tofile": run_tofile, "h5py": run_h5py, "RunWriter": run_runwriter}
WAIT = 300.0   # seconds a device round may take at most


class _LoopThread:
    """An asyncio loop in a thread of its own, hosting the middlelayer device."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="bench loop")
        self.thread.start()

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(WAIT)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class DeviceBench:
    """Per DAQ device class, a bound detector module feeding it over the embedded broker."""

    def __init__(self, frames, base):
        from examples.bound_detector import BoundDetectorModule
        from pykarabo.bound import startDevice
        from pykarabo.daq.bound_device import BoundDaqWriter
        from pykarabo.daq.mdl_device import DaqWriter
        from pykarabo.net.broker.embedded import privateEmbeddedUrl
        from pykarabo.net.broker.threads import ThreadedSignalSlotable

        broker, topic = privateEmbeddedUrl(), f"benchdaq{os.getpid()}"
        self.host = ThreadedSignalSlotable(f"bench-daq-{os.getpid()}", broker=broker, topic=topic)
        self.host.start()   # first on the bus: hosts the embedded broker
        self.loop = _LoopThread()
        self.detectors, self.daqs, self.get = {}, {}, {}
        for kind in ("DaqWriter", "BoundDaqWriter"):
            det = self.detectors[kind] = startDevice(BoundDetectorModule, Hash(
                "deviceId", f"BENCHDAQ/{kind}/DET", "frequency", 0.0, "pulses", frames), broker=broker, topic=topic)
            config = {"deviceId": f"BENCHDAQ/{kind}/DAQ",
                      "input.connectedOutputChannels": [f"{det.getInstanceId()}:output"],
                      "input.onSlowness": "wait", "directory": os.path.join(base, kind), "maxWait": 10.0,
                      "flushInterval": 10.0, "trainsPerFile": 500}
            if kind == "DaqWriter":
                daq = DaqWriter(config)
                self.loop.run(daq.startInstance(broker=broker, topic=topic))
                self.get[kind] = lambda key, daq=daq: getattr(daq, key).value
            else:
                daq = startDevice(BoundDaqWriter, Hash(config), broker=broker, topic=topic)
                self.get[kind] = daq.get
            self.daqs[kind] = daq
        for kind, det in self.detectors.items():
            det.waitForInputs("output", 1, WAIT)

    def round(self, kind, trains):
        """Seconds from the detector's start until the DAQ wrote ``trains`` trains and closed the run."""
        daqId, det, get = f"BENCHDAQ/{kind}/DAQ", self.detectors[kind], self.get[kind]
        self.host.request(daqId, "startRun").waitForReply(int(WAIT * 1000))
        det.set("numTrains", trains)
        os.sync()   # as for the file contenders: no write-back of earlier runs during this one
        t0 = time.perf_counter()
        det.execute("start")
        while get("trainsWritten") < trains:   # published every 0.1 s: at most that much late
            if time.perf_counter() - t0 > WAIT:
                raise RuntimeError(f"{kind} wrote {get('trainsWritten')} of {trains} trains in {WAIT} s")
            time.sleep(0.002)
        self.host.request(daqId, "stopRun").waitForReply(int(WAIT * 1000))
        elapsed = time.perf_counter() - t0
        if get("droppedTrains") or get("incompleteTrains"):
            raise RuntimeError(f"{kind} dropped or left incomplete trains")
        shutil.rmtree(get("runDirectory"))
        return elapsed

    def close(self):
        for kind, daq in self.daqs.items():
            if kind == "DaqWriter":
                self.loop.run(daq.slotKillDevice())
            else:
                daq.slotKillDevice()
        for det in self.detectors.values():
            det.slotKillDevice()
        self.loop.close()
        self.host.stop()


def measure_devices(frames, trains, base, repeats):
    bench = DeviceBench(frames, base)
    try:
        for kind in bench.daqs:
            bench.round(kind, max(1, trains // 10))   # warm-up: connections, buffer pools
        times = {kind: [] for kind in bench.daqs}
        for _ in range(repeats):   # interleaved: a change of load hits both alike
            for kind in bench.daqs:
                times[kind].append(bench.round(kind, trains))
    finally:
        bench.close()
    return {k: {"median": statistics.median(v), "min": min(v), "repeats": repeats} for k, v in times.items()}


def page_cache_note():
    """Dirty-page limits and free memory: whether 'no fsync' runs can stay in the page cache."""
    info = {}
    try:
        for name in ("dirty_ratio", "dirty_background_ratio"):
            with open(f"/proc/sys/vm/{name}") as f:
                info[name] = int(f.read())
        with open("/proc/meminfo") as f:
            mem = dict(line.split(":", 1) for line in f)
        info["MemAvailable_MiB"] = int(mem["MemAvailable"].split()[0]) // 1024
    except (OSError, KeyError, ValueError):
        pass
    return info


def measure(trains, base, fsync, repeats):
    times = {k: [] for k in CONTENDERS}
    names = list(CONTENDERS)
    for r in range(repeats):
        for name in names[r % 3:] + names[:r % 3]:   # rotated: no contender always follows the same one
            fn = CONTENDERS[name]
            d = tempfile.mkdtemp(dir=base)
            os.sync()   # no contender pays for the write-back of the previous one's dirty pages
            t0 = time.perf_counter()
            fn(trains, d, fsync)
            times[name].append(time.perf_counter() - t0)
            shutil.rmtree(d)
    return {k: {"median": statistics.median(v), "min": min(v), "repeats": repeats} for k, v in times.items()}


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--dir", default=None, help="directory to write in (default: a temporary directory in /tmp)")
    p.add_argument("--trains", type=int, default=None, help="trains per run (default 200, quick 5)")
    args = p.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    ntrains = args.trains or (5 if args.quick else 200)
    frames = 4 if args.quick else 64
    trains = make_trains(ntrains, frames)
    nbytes = sum(sum(a.nbytes for a in t[1:]) for t in trains)
    base = tempfile.mkdtemp(prefix="bench_daq_", dir=args.dir)
    try:
        results = {"no fsync": measure(trains, base, False, repeats), "fsync": measure(trains, base, True, repeats)}
        devices = measure_devices(frames, ntrains, base, repeats)
    finally:
        shutil.rmtree(base)
    writerRate = nbytes / results["no fsync"]["RunWriter"]["median"]
    endToEnd = {kind: {"trains_per_s": ntrains / m["median"], "MB_per_s": nbytes / m["median"] / 1e6,
                       "ratio_to_RunWriter": nbytes / m["median"] / writerRate, **m} for kind, m in devices.items()}
    load = os.getloadavg()
    cache = page_cache_note()
    ratios = {}
    for mode, r in results.items():
        ratios[mode] = {"RunWriter/tofile": r["tofile"]["median"] / r["RunWriter"]["median"],
                        "RunWriter/h5py": r["h5py"]["median"] / r["RunWriter"]["median"]}
    # with fsync both HDF5 writers wait for the same disk: their ratio is shown, not targeted
    targets = {("no fsync", "RunWriter/tofile"): 0.75, ("fsync", "RunWriter/tofile"): 0.9,
               ("no fsync", "RunWriter/h5py"): 1.2, ("fsync", "RunWriter/h5py"): None}
    if args.json:
        dump_json({"environment": environment(), "load": load, "page_cache": cache, "trains": ntrains,
                   "frames": frames, "bytes": nbytes, "results": results, "throughput_ratios": ratios,
                   "targets": {f"{m} {k}": v for (m, k), v in targets.items()},
                   "pass": {f"{m} {k}": ratios[m][k] >= v for (m, k), v in targets.items() if v is not None},
                   "end_to_end": endToEnd})
        return 0
    print(f"{ntrains} trains x {frames} frames of (512, 128) uint16 + cellId/pulseId/trainId "
          f"= {nbytes / 2**20:.0f} MiB per run, median of {repeats} runs")
    rows = []
    for mode, r in results.items():
        for name, m in r.items():
            rows.append([f"{name} ({mode})", fmt_time(m["median"]), f"{nbytes / m['median'] / 2**20:.0f} MiB/s"])
    print_table(["contender", "time", "throughput"], rows)
    for (mode, key), target in targets.items():
        r = ratios[mode][key]
        goal = "no target" if target is None else f"target >= {target}x) {'PASS' if r >= target else 'FAIL'}"
        print(f"ratio {key} throughput ({mode}) = {fmt_ratio(r)} ({goal}".rstrip(")") + (")" if target is None else ""))
    print()
    print(f"end to end: bound detector -> DAQ device, {ntrains} trains per run, median of {repeats} runs")
    print_table(["device", "time", "trains/s", "MB/s", "vs RunWriter (no fsync)"],
                [[k, fmt_time(e["median"]), f"{e['trains_per_s']:.1f}", f"{e['MB_per_s']:.0f}",
                  fmt_ratio(e["ratio_to_RunWriter"])] for k, e in endToEnd.items()])
    print()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores; page cache: {cache}")
    print("no fsync = until the data are in the page cache (format overhead and memory copies; a run larger than "
          "the dirty-page limit also waits for the disk); fsync = until they are on disk. os.sync() ran before "
          "every contender.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
