"""Smoke test of benchmarks/bench_middlelayer.py: it runs with --quick and prints its figures and ratio lines.

Only checks that the script works; the numbers of a --quick run mean nothing and are not checked.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.karabo_env import require_karabo_python
from tests.messaging.rabbitmq import findRabbitServer

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_middlelayer.py"


def run(*args: str) -> str:
    p = subprocess.run([sys.executable, str(SCRIPT), "--quick", *args], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


def test_bench_middlelayer_quick_embedded():
    out = run("--rabbitmq", "none", "--karabo-python", "none")
    for line in ("pykarabo embedded ", "no Karabo reference measured",
                 "ratio slot round trip: middlelayer/transport = ",
                 "ratio observed updates/s: middlelayer/reference = ",
                 "ratio pipeline items/s: middlelayer/reference = "):
        assert line in out, out


def test_bench_middlelayer_quick_against_karabo():
    python = require_karabo_python()
    if findRabbitServer() is None:
        pytest.skip("rabbitmq-server not installed: no RabbitMQ for the Karabo reference")
    results = json.loads(run("--json", "--karabo-python", python))
    assert set(results["karabo"]) == {"rtt", "updates", "items"}
    assert all(value > 0 for value in results["rabbitmq"].values())
    # every figure compared on both brokers
    assert len(results["checks"]) == 6
