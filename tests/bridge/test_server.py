"""BridgeServer: the reference karabo_bridge.Client and our client receive what was put."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq
from pykarabo_bridge import Client, deserialize, serialize

from pykarabo.bridge import BridgeServer
from pykarabo.bridge.server import LOOPBACK_SNDBUF, is_loopback
from tests.bridge.conftest import sample_train
from tests.bridge.raw_peer import RawPullPeer, train_in_flight

CLIENT_SOCKETS = {"REP": "REQ", "PUB": "SUB", "PUSH": "PULL"}


def assert_same(a: object, b: object) -> None:
    """Deep equality that also compares array dtypes and shapes."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b) or set(a) == set(b)
        for key in a:
            assert_same(a[key], b[key])
    else:
        assert type(a) is type(b) and a == b, (a, b)


def receive(client: object, server: BridgeServer, sock: str, tid: int = 10_000_000_000,
            deadline_s: float = 5.0) -> tuple[dict, dict]:
    """Receive one train; PUB needs trains offered until the subscription is through."""
    if sock != "PUB":
        server.put(*sample_train(tid))
        return client.next()
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        server.put(*sample_train(tid))
        try:
            return client.next()
        except TimeoutError:
            continue
    raise AssertionError("no train over PUB/SUB")


@pytest.mark.interop
@pytest.mark.parametrize("protocol", ["2.2", "1.0"])
@pytest.mark.parametrize("sock", ["REP", "PUSH", "PUB"])
def test_reference_client_receives(sock: str, protocol: str) -> None:
    """The real karabo_bridge.Client gets what its own serializer would have produced."""
    import karabo_bridge

    with BridgeServer(0, sock, protocol_version=protocol) as server:
        client = karabo_bridge.Client(server.endpoint, sock=CLIENT_SOCKETS[sock], timeout=0.3 if sock == "PUB" else 5)
        try:
            data, meta = receive(client, server, sock)
        finally:
            client._context.destroy(linger=0)
    expected = karabo_bridge.deserialize(
        [bytes(f) for f in karabo_bridge.serialize(*sample_train(), protocol_version=protocol)])
    assert_same(data, expected[0])
    assert_same(meta, expected[1])
    original, original_meta = sample_train()
    assert meta == original_meta
    for source, props in original.items():
        for key, value in props.items():
            if isinstance(value, np.ndarray):
                assert data[source][key].dtype == value.dtype
                np.testing.assert_array_equal(data[source][key], value)


@pytest.mark.interop
@pytest.mark.parametrize("protocol", ["2.2", "1.0"])
def test_frames_identical_to_reference_serializer(protocol: str) -> None:
    """On the wire, our server's message is byte-identical to the reference serializer's."""
    import karabo_bridge

    data, meta = sample_train()
    with BridgeServer(0, "REP", protocol_version=protocol) as server:
        ctx = zmq.Context()
        req = ctx.socket(zmq.REQ)
        req.connect(server.endpoint)
        server.put(data, meta)
        req.send(b"next")
        assert req.poll(5000)
        frames = req.recv_multipart()
        ctx.destroy(linger=0)
    assert frames == [bytes(f) for f in karabo_bridge.serialize(data, meta, protocol_version=protocol)]


@pytest.mark.parametrize("sock", ["REP", "PUSH", "PUB"])
def test_our_client_receives_in_order(sock: str) -> None:
    """Our client gets consecutive trains in order (PUB: at least one more, with a higher ID)."""
    det = "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf"
    with BridgeServer(0, sock) as server, \
            Client(server.endpoint, sock=CLIENT_SOCKETS[sock], timeout=0.3 if sock == "PUB" else 5) as client:
        first, _ = receive(client, server, sock)
        assert first[det]["image.trainId"][0] == 10_000_000_000
        if sock == "PUB":
            _, meta = receive(client, server, sock, tid=10_000_000_001)
            assert meta[det]["timestamp.tid"] == 10_000_000_001
            return
        for i in range(1, 4):
            server.put(*sample_train(10_000_000_000 + i), block=True)
        got = [client.next()[1][det]["timestamp.tid"] for _ in range(3)]
        assert got == [10_000_000_001, 10_000_000_002, 10_000_000_003]
        assert server.trains_sent >= 3 and server.bytes_sent > 0


@pytest.mark.parametrize("zero_copy", [True, False])
def test_large_arrays_are_sent_without_copy_and_let_go_once_sent(zero_copy: bool) -> None:
    """Large arrays go to ZeroMQ as they are (our sender, or pyzmq's where ours is unavailable)."""
    det = "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf"
    with BridgeServer(0, "REP") as server, Client(server.endpoint, sock="REQ", timeout=5) as client:
        if not zero_copy:
            server._zero_copy = None          # as with a pyzmq that has no Cython backend
        data, meta = sample_train(10_000_000_000)
        image = data[det]["image.data"] = np.arange(1 << 20, dtype=np.uint32).reshape(16, 256, 256)
        server.put(data, meta)
        got, _ = client.next()
        assert_same(got[det]["image.data"], image)
        if zero_copy:
            end = time.monotonic() + 5
            while server._zero_copy.held and time.monotonic() < end:
                time.sleep(0.01)
            assert server._zero_copy.held == 0      # ZeroMQ is done: the array is let go


def test_bad_request_gets_error_reply() -> None:
    """A REQ peer asking for anything but b'next' gets the reference's single-frame error."""
    with BridgeServer(0, "REP") as server:
        ctx = zmq.Context()
        req = ctx.socket(zmq.REQ)
        req.connect(server.endpoint)
        req.send(b"hello")
        assert req.poll(5000)
        assert req.recv_multipart() == [b"Error: bad request hello"]
        server.put(*sample_train())
        req.send(b"next")
        assert req.poll(5000)
        data, meta = deserialize(req.recv_multipart(copy=False))
        ctx.destroy(linger=0)
    assert server.bad_requests == 1 and server.requests == 2
    assert meta["SA1_XTD2_CAM/CAM/1:output"]["timestamp.tid"] == 10_000_000_000


@pytest.mark.parametrize("sock", ["REP", "PUSH", "PUB"])
def test_no_client_never_blocks_put(sock: str) -> None:
    """Without any client, put() returns at once and surplus trains are counted as dropped."""
    big = {"X/Y/Z:out": {"data": np.zeros(1 << 20, np.uint8)}}
    with BridgeServer(0, sock, maxlen=3) as server:
        t0 = time.perf_counter()
        for i in range(200):
            server.put(big, {"X/Y/Z:out": {"source": "X/Y/Z:out", "timestamp.tid": i}})
        elapsed = time.perf_counter() - t0
        assert elapsed < 1.0
        if sock != "PUB":   # PUB sends (into the void) as fast as it can
            assert server.trains_dropped >= 200 - 3 - 1
        assert server.queue_length <= 3


def test_slow_client_never_blocks_put() -> None:
    """A REQ client taking one train now and then does not slow the producer; it gets recent trains."""
    with BridgeServer(0, "REP", maxlen=2) as server, Client(server.endpoint, timeout=5) as client:
        src = "X/Y/Z:out"
        t0 = time.perf_counter()
        tids = []
        for i in range(300):
            server.put({src: {"a": np.full(1000, i)}}, {src: {"source": src, "timestamp.tid": i}})
            if i % 100 == 99:
                tids.append(client.next()[1][src]["timestamp.tid"])
        assert time.perf_counter() - t0 < 3.0
        assert server.trains_dropped > 250
        assert tids == sorted(tids) and tids[-1] >= 297


def test_push_trains_put_before_a_peer_arrive_in_order() -> None:
    """A train put when no PULL peer is there (sent directly, refused) still goes first, then the later ones."""
    src = "X/Y/Z:out"
    with BridgeServer(0, "PUSH", maxlen=5) as server:
        for i in range(3):
            server.put({src: {"a": np.arange(3)}}, {src: {"source": src, "timestamp.tid": i}})
        with Client(server.endpoint, sock="PULL", timeout=5) as client:
            got = [client.next()[1][src]["timestamp.tid"] for _ in range(3)]
    assert got == [0, 1, 2] and server.trains_dropped == 0 and server.trains_sent == 3


@pytest.mark.parametrize("sock", ["PUSH", "PUB"])
def test_idle_server_sends_in_the_callers_thread(sock: str) -> None:
    """With nothing queued, put() hands the train to ZeroMQ itself (no wait for the sender thread to wake).

    A PUSH socket may still refuse it for a moment after the client took the previous train (the
    pipe's credit comes back asynchronously); the sender thread then sends it, so there only the
    first attempt is the caller's for sure.
    """
    threads: list = []
    with BridgeServer(0, sock) as server, \
            Client(server.endpoint, sock=CLIENT_SOCKETS[sock], timeout=0.3 if sock == "PUB" else 5) as client:
        receive(client, server, sock)       # connected: no train is refused for want of a peer
        assert server.drain(5)
        send = server._send

        def spy(frames, *args, **kwargs):
            threads.append(threading.get_ident())
            return send(frames, *args, **kwargs)
        server._send = spy
        receive(client, server, sock, tid=10_000_000_001)
    assert threads and threads[0] == threading.get_ident()
    if sock == "PUB":       # PUB never refuses (it drops for slow subscribers): only the caller sent
        assert set(threads) == {threading.get_ident()}


def test_blocking_put_waits_for_room() -> None:
    """put(block=True) waits for the sender instead of dropping (used by sim/replay)."""
    with BridgeServer(0, "PUSH", maxlen=1) as server:
        server.put({"a": {"v": 1}})
        while server.queue_length:   # the sender holds train 1, waiting for a PULL peer
            time.sleep(0.01)
        server.put({"a": {"v": 2}})
        t0 = time.perf_counter()
        assert not server.put({"a": {"v": 3}}, block=True, timeout=0.2)  # nobody pulls: dropped after 0.2 s
        assert time.perf_counter() - t0 >= 0.2
        assert server.trains_dropped >= 1


def test_curve_encryption() -> None:
    """With a CURVE key the server talks only to clients that know its public key."""
    public, secret = zmq.curve_keypair()
    with BridgeServer(0, "REP", curve_secret_key=secret) as server, \
            Client(server.endpoint, timeout=5, server_public_key=public) as client:
        server.put(*sample_train())
        data, meta = client.next()
    assert meta["SA1_XTD2_CAM/CAM/1:output"]["timestamp.tid"] == 10_000_000_000


def test_rates_and_drain() -> None:
    """Counters, rates and drain() reflect the trains sent."""
    src = "X/Y/Z:out"
    with BridgeServer(0, "PUSH", maxlen=100) as server, Client(server.endpoint, sock="PULL", timeout=5) as client:
        for i in range(20):
            server.put({src: {"a": np.zeros(1000)}}, {src: {"source": src, "timestamp.tid": i}})
        for _ in range(20):
            client.next()
        assert server.drain(5)
        assert server.trains_sent == 20 and server.trains_dropped == 0
        assert server.last_train_id == 19
        assert server.bytes_sent > 20 * 8000
        assert server.rate > 0 and server.data_rate > 0


def test_put_frames_sends_exact_bytes() -> None:
    """Pre-encoded frames go out unchanged."""
    frames = serialize(*sample_train())
    with BridgeServer(0, "PUSH") as server:
        ctx = zmq.Context()
        pull = ctx.socket(zmq.PULL)
        pull.connect(server.endpoint)
        server.put_frames(frames)
        assert pull.poll(5000)
        got = pull.recv_multipart()
        ctx.destroy(linger=0)
    assert got == [bytes(f) for f in frames]


def test_invalid_arguments() -> None:
    """Unknown socket kinds and protocol versions are refused; binding where told."""
    with pytest.raises(ValueError):
        BridgeServer(0, "ROUTER")
    with pytest.raises(ValueError):
        BridgeServer(0, protocol_version="2.1")
    with BridgeServer("tcp://127.0.0.1:*") as server:
        assert server.endpoint.startswith("tcp://127.0.0.1:")


def test_dealer_peer_like_extra_foam() -> None:
    """A DEALER (EXtra-foam's proxy) talks to the REP server with the empty delimiter frame."""
    frames = serialize(*sample_train())
    with BridgeServer(0, "REP") as server:
        ctx = zmq.Context()
        dealer = ctx.socket(zmq.DEALER)
        dealer.connect(server.endpoint)
        server.put(*sample_train())
        dealer.send_multipart([b"", b"next"])
        assert dealer.poll(5000)
        reply = dealer.recv_multipart()
        ctx.destroy(linger=0)
    assert reply == [b""] + [bytes(f) for f in frames]


def test_a_train_in_flight_when_the_server_stops_still_reaches_its_slow_peer() -> None:
    """stop() neither cuts off the message ZeroMQ is sending to a slow peer nor waits for that peer."""
    data = np.arange(20_000_000, dtype=np.uint32).astype(np.uint8)
    server = BridgeServer(0, "PUSH").start()
    peer = RawPullPeer(server.endpoint)
    train_in_flight(server, data, tid=7)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1.0
    [message] = peer.read_messages(timeout=10)
    got, metadata = deserialize(message)
    np.testing.assert_array_equal(got["det"]["data"], data)
    np.testing.assert_array_equal(got["det"]["tail"], data[:10])
    assert metadata["det"]["timestamp.tid"] == 7


def test_stop_waits_linger_seconds_at_most_for_a_peer_that_neither_reads_nor_leaves() -> None:
    """ZeroMQ keeps the unsent message in the background until the stuck peer leaves."""
    server = BridgeServer(0, "PUSH").start()
    peer = RawPullPeer(server.endpoint)
    train_in_flight(server, np.ones(20_000_000, np.uint8), tid=1)
    started = time.monotonic()
    server.stop(linger=0.3)
    assert 0.3 <= time.monotonic() - started < 2.0
    closing = [t for t in threading.enumerate() if t.name == f"bridge-server {server.endpoint} close"]
    assert len(closing) == 1 and closing[0].is_alive()
    peer.vanish()
    closing[0].join(10)
    assert not closing[0].is_alive()


def test_a_peer_vanishing_while_the_server_stops_never_aborts_the_process() -> None:
    """libzmq 4.3 aborts on a peer leaving just after its session was torn down mid-message.

    A socket closed with linger 0 did that to the stalled peers of this check within about ten
    rounds; 60 rounds run in a child process, which an abort would end with SIGABRT.
    """
    result = subprocess.run([sys.executable, "-m", "tests.bridge.raw_peer", "60", "0.0003"],
                            cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "rounds done: 60" in result.stdout


@pytest.mark.parametrize(("endpoint", "loopback"), [
    ("tcp://127.0.0.1:*", True), ("tcp://127.0.0.2:4545", True), ("tcp://localhost:4545", True),
    ("tcp://[::1]:4545", True), ("tcp://lo:4545", True), ("tcp://0.0.0.0:4545", False),
    ("tcp://*:4545", False), ("tcp://10.1.2.3:4545", False), ("tcp://eth0:4545", False),
    ("ipc:///tmp/bridge", False), ("inproc://bridge", False)])
def test_loopback_endpoints_are_recognised(endpoint: str, loopback: bool) -> None:
    assert is_loopback(endpoint) is loopback


def test_the_send_buffer_is_small_on_loopback_and_autotuned_elsewhere() -> None:
    """On loopback a small buffer keeps the data in cache; elsewhere the kernel's autotuning stays."""
    with BridgeServer(0, "PUSH") as server:
        assert server._socket.sndbuf == LOOPBACK_SNDBUF
    with BridgeServer("tcp://0.0.0.0:*", "PUSH") as server:
        assert server._socket.sndbuf == -1        # ZeroMQ leaves the OS default alone
    with BridgeServer(0, "PUSH", sndbuf=0) as server:
        assert server._socket.sndbuf == -1
    with BridgeServer(0, "PUSH", sndbuf=1 << 20) as server, \
            Client(server.endpoint, sock="PULL", timeout=5) as client:
        assert server._socket.sndbuf == 1 << 20
        data, _ = receive(client, server, "PUSH")
    assert_same(data, deserialize(serialize(*sample_train()))[0])
