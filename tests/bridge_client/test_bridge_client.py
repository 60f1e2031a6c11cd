"""Client and AsyncClient against loopback REP/PUB/PUSH servers run in threads."""

import asyncio
import itertools
import time

import numpy as np
import pytest
import zmq
from pykarabo_bridge import AsyncClient, Client, DecodeError, serialize

SRC = "DEV/X/1:out"


def train(tid: int) -> list:
    """Frames of a one-source train carrying its train ID in data and metadata."""
    data = {SRC: {"tid": tid, "image.data": np.full((4, 5), tid % 256, np.uint8)}}
    return serialize(data, {SRC: {"source": SRC, "timestamp.tid": tid}})


TRAINS = [train(tid) for tid in range(10, 13)]
CLIENT_FOR = {"REP": "REQ", "PUSH": "PULL", "PUB": "SUB"}


def tid_of(received: tuple[dict, dict]) -> int:
    data, meta = received
    assert data[SRC]["tid"] == meta[SRC]["timestamp.tid"]
    assert data[SRC]["image.data"].shape == (4, 5)
    return data[SRC]["tid"]


@pytest.mark.parametrize("server_kind", ["REP", "PUSH"])
def test_every_train_in_order(serve, server_kind: str) -> None:
    server = serve(server_kind, TRAINS)
    with Client(server.endpoint, sock=CLIENT_FOR[server_kind], timeout=5) as client:
        assert [tid_of(client.next()) for _ in TRAINS] == [10, 11, 12]
    if server_kind == "REP":
        assert server.requests == [b"next"] * 3


def test_sub_receives_increasing_trains(serve) -> None:
    server = serve("PUB", [train(tid) for tid in range(100)])
    with Client(server.endpoint, sock="SUB", timeout=5) as client:
        tids = [tid_of(client.next()) for _ in range(3)]
    # PUB drops trains for slow joiners, so only order is guaranteed
    assert tids == sorted(set(tids))


def test_iteration_and_zero_copy_arrays(serve) -> None:
    server = serve("PUSH", TRAINS)
    with Client(server.endpoint, sock="PULL", timeout=5) as client:
        received = list(itertools.islice(client, 3))
    image = received[0][0][SRC]["image.data"]
    assert not image.flags.owndata and image.flags.writeable
    assert (image == 10).all()


def test_timeout_raises_builtin_timeout_error(serve) -> None:
    server = serve("REP", [])  # binds but never answers
    client = Client(server.endpoint, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(
        TimeoutError, match=rf"No data received from {server.endpoint} in the last 200 ms"
    ):
        client.next()
    assert 0.15 < time.monotonic() - started < 2
    client.close()


def test_req_keeps_waiting_for_a_slow_reply() -> None:
    context = zmq.Context()
    server = context.socket(zmq.REP)
    server.linger = 0
    server.bind("tcp://127.0.0.1:*")
    try:
        with Client(server.last_endpoint.decode(), timeout=0.2) as client:
            with pytest.raises(TimeoutError):
                client.next()
            assert server.poll(2000) and server.recv() == b"next"
            server.send_multipart(TRAINS[0])
            assert tid_of(client.next()) == 10  # the late reply is not thrown away
            assert not server.poll(100)  # and nothing was asked twice
    finally:
        server.close()
        context.term()


def next_within(client: Client, attempts: int) -> tuple[dict, dict]:
    """Call next() until it stops timing out (bounded)."""
    for _ in range(attempts):
        try:
            return client.next()
        except TimeoutError:
            pass
    raise AssertionError(f"no train after {attempts} attempts")


def test_req_recovers_after_server_restart(serve) -> None:
    silent = serve("REP", [])
    endpoint = silent.endpoint
    client = Client(endpoint, timeout=0.3)
    with pytest.raises(TimeoutError):
        client.next()  # the request is swallowed by a server that then dies
    silent.stop()
    server = serve("REP", TRAINS, endpoint=endpoint)
    # the reference client would wait forever for the lost reply here
    assert tid_of(next_within(client, 20)) == 10
    assert server.requests == [b"next"]
    client.close()


def test_poll_does_not_block_or_resend(serve) -> None:
    server = serve("REP", TRAINS[:1])
    with Client(server.endpoint, timeout=5) as client:
        assert client.poll(5)
        assert client.poll(0)
        assert tid_of(client.next()) == 10
        assert not client.poll(0.05)  # the server has nothing more to send
    assert server.requests == [b"next"]


def test_server_error_reply_is_a_decode_error(serve) -> None:
    server = serve("REP", [[b"Error: bad request b'x'"], TRAINS[0]])
    with Client(server.endpoint, timeout=5) as client:
        with pytest.raises(DecodeError, match="server answered with an error"):
            client.next()
        assert tid_of(client.next()) == 10  # still usable after a bad message


def test_argument_errors() -> None:
    with pytest.raises(NotImplementedError, match="Unsupported socket: DEALER"):
        Client("tcp://127.0.0.1:5555", sock="DEALER")
    with pytest.raises(NotImplementedError, match="msgpack"):
        Client("tcp://127.0.0.1:5555", ser="pickle")
    with pytest.raises(zmq.ZMQError):
        Client("nonsense")
    with pytest.raises(ValueError, match="server_public_key"):
        Client("tcp://127.0.0.1:5555", public_key=b"x", secret_key=b"y")


def test_context_ownership() -> None:
    context = zmq.Context()
    with Client("tcp://127.0.0.1:5555", context=context):
        pass
    assert not context.closed  # a caller's context survives the with block
    context.term()
    with Client("tcp://127.0.0.1:5555") as client:
        pass
    assert client._context.closed


@pytest.mark.skipif(not zmq.has("curve"), reason="libzmq built without CURVE")
def test_curve_encryption(serve) -> None:
    server_public, server_secret = zmq.curve_keypair()
    server = serve("PUSH", TRAINS, curve_secret_key=server_secret)
    with Client(
        server.endpoint, sock="PULL", timeout=5, server_public_key=server_public.decode()
    ) as client:
        assert tid_of(client.next()) == 10
    with Client(server.endpoint, sock="PULL", timeout=0.3) as plain:
        with pytest.raises(TimeoutError):
            plain.next()  # a client without keys is refused


@pytest.mark.parametrize("server_kind", ["REP", "PUSH"])
def test_async_client(serve, server_kind: str) -> None:
    server = serve(server_kind, TRAINS)

    async def receive() -> list[int]:
        async with AsyncClient(server.endpoint, sock=CLIENT_FOR[server_kind], timeout=5) as client:
            first = tid_of(await client.next())
            rest = [tid_of(item) async for item in _take(client, 2)]
        return [first, *rest]

    assert asyncio.run(receive()) == [10, 11, 12]


async def _take(client: AsyncClient, count: int):
    """Yield the first ``count`` trains of an async client."""
    async for item in client:
        yield item
        count -= 1
        if not count:
            return


def test_async_timeout_and_recovery(serve) -> None:
    silent = serve("REP", [])
    endpoint = silent.endpoint

    async def receive() -> int:
        client = AsyncClient(endpoint, timeout=0.2, context=zmq.Context.instance())
        with pytest.raises(TimeoutError):
            await client.next()
        silent.stop()
        serve("REP", TRAINS, endpoint=endpoint)
        try:
            for _ in range(20):  # bounded: noticing the disconnect may take a few calls
                try:
                    return tid_of(await client.next())
                except TimeoutError:
                    pass
            raise AssertionError("no train after the server restarted")
        finally:
            client.close()

    assert asyncio.run(receive()) == 10
