"""The reference command-line tools against our code: karabo-bridge-glimpse and -monitor read our server,
our client reads karabo-bridge-serve-files (EXtra-data) in every pattern."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from pykarabo_bridge import Client

from pykarabo.bridge import BridgeServer
from tests.bridge.conftest import free_port, sample_train

pytestmark = pytest.mark.interop
BIN = Path(sys.executable).parent
CLIENT_SOCK = {"REP": "REQ", "PUB": "SUB", "PUSH": "PULL"}


def tool(name: str) -> str:
    """Path of a reference console script installed next to this interpreter, or skip."""
    path = BIN / name
    if not path.exists():
        pytest.skip(f"{name} is not installed (pip install karabo-bridge extra-data psutil)")
    return str(path)


def keep_feeding(server: BridgeServer, stop: threading.Event) -> threading.Thread:
    """Put sample trains with increasing IDs until ``stop`` (blocking puts, so no ID is dropped for REP/PUSH)."""
    def feed() -> None:
        tid = 10_000_000_000
        while not stop.is_set():
            server.put(*sample_train(tid), block=True, timeout=0.2)
            tid += 1
    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("sock", ["REP", "PUSH", "PUB"])
def test_reference_glimpse_reads_our_server(sock: str) -> None:
    """karabo-bridge-glimpse prints one train of ours: its ID, both sources and their keys."""
    glimpse = tool("karabo-bridge-glimpse")
    stop = threading.Event()
    with BridgeServer(0, sock, maxlen=2) as server:
        feeder = keep_feeding(server, stop)
        try:
            out = subprocess.run([glimpse, server.endpoint, "-z", sock], capture_output=True, text=True, timeout=60)
        finally:
            stop.set()
            feeder.join(5)
    assert out.returncode == 0, out.stderr[-2000:]
    data, meta = sample_train()
    assert "Train ID: 1000000" in out.stdout and f"Data from {len(data)} sources" in out.stdout
    for source in data:
        assert repr(source) in out.stdout
    assert "image.data" in out.stdout and "data.image.pixels" in out.stdout


def test_reference_monitor_reads_our_server() -> None:
    """karabo-bridge-monitor prints every train it was asked for, in order."""
    monitor = tool("karabo-bridge-monitor")
    stop = threading.Event()
    with BridgeServer(0, "REP", maxlen=2) as server:
        feeder = keep_feeding(server, stop)
        try:
            out = subprocess.run([monitor, server.endpoint, "--ntrains", "3"], capture_output=True, text=True,
                                 timeout=60)
        finally:
            stop.set()
            feeder.join(5)
    assert out.returncode == 0, out.stderr[-2000:]
    tids = [int(line.split()[2]) for line in out.stdout.splitlines() if line.startswith("Train ID:")]
    assert len(tids) == 3 and tids == sorted(set(tids))


def serve_files(run_dir: Path, sock: str) -> tuple[subprocess.Popen, str]:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    cmd = [tool("karabo-bridge-serve-files"), str(run_dir), endpoint, "-z", sock, "--source", "SPB*"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), endpoint


@pytest.mark.parametrize("sock", ["REP", "PUSH", "PUB"])
def test_our_client_reads_reference_serve_files(request: pytest.FixtureRequest, sock: str) -> None:
    """Every train of the run (REP, PUSH), or at least one in order (PUB, which drops), equal to extra_data's."""
    extra_data = pytest.importorskip("extra_data")
    run_dir = request.getfixturevalue("long_run_dir" if sock == "PUB" else "run_dir")
    expected = dict(extra_data.RunDirectory(str(run_dir)).select("SPB*").trains())
    received: list = []
    for _attempt in range(3):      # PUB: a slow joiner may still miss the whole run on a loaded machine
        server, endpoint = serve_files(run_dir, sock)
        try:
            with Client(endpoint, sock=CLIENT_SOCK[sock], timeout=20 if sock != "PUB" else 5) as client:
                for _ in range(len(expected)):
                    try:
                        received.append(client.next())
                    except TimeoutError:
                        break
        finally:
            _, err = server.communicate(timeout=30)
        if "additional dependencies" in err or "psutil" in err:
            pytest.skip("karabo-bridge-serve-files needs psutil (pip install psutil)")
        assert server.returncode == 0, err[-2000:]
        if received:
            break
    tids = [meta[src]["timestamp.tid"] for _, meta in received for src in list(meta)[:1]]
    assert tids == sorted(set(tids)) and tids
    if sock != "PUB":
        assert tids == sorted(expected)
    for (data, meta), tid in zip(received, tids):
        ref = expected[tid]
        assert sorted(data) == sorted(ref)
        for src, props in ref.items():
            assert meta[src]["timestamp.tid"] == tid
            np.testing.assert_array_equal(data[src]["image.data"], props["image.data"])
