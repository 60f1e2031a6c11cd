"""Smoke test of benchmarks/bench_bridge.py: it runs with --quick and prints every target line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_bridge.py"


def run(*args: str) -> str:
    # faulthandler: should libzmq abort, the traceback shows in which case
    p = subprocess.run([sys.executable, "-X", "faulthandler", str(BENCH), "--quick", *args], capture_output=True,
                       text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


def test_bench_bridge_quick() -> None:
    """The numbers of a --quick run mean nothing; only that every figure is printed with a verdict is checked."""
    out = run()
    for pattern in ("REP", "PUSH", "PUB"):
        assert f"ratio AGIPD module raw {pattern}: ours->ours/zmq = " in out, out
    for line in ("ratio AGIPD module raw pipeline->bridge->client: pipeline/zmq relay = ",
                 "check AGIPD module raw pipeline path sends the received buffers (no array copy): True",
                 "check AGIPD module raw server-added latency p99 < 1.0 ms: ",
                 "check AGIPD module raw client decode per train < 0.1 ms: ",
                 "check small train server-added latency p99 < 1.0 ms: ",
                 "ratio server CPU per GB: ref/ours = ",
                 "ratio simulator trains/s: ours/ref = "):
        assert line in out, out
    targets = [line for line in out.splitlines() if line.startswith(("ratio ", "check "))]
    verdicts = ("PASS", "FAIL", "n/a")
    assert targets and all(line.endswith(verdicts) or "; no target: " in line for line in targets), targets


def test_bench_bridge_quick_json() -> None:
    res = json.loads(run("--json"))
    assert res["sizes"]["AGIPD module raw"]["pipeline_no_copy"] is True
    assert {t["result"] for t in res["targets"]} <= {"PASS", "FAIL", "n/a", ""}
