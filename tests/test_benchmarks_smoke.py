"""Smoke test of the benchmark scripts: each runs with --quick and prints its ratio lines.

Only checks that the scripts work; the numbers of a --quick run mean nothing and are not checked.
"""

import json
import os
import subprocess
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")


def run(script, *args, timeout=60):
    p = subprocess.run([sys.executable, os.path.join(BENCH, script), "--quick", *args],
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


def test_bench_hash_quick():
    out = run("bench_hash.py")
    for case in ("slow-control build", "slow-control read", "table build", "table read"):
        assert f"ratio {case}: pykarabo/dict = " in out, out


def test_bench_hash_quick_json():
    res = json.loads(run("bench_hash.py", "--json"))
    assert set(res["sets"]) == {"slow-control", "table"}
    assert res["sets"]["table"]["read"]["ratio_vs_dict"] > 0


def test_bench_serialize_quick():
    pytest.importorskip("msgpack")
    pytest.importorskip("msgpack_numpy")
    out = run("bench_serialize.py")      # includes the Karabo companion when its venv exists
    for line in ("ratio slow-control decode+read: msgpack/pykarabo = ",
                 "ratio table encode: karabo-native/pykarabo = ",
                 "ratio train[8 cells] encodeBinaryBuffers time = ",
                 "ratio train[2 cells] encodeBinary/ndarray.tobytes = "):
        assert line in out, out
    assert "karabo companion failed" not in out, out


def test_bench_serialize_quick_json_without_karabo():
    pytest.importorskip("msgpack")
    pytest.importorskip("msgpack_numpy")
    res = json.loads(run("bench_serialize.py", "--json", "--karabo-python", "none"))
    assert res["times"]["pykarabo"]["train"]["decode"]["median"] > 0
    assert any(c["name"].startswith("train[") for c in res["checks"])


def test_bench_pipeline_quick():
    out = run("bench_pipeline.py", "--karabo-python", "none")     # about 5 s
    for case in ("46MB", "16MiB", "1KB"):
        for ours in ("threads", "asyncio"):
            assert f"ratio {case} {ours}/raw TCP = " in out, out


def test_bench_messaging_quick():
    out = run("bench_messaging.py", "--rabbitmq", "none", "--karabo-python", "none")   # embedded only, ~5 s
    for transport in ("threads", "asyncio"):
        assert f"pykarabo embedded {transport}" in out and "round trip p50" in out, out
        assert f"check embedded {transport} observed updates/s >= 20,000: " in out, out


def test_bench_validate_quick():
    out = run("bench_validate.py")       # includes the karabo-cpp companion when its venv exists
    for case in ("reconfigure (timestamps forced)", "reconfigure (no timestamps)"):
        assert f"ratio {case}: karabo-cpp/pykarabo = " in out, out


def test_bench_validate_quick_json_without_karabo():
    env = {**os.environ, "PYKARABO_KARABO_PYTHON": "none"}
    p = subprocess.run([sys.executable, os.path.join(BENCH, "bench_validate.py"), "--quick", "--json"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads(p.stdout)
    assert res["results"]["karabo-cpp"] is None and res["results"]["pykarabo"]["reconfigure (no timestamps)"]


def test_bench_bound_quick():
    out = run("bench_bound.py", timeout=240)   # starts 13 devices: ~30 s
    for line in ("ratio scaling 2/1 threads: ", "ratio scaling 4/1 threads: ",
                 "ratio scaling numpy alone 2/1 threads: ",
                 "ratio 1 thread chain/numpy alone: "):
        assert line in out, out


ROOT = os.path.dirname(BENCH)


def test_runner_quick_only_hash():
    p = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--only", "hash"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["benchmark", "figure", "compared", "with", "value", "target", "result"], p.stdout
    for case in ("slow-control build", "slow-control read", "table build", "table read"):
        row = next(line for line in lines if line.startswith("hash") and case in line)
        assert "pykarabo/dict" in row and ("PASS" in row or "FAIL" in row), row
    assert "bench_hash.py: ok" in p.stdout, p.stdout


def test_runner_json_and_unknown_name():
    p = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--only", "hash", "--json"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads(p.stdout)
    (script,) = res["scripts"]
    assert script["script"] == "bench_hash.py" and script["returncode"] == 0
    assert {f["figure"] for f in script["figures"]} >= {"table read", "table build"}
    p = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "nosuch"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "unknown benchmark(s) nosuch" in p.stderr


def test_runner_parses_every_line_style():
    sys.path.insert(0, BENCH)
    try:
        from _common import parse_figures
    finally:
        sys.path.remove(BENCH)
    out = "\n".join([
        "ratio table read: pykarabo/dict = 1.41x (target <= 2.0x) PASS",
        "ratio reconfigure (no timestamps): karabo-cpp/pykarabo = 1.50x (target >= 2x)",
        "ratio 46MB threads/raw TCP = 0.86 (throughput)",
        "check 46MB threads >= 0.7x raw TCP: pass",
        "check embedded threads observed updates/s >= 20,000: 27,169 PASS",
        "ratio round trip p50 pykarabo-threads/karabo = 0.91 (target <= 0.5: FAIL); p99 1.07",
        "some other output",
    ])
    got = [(f["figure"], f["compared"], f["value"], f["target"], f["result"]) for f in parse_figures(out)]
    assert got == [
        ("table read", "pykarabo/dict", "1.41x", "<= 2.0x", "PASS"),
        ("reconfigure (no timestamps)", "karabo-cpp/pykarabo", "1.50x", ">= 2x", "FAIL"),
        ("46MB threads/raw TCP", "", "0.86", ">= 0.7x raw TCP", "PASS"),
        ("embedded threads observed updates/s", "", "27,169", ">= 20,000", "PASS"),
        ("round trip p50 pykarabo-threads/karabo", "", "0.91", "<= 0.5", "FAIL"),
    ]
