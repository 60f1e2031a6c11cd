"""Recording one AGIPD module: pykarabo's RunWriter vs ``numpy.ndarray.tofile`` vs plain h5py.

Each contender writes the same trains — ``image.data`` (64, 512, 128) uint16 plus per-frame
``cellId`` (uint16), ``pulseId`` and ``trainId`` (uint64) — to a fresh file in ``--dir``:

* **tofile**: the raw bytes appended to one binary file (the floor: no format at all);
* **h5py**: one chunked dataset per key, chunks of one frame, resized and written per train
  with ``ds[a:b] = frames`` (what a straightforward HDF5 writer does);
* **RunWriter**: a complete EXDF sequence file (INDEX, METADATA, RUN, one frame per chunk via
  direct chunk writes) through ``RunWriter.write_train``.

Measured twice: without fsync (page cache: the format's CPU overhead) and with ``fsync`` of the
file at close (disk bound).  Contenders alternate round robin; the figure is the median over
``--repeats`` whole runs.  Targets: RunWriter >= 0.75x tofile's throughput without fsync,
>= 0.9x with fsync, >= 1.2x plain h5py without fsync (with fsync both HDF5 writers wait for
the same disk; that ratio is shown without a target).
"""

import os
import shutil
import statistics
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
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


def measure(trains, base, fsync, repeats):
    times = {k: [] for k in CONTENDERS}
    for _ in range(repeats):
        for name, fn in CONTENDERS.items():
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
    finally:
        shutil.rmtree(base)
    ratios = {}
    for mode, r in results.items():
        ratios[mode] = {"RunWriter/tofile": r["tofile"]["median"] / r["RunWriter"]["median"],
                        "RunWriter/h5py": r["h5py"]["median"] / r["RunWriter"]["median"]}
    # with fsync both HDF5 writers wait for the same disk: their ratio is shown, not targeted
    targets = {("no fsync", "RunWriter/tofile"): 0.75, ("fsync", "RunWriter/tofile"): 0.9,
               ("no fsync", "RunWriter/h5py"): 1.2, ("fsync", "RunWriter/h5py"): None}
    if args.json:
        dump_json({"environment": environment(), "trains": ntrains, "frames": frames, "bytes": nbytes,
                   "results": results, "throughput_ratios": ratios,
                   "targets": {f"{m} {k}": v for (m, k), v in targets.items()}})
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
