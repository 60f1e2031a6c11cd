"""Interoperability with the reference karabo_bridge package (skipped without it)."""

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from bridge_strategies import same, trains
from hypothesis import HealthCheck, given, settings
from pykarabo_bridge import Client, deserialize, serialize

karabo_bridge = pytest.importorskip(
    "karabo_bridge", reason="reference karabo-bridge not installed (pip install karabo-bridge)"
)
pytest.importorskip("msgpack_numpy", reason="karabo-bridge needs msgpack-numpy")
from karabo_bridge import serializer as reference_serializer  # noqa: E402
from karabo_bridge.server import ServerInThread, SimServer  # noqa: E402

pytestmark = pytest.mark.interop
fast = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
SRC = "DEV/X/1:out"


def as_bytes(frames: list) -> list[bytes]:
    return [bytes(f) for f in frames]


@fast
@given(trains("2.2", numpy_bool=False))
def test_v22_bytes_identical(train: tuple[dict, dict]) -> None:
    data, metadata = train
    assert as_bytes(serialize(data, metadata)) == as_bytes(karabo_bridge.serialize(data, metadata))


@fast
@given(trains("1.0"))
def test_v10_bytes_identical(train: tuple[dict, dict]) -> None:
    data, metadata = train
    ours = serialize(data, metadata, protocol_version="1.0")
    assert as_bytes(ours) == as_bytes(
        karabo_bridge.serialize(data, metadata, protocol_version="1.0")
    )


@fast
@given(trains("1.0"))
def test_v10_decodes_like_reference(train: tuple[dict, dict]) -> None:
    frames = karabo_bridge.serialize(*train, protocol_version="1.0")
    assert same(deserialize(frames), karabo_bridge.deserialize(frames))


@pytest.mark.parametrize("protocol", ["1.0", "2.2"])
def test_dummy_timestamps_identical(monkeypatch: pytest.MonkeyPatch, protocol: str) -> None:
    monkeypatch.setattr(time, "time", lambda: 1526464869.41)
    monkeypatch.setattr(reference_serializer, "time", lambda: 1526464869.41)
    data = {"b": {"x": 1}, "a": {"metadata": {"source": "a", "timestamp.tid": 5}}}
    ours = serialize(data, protocol_version=protocol, dummy_timestamps=True)
    theirs = karabo_bridge.serialize(data, protocol_version=protocol, dummy_timestamps=True)
    assert as_bytes(ours) == as_bytes(theirs)


@pytest.mark.parametrize("server_kind, client_kind", [("REP", "REQ"), ("PUSH", "PULL")])
@pytest.mark.parametrize("protocol", ["1.0", "2.2"])
def test_reference_client_reads_our_frames(
    serve, server_kind: str, client_kind: str, protocol: str
) -> None:
    data = {SRC: {"v": 7, "image": np.arange(6, dtype=">f4").reshape(2, 3)}}
    meta = {SRC: {"source": SRC, "timestamp.tid": 10000000000}}
    server = serve(server_kind, [serialize(data, meta, protocol_version=protocol)])
    with karabo_bridge.Client(server.endpoint, sock=client_kind, timeout=5) as client:
        got_data, got_meta = client.next()
    assert got_meta == meta
    assert got_data[SRC]["v"] == 7
    np.testing.assert_array_equal(got_data[SRC]["image"], data[SRC]["image"])


@pytest.fixture
def feeder() -> Iterator:
    """Start a reference ServerInThread on a loopback port; stop it afterwards."""
    servers: list[ServerInThread] = []

    def start(sock: str, protocol: str = "2.2") -> ServerInThread:
        server = ServerInThread("tcp://127.0.0.1:*", sock=sock, maxlen=3, protocol_version=protocol)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize("protocol", ["1.0", "2.2"])
@pytest.mark.parametrize("server_kind, client_kind", [("REP", "REQ"), ("PUSH", "PULL")])
def test_our_client_reads_server_in_thread(
    feeder, server_kind: str, client_kind: str, protocol: str
) -> None:
    server = feeder(server_kind, protocol)
    for tid in range(3):
        server.feed(
            {SRC: {"tid": tid, "a": np.full(3, tid, np.uint32)}}, {SRC: {"timestamp.tid": tid}}
        )
    with Client(server.endpoint, sock=client_kind, timeout=5) as client:
        received = [client.next() for _ in range(3)]
    assert [meta[SRC]["timestamp.tid"] for _, meta in received] == [0, 1, 2]
    assert [data[SRC]["a"].tolist() for data, _ in received] == [[t] * 3 for t in range(3)]


def test_our_client_reads_server_in_thread_pub(feeder) -> None:
    server = feeder("PUB")
    stop = threading.Event()

    def feed() -> None:
        for tid in range(500):  # bounded; PUB drops trains until we subscribe
            if stop.is_set():
                return
            server.feed({SRC: {"tid": tid}}, {SRC: {"timestamp.tid": tid}}, timeout=1)
            time.sleep(0.005)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    try:
        with Client(server.endpoint, sock="SUB", timeout=5) as client:
            tids = [client.next()[1][SRC]["timestamp.tid"] for _ in range(3)]
    finally:
        stop.set()
        thread.join(5)
    assert tids == sorted(set(tids))


@pytest.mark.parametrize("protocol", ["1.0", "2.2"])
def test_our_client_reads_simulator(protocol: str) -> None:
    sim = SimServer(
        "tcp://127.0.0.1:*",
        sock="REP",
        protocol_version=protocol,
        detector="AGIPDModule",
        raw=True,
        datagen="zeros",
        debug=False,
    )
    thread = threading.Thread(target=sim.loop, daemon=True)
    thread.start()
    try:
        with Client(sim.endpoint, timeout=10) as client:
            received = [client.next() for _ in range(2)]
    finally:
        sim.stopper_w.send(b"")
        thread.join(10)
        sim.zmq_context.destroy(linger=0)
    source = "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf"
    tids = [meta[source]["timestamp.tid"] for _, meta in received]
    assert tids[1] == tids[0] + 1 and tids[0] >= 10000000000
    image = received[0][0][source]["image.data"]
    assert image.shape == (128, 512, 64) and image.dtype == np.uint16
    assert {"timestamp", "timestamp.sec", "timestamp.frac"} <= set(received[0][1][source])
