"""What the input and output of the threaded transport share: deadlines, receiving into a
sans-I/O core, blocking-socket options, counted condition waits."""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import TYPE_CHECKING, Callable

from pykarabo._core.pipeline import InputCore, OutputCore

if TYPE_CHECKING:
    from .input import InputChannel
    from .output import OutputChannel

_POLL = 0.2   # seconds between checks of the closing flag in blocking loops


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _waitFor(owner: "OutputChannel | InputChannel", predicate: Callable[[], bool], timeout: float | None) -> bool:
    """``owner._cond.wait_for`` (its lock held), counted in ``owner._waiters``: notifying is
    skipped while nobody waits (it runs for every message)."""
    owner._waiters += 1
    try:
        return owner._cond.wait_for(predicate, timeout)
    finally:
        owner._waiters -= 1


def _receive(sock: socket.socket, core: InputCore | OutputCore, key: int, lock: threading.RLock,
             dispatch: Callable[[], Callable[[], None] | None], current: Callable[[], bool]) -> bool:
    """Read ``sock`` into ``core`` while ``current()`` holds: True once the peer closed, False
    when ``current()`` turned false; a failing socket raises OSError.  Receiving needs no lock
    (only this thread fills this connection's buffers, straight into a pooled block once a body
    streams in); processing the bytes and carrying out the resulting actions happen under
    ``lock``.  ``dispatch`` may return work for this thread to do once the lock is released
    (running the input's handlers)."""
    recvInto = sock.recv_into
    while current():
        buf = core.getBuffer(key)
        n = recvInto(buf)
        del buf                 # the pooled block must not stay exported
        if n == 0:
            return True
        with lock:
            core.bufferUpdated(key, n)
            then = dispatch()
        if then is not None:
            then()
    return False


def _timeval(seconds: float) -> bytes:
    sec = int(seconds)
    return struct.pack("ll", sec, int((seconds - sec) * 1e6))


def _setBlocking(sock: socket.socket, sendTimeout: float) -> None:
    """Blocking mode with a kernel send timeout, no Python timeout.

    A Python timeout costs a poll() before every recv/send (and defeats MSG_DONTWAIT); closing
    wakes blocked readers by shutdown(), and the kernel's send timeout catches peers that stop
    reading.
    """
    sock.settimeout(None)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(sendTimeout))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
