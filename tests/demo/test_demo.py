"""The README's run command: ``python -m pykarabo demo --seconds 20``, its output and the run it recorded.

It runs from a directory outside the checkout (as the README's ``-P`` run does), on a private
embedded broker and topic so that nothing else on the machine can disturb it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pykarabo.net.broker.embedded import privateEmbeddedUrl

extra_data = pytest.importorskip("extra_data", reason="the run is read back with extra_data")

DEVICES = ["DEMO/DET/0", "DEMO/DET/3", "DEMO/CAL/0", "DEMO/CAL/3", "DEMO/CAL/STACK", "DEMO/BRIDGE/1",
           "DEMO/DAQ/1", "DEMO/MOTOR/1", "DEMO/XGM/1"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    """One demo run of 20 seconds (plain output: stdout is a pipe)."""
    where = tmp_path_factory.mktemp("demo")
    command = [sys.executable, "-m", "pykarabo", "demo", "--seconds", "20", "--directory", str(where / "out"),
               "--broker", privateEmbeddedUrl(), "--topic", f"demotest{os.getpid()}"]
    result = subprocess.run(command, cwd=where, capture_output=True, text=True, timeout=120)
    return result, where / "out"


def _last(pattern: str, text: str) -> re.Match:
    matches = list(re.finditer(pattern, text))
    assert matches, f"no line matches {pattern!r} in:\n{text}"
    return matches[-1]


def test_demo_output(demo):
    result, _ = demo
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    started = _last(r"Devices started: (.*)", out).group(1)
    assert all(device in started for device in DEVICES), started
    endpoint = _last(r"Bridge endpoint: (tcp://127\.0\.0\.1:\d+)", out).group(1)
    status = _last(r"\[ *[\d.]+ s\] trains: detector modules (\d+) .* bridge client received (\d+) \| "
                   r"DAQ \w+ trains written (\d+)", out)
    assert int(status.group(1)) >= 100, "4 modules at 10 Hz for 20 s"
    assert int(status.group(2)) > 0
    assert "DEMO/XGM/1=ACQUIRING" in out and "DEMO/BRIDGE/1=ACTIVE" in out and "DEMO/DAQ/1=ACQUIRING" in out
    client = _last(r"Bridge endpoint used: (\S+); the demo's client received (\d+) trains; "
                   r"last DEMO/CAL/STACK:output image\.data \((\d+), (\d+), (\d+), (\d+)\)", out)
    assert client.group(1) == endpoint and int(client.group(2)) > 0
    assert tuple(int(n) for n in client.groups()[2:]) == (4, 128, 512, 16), "online layout (modules, fs, ss, pulses)"
    written = _last(r"Run directory: (\S+) \((\d+) trains written\)", out)
    assert int(written.group(2)) > 0
    assert "Validation: ok" in out


def test_demo_run_directory(demo):
    result, directory = demo
    written = _last(r"Run directory: (\S+) \((\d+) trains written\)", result.stdout)
    run_dir = Path(written.group(1))
    assert run_dir.parent == directory.resolve() and (directory / "demo.log").is_file()
    run = extra_data.RunDirectory(str(run_dir))
    modules = [f"DEMO/DET/{m}:output" for m in range(4)]
    assert set(run.all_sources) == {*modules, "DEMO/MOTOR/1", "DEMO/XGM/1"}
    assert len(run.train_ids) == int(written.group(2)) > 0
    for source in modules:
        data = run[source, "image.data"]
        assert data.dtype == "uint16" and data.shape[1:] == (512, 128)
        assert 0 < data.shape[0] <= 16 * len(run.train_ids) and data.shape[0] % 16 == 0
    energy = run["DEMO/XGM/1", "pulseEnergy.value"].ndarray()
    assert len(energy) == len(run.train_ids) and energy.max() > 0
