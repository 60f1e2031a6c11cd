"""ZeroCopySender: pyzmq's send_multipart(copy=False) without pyzmq's garbage-collector thread."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from functools import partial

import numpy as np
import pytest
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st

from pykarabo._core import zmqsend
from pykarabo._core.zmqsend import ZeroCopySender

LARGE = zmq.COPY_THRESHOLD      # frames of this size and above are sent without a copy


@pytest.fixture
def pair() -> Iterator[tuple[zmq.Socket, zmq.Socket]]:
    """A PUSH socket and the PULL socket it feeds, over inproc (frames are passed, not copied)."""
    ctx = zmq.Context()
    push, pull = ctx.socket(zmq.PUSH), ctx.socket(zmq.PULL)
    push.bind("inproc://zero-copy")
    pull.connect("inproc://zero-copy")
    yield push, pull
    ctx.destroy(linger=0)


def test_available_with_pyzmq_cython_backend() -> None:
    assert zmqsend.AVAILABLE


def test_frames_arrive_in_order_and_intact(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    push, pull = pair
    array = np.arange(LARGE, dtype=np.uint16)
    frames = [b"head", b"", memoryview(array), bytearray(b"small"), array[:3]]
    ZeroCopySender(push).send_multipart(frames)
    received = pull.recv_multipart()
    assert received == [bytes(memoryview(f)) for f in frames]


SIZES = st.sampled_from([0, 1, 100, LARGE - 1, LARGE, LARGE + 1, 3 * LARGE + 5])


@settings(max_examples=60, deadline=None)
@given(frames=st.lists(st.tuples(SIZES, st.integers(0, 255)), min_size=1, max_size=6),
       kind=st.sampled_from([bytes, bytearray, memoryview, partial(np.frombuffer, dtype=np.uint8)]))
def test_any_frames_arrive_intact_and_are_let_go(frames: list[tuple[int, int]], kind: Callable) -> None:
    ctx = zmq.Context()
    try:
        push, pull = ctx.socket(zmq.PUSH), ctx.socket(zmq.PULL)
        push.bind("inproc://any")
        pull.connect("inproc://any")
        sender = ZeroCopySender(push)
        payloads = [bytes([fill]) * size for size, fill in frames]
        sender.send_multipart([kind(p) for p in payloads])
        assert pull.recv_multipart() == payloads
        assert sender.held == 0          # the copy received above released every frame
    finally:
        ctx.destroy(linger=0)


def test_large_frames_are_not_copied_and_kept_alive_until_zeromq_is_done(
        pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    push, pull = pair
    sender = ZeroCopySender(push)
    array = np.arange(LARGE, dtype=np.uint32)
    address = array.ctypes.data
    sender.send_multipart([b"small", array])
    del array
    gc.collect()
    assert sender.held == 1                        # the array is alive although nobody else has it
    small, large = pull.recv_multipart(copy=False)
    assert sender.held == 1                        # the received frame is the sent buffer itself
    view = np.frombuffer(large.buffer, np.uint32)
    assert view.ctypes.data == address
    assert view[-1] == LARGE - 1
    del view, large, small
    gc.collect()
    assert sender.held == 0


def test_a_full_queue_raises_again_and_holds_nothing() -> None:
    ctx = zmq.Context()
    try:
        push = ctx.socket(zmq.PUSH)
        push.bind("inproc://nobody")           # no peer: a non-blocking send cannot go
        sender = ZeroCopySender(push)
        with pytest.raises(zmq.Again):
            sender.send_multipart([np.zeros(LARGE, np.uint8), b"x"], zmq.NOBLOCK)
        assert sender.held == 0
    finally:
        ctx.destroy(linger=0)


def test_blocking_send_waits_for_a_peer() -> None:
    ctx = zmq.Context()
    try:
        push = ctx.socket(zmq.PUSH)
        push.sndtimeo = 100
        push.bind("inproc://late")
        with pytest.raises(zmq.Again):             # the send timeout ends the wait, as in pyzmq
            ZeroCopySender(push).send_multipart([b"x"])
    finally:
        ctx.destroy(linger=0)


def test_errors(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    push, pull = pair
    sender = ZeroCopySender(push)
    with pytest.raises(ValueError, match="at least one frame"):
        sender.send_multipart([])
    # A frame without a buffer fails the message before any frame of it is sent.
    with pytest.raises(TypeError):
        sender.send_multipart([np.zeros(LARGE, np.uint8), b"x", "text is not a buffer"])
    with pytest.raises(ValueError, match="contiguous"):
        sender.send_multipart([b"x", np.zeros((LARGE, 2))[:, 0]])
    assert sender.held == 0
    sender.send_multipart([b"next", b"message"])
    assert pull.recv_multipart() == [b"next", b"message"]
    push.close()
    with pytest.raises(zmq.ZMQError) as info:
        sender.send_multipart([b"x"])
    assert info.value.errno == zmq.ENOTSOCK


def test_frames_of_a_dropped_sender_stay_alive_until_zeromq_is_done(
        pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    push, pull = pair
    sender = ZeroCopySender(push)
    sender.send_multipart([np.full(LARGE, 7, np.uint8)])
    del sender
    gc.collect()
    frame = pull.recv(copy=False)
    assert bytes(frame.buffer[-4:]) == b"\x07" * 4
    del frame
    other = ZeroCopySender(push)
    other.reclaim()                                # tidies the dropped sender's frames too
    assert not zmqsend._orphans


def test_reclaim_after_the_context_is_gone() -> None:
    ctx = zmq.Context()
    push, pull = ctx.socket(zmq.PUSH), ctx.socket(zmq.PULL)
    push.bind("inproc://term")
    pull.connect("inproc://term")
    sender = ZeroCopySender(push)
    sender.send_multipart([np.ones(LARGE, np.uint8)])      # queued, never received
    ctx.destroy(linger=0)
    assert sender.held == 0
