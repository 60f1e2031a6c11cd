"""Smoke test of benchmarks/bench_daq.py: it runs with --quick and prints its ratio lines."""

import json
import os
import subprocess
import sys

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "benchmarks")


def test_bench_daq_quick():
    p = subprocess.run([sys.executable, os.path.join(BENCH, "bench_daq.py"), "--quick"], capture_output=True,
                       text=True, check=False, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    for line in ("ratio RunWriter/tofile throughput (no fsync) = ", "ratio RunWriter/h5py throughput (fsync) = "):
        assert line in p.stdout, p.stdout
    p = subprocess.run([sys.executable, os.path.join(BENCH, "bench_daq.py"), "--quick", "--json"],
                       capture_output=True, text=True, check=False, timeout=120)
    assert json.loads(p.stdout)["throughput_ratios"]["fsync"]["RunWriter/tofile"] > 0
