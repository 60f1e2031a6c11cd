"""Smoke test of benchmarks/bench_middlelayer.py: it runs with --quick and prints its ratio lines."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_middlelayer.py"


def test_bench_middlelayer_quick():
    p = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    for line in ("ratio slot round trip: middlelayer/transport = ",
                 "ratio observed updates/s: middlelayer/reference = ",
                 "ratio pipeline items/s: middlelayer/reference = "):
        assert line in p.stdout, p.stdout
