"""Pipeline outputs → PipelineBridge → BridgeServer → client, with train matching and selection."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from pykarabo_bridge import Client

from pykarabo import Hash, ImageData, NDArray, Types
from pykarabo.bridge import BridgeServer, PipelineBridge, hash_to_dict
from pykarabo.bridge.pipeline import karabo_metadata, relayout
from pykarabo.cli import main
from pykarabo.pipeline import MetaData, OutputChannel
from tests.bridge.conftest import free_port

SEC, FRAC = 1_700_000_000, 250_000_000_000_000_000


def item(tid: int, shape: tuple = (2, 3, 4, 5)) -> Hash:
    """A pipeline item with a detector-like array, a camera image and scalars."""
    h = Hash()
    h["image.data"] = (np.arange(np.prod(shape), dtype=np.uint16).reshape(shape) + tid).astype(np.uint16)
    h.setAs("header.trainId", tid, Types.UINT64)
    h["name"] = "det"
    return h


def write(out: OutputChannel, source: str, tid: int) -> None:
    out.write(item(tid), source=source, timestamp=(SEC, FRAC, tid), copyAllData=False)
    out.update(timeout=5)


@pytest.fixture
def outputs():
    outs = [OutputChannel(source=s) for s in ("DET/A:out", "DET/B:out")]
    yield outs
    for out in outs:
        out.close()


def connected(outs: list, server: BridgeServer, **options) -> PipelineBridge:
    bridge = PipelineBridge([o.connectionInfo for o in outs], server, onSlowness="wait", **options)
    for out in outs:
        out.waitForInputs(1, timeout=5)
    return bridge


def test_trains_matched_by_id(outputs: list) -> None:
    """Items of two outputs with the same train ID arrive as one train, arrays intact."""
    a, b = outputs
    with BridgeServer(0, "PUSH") as server, Client(server.endpoint, sock="PULL", timeout=5) as client, \
            connected(outputs, server, sources=["DET/A:out", "DET/B:out"]) as bridge:
        for tid in (100, 101, 102):
            write(a, "DET/A:out", tid)
            write(b, "DET/B:out", tid)
        for tid in (100, 101, 102):
            data, meta = client.next()
            assert sorted(data) == ["DET/A:out", "DET/B:out"]
            for src in data:
                np.testing.assert_array_equal(data[src]["image.data"], item(tid)["image.data"])
                assert data[src]["header.trainId"] == tid and data[src]["name"] == "det"
                assert meta[src] == {"source": src, "timestamp": SEC + 0.25, "timestamp.sec": str(SEC),
                                     "timestamp.frac": "250000000000000000", "timestamp.tid": tid}
        assert bridge.trains_complete == 3 and bridge.trains_incomplete == 0


@pytest.mark.parametrize("incomplete", ["send", "drop"])
def test_incomplete_trains(outputs: list, incomplete: str) -> None:
    """A train missing a source is sent after wait_time, or dropped, as configured."""
    a, b = outputs
    with BridgeServer(0, "PUSH") as server, Client(server.endpoint, sock="PULL", timeout=5) as client, \
            connected(outputs, server, sources=["DET/A:out", "DET/B:out"], wait_time=0.2,
                      incomplete=incomplete) as bridge:
        write(a, "DET/A:out", 7)
        time.sleep(0.5)
        write(a, "DET/A:out", 8)
        write(b, "DET/B:out", 8)
        data, meta = client.next()
        if incomplete == "send":
            assert list(data) == ["DET/A:out"] and meta["DET/A:out"]["timestamp.tid"] == 7
            data, meta = client.next()
        assert meta["DET/B:out"]["timestamp.tid"] == 8 and len(data) == 2
        assert bridge.trains_incomplete == 1
        assert bridge.trains_discarded == (incomplete == "drop")


def test_key_selection_and_layout(outputs: list) -> None:
    """Key globs select keys; layout='online' transposes file-layout image.data."""
    a = outputs[0]
    with BridgeServer(0, "REP") as server, Client(server.endpoint, timeout=5) as client, \
            connected([a], server, keys=["image.*"], layout="online"):
        write(a, "DET/A:out", 5)
        data, _ = client.next()
    props = data["DET/A:out"]
    assert list(props) == ["image.data"]
    np.testing.assert_array_equal(props["image.data"], item(5)["image.data"].transpose(1, 3, 2, 0))


def test_conversion_is_zero_copy() -> None:
    """NDArray/ImageData values become numpy views of the Hash's buffers."""
    pixels = np.arange(12, dtype=np.float32).reshape(3, 4)
    h = Hash()
    h["img"] = ImageData(pixels)
    h["nd"] = NDArray(np.ones(5))
    h["vec"] = [Hash("q", 1)]
    d = hash_to_dict(h)
    assert np.shares_memory(d["img.pixels"], pixels)
    assert d["img.dims"].tolist() == [3, 4] and d["vec"] == [{"q": 1}]
    assert d["nd"].dtype == np.float64
    assert karabo_metadata(MetaData("S", 5, 10**17, 9))["timestamp.frac"] == "100000000000000000"
    assert relayout(np.zeros((64, 16, 512, 128)), "online").shape == (16, 128, 512, 64)
    assert relayout(np.zeros((16, 128, 512, 64)), "file").shape == (64, 16, 512, 128)


def test_pipeline_cli(outputs: list, capsys: pytest.CaptureFixture) -> None:
    """``pykarabo bridge pipeline`` serves what a pipeline output writes."""
    a = outputs[0]
    port = free_port()
    args = ["bridge", "pipeline", f"127.0.0.1:{a.port}", "--endpoint", str(port), "-z", "PUSH",
            "--on-slowness", "wait", "--duration", "1.5"]
    thread = threading.Thread(target=main, args=(args,))
    thread.start()
    try:
        a.waitForInputs(1, timeout=5)
        write(a, "DET/A:out", 42)
        with Client(f"tcp://127.0.0.1:{port}", sock="PULL", timeout=5) as client:
            data, meta = client.next()
    finally:
        thread.join(10)
    assert meta["DET/A:out"]["timestamp.tid"] == 42
    assert "Pipeline bridge started on: tcp://127.0.0.1:" in capsys.readouterr().out


def _pooled_block(buffer: object) -> object | None:
    """Follow ``base``/``obj`` from a buffer down to the pipeline's pooled receive block, if any."""
    while buffer is not None:
        if type(buffer).__name__ == "_Block":
            return buffer
        buffer = buffer.obj if isinstance(buffer, memoryview) else getattr(buffer, "base", None)
    return None


def test_no_array_copy_from_pipeline_to_zeromq(outputs: list) -> None:
    """The array frame handed to ZeroMQ is memory of the pipeline's receive buffer (no copy on the way)."""
    a = outputs[0]
    sent: list = []
    with BridgeServer(0, "PUSH") as server, Client(server.endpoint, sock="PULL", timeout=5) as client:
        send = server._send

        def spy(frames, *args, **kwargs):
            sent.append(list(frames))
            return send(frames, *args, **kwargs)
        server._send = spy
        with connected([a], server):
            write(a, "DET/A:out", 9)
            data, _ = client.next()
    np.testing.assert_array_equal(data["DET/A:out"]["image.data"], item(9)["image.data"])
    frame = sent[0][3]                       # header, payload, then the image.data array part
    assert memoryview(frame).nbytes == item(9)["image.data"].nbytes
    block = _pooled_block(frame)
    assert block is not None, "the array frame is not a view of the pipeline's receive block"
    assert np.shares_memory(np.frombuffer(frame, np.uint8), np.frombuffer(memoryview(block), np.uint8))
