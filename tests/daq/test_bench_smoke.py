"""Smoke test of benchmarks/bench_daq.py: it runs with --quick and prints its ratio and end-to-end lines."""

import json
import os
import subprocess
import sys

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "benchmarks")


def test_bench_daq_quick():
    p = subprocess.run([sys.executable, os.path.join(BENCH, "bench_daq.py"), "--quick"], capture_output=True,
                       text=True, check=False, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    for line in ("ratio RunWriter/tofile throughput (no fsync) = ", "ratio RunWriter/h5py throughput (fsync) = ",
                 "end to end: bound detector -> DAQ device", "BoundDaqWriter ", "load average"):
        assert line in p.stdout, p.stdout
    p = subprocess.run([sys.executable, os.path.join(BENCH, "bench_daq.py"), "--quick", "--json"],
                       capture_output=True, text=True, check=False, timeout=120)
    result = json.loads(p.stdout)
    assert result["throughput_ratios"]["fsync"]["RunWriter/tofile"] > 0
    assert set(result["pass"]) == {"no fsync RunWriter/tofile", "fsync RunWriter/tofile", "no fsync RunWriter/h5py"}
    assert all(result["end_to_end"][k]["trains_per_s"] > 0 for k in ("DaqWriter", "BoundDaqWriter"))
