"""Smoke test of benchmarks/bench_bridge.py: it runs with --quick and prints its ratio lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_bridge.py"


def test_bench_bridge_quick() -> None:
    """The numbers of a --quick run mean nothing; only the script's working is checked."""
    p = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "ratio AGIPD module raw: ours->ours/zmq = " in p.stdout
    assert "ours->ours" in p.stdout
