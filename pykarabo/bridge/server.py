"""A Karabo Bridge server: trains go through a bounded queue to a ZeroMQ REP, PUB or PUSH socket.

The producer calls ``put(data, metadata)`` (or ``put_frames`` for already encoded messages) and
never waits for the network: when the queue is full the oldest train is dropped and counted.
A sender thread sends the queued trains; a PUSH or PUB train put while nothing is queued nor
being sent is sent by the caller itself, without blocking.  Trains are encoded with
``pykarabo_bridge.serialize`` (array parts are views of the producer's arrays, sent without
copying, see ``pykarabo._core.zmqsend``), so arrays must not be modified after they were put.
"""

from __future__ import annotations

import collections
import ipaddress
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import zmq
from pykarabo_bridge import PROTOCOL_VERSIONS, serialize

from pykarabo._core import zmqsend

__all__ = ["BridgeServer", "SOCKET_TYPES"]

log = logging.getLogger(__name__)

SOCKET_TYPES = {"REP": zmq.REP, "PUB": zmq.PUB, "PUSH": zmq.PUSH}
REQUEST = b"next"

_POLL_MS = 50          # how often blocking loops look at the stop flag
LOOPBACK_SNDBUF = 256 * 1024   # bytes, see BridgeServer; the kernel doubles it
_RATE_WINDOW = 2.0     # seconds over which rate and data_rate are averaged

Frames = Sequence[bytes | memoryview]


class _Queued:
    """A train waiting to be sent, and its frames once encoded (REP encodes ahead of the request)."""

    __slots__ = ("kind", "data", "metadata", "frames")

    def __init__(self, kind: str, data: Any, metadata: Mapping | None) -> None:
        self.kind, self.data, self.metadata = kind, data, metadata
        self.frames: Frames | None = data if kind == "frames" else None


def normalize_endpoint(endpoint: str | int) -> str:
    """A port number (0: any free port) becomes a loopback TCP endpoint; strings pass unchanged."""
    if isinstance(endpoint, int) or endpoint.isdigit():
        port = int(endpoint)
        return f"tcp://127.0.0.1:{port}" if port else "tcp://127.0.0.1:*"
    return endpoint


def is_loopback(endpoint: str) -> bool:
    """Whether a ZeroMQ TCP endpoint is bound to a loopback address (or the ``lo`` interface)."""
    if not endpoint.startswith("tcp://"):
        return False
    host = endpoint[len("tcp://"):].rsplit(":", 1)[0].strip("[]")
    if host in ("localhost", "lo"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BridgeServer:
    """Serve trains to Karabo Bridge clients (``karabo_bridge.Client``, the C++ client, EXtra-foam).

    ``sock`` is ``REP`` (answers ``b'next'`` requests), ``PUB`` or ``PUSH``; ``protocol_version``
    is ``'2.2'`` or ``'1.0'``.  Counters (``trains_sent``, ``trains_dropped``, ``bytes_sent``,
    ``bad_requests``) and rates (``rate`` in trains/s, ``data_rate`` in bytes/s) are attributes.
    ``curve_secret_key`` (Z85) turns on ZeroMQ CURVE encryption; clients then need the public key.

    ``sndbuf`` is the TCP send buffer in bytes (0: the kernel's autotuning, up to 4 MiB on Linux).
    By default it is ``LOOPBACK_SNDBUF`` for a loopback endpoint and autotuning elsewhere: with
    less data in flight the client copies each part out of the kernel while it is still in the
    CPU's cache.  On loopback that served 1.2-1.5 times the AGIPD module trains/s of autotuning in
    all three patterns; with 1M trains the client's own allocation of each train sets the pace
    (1.0-1.15 times).  Over a network, autotuning keeps long links full.
    """

    def __init__(self, endpoint: str | int = 0, sock: str = "REP", *, protocol_version: str = "2.2",
                 maxlen: int = 10, dummy_timestamps: bool = False, curve_secret_key: str | bytes | None = None,
                 context: zmq.Context | None = None, hwm: int = 1, sndbuf: int | None = None) -> None:
        if sock not in SOCKET_TYPES:
            raise ValueError(f"Unsupported socket type: {sock} (use REP, PUB or PUSH)")
        if protocol_version not in PROTOCOL_VERSIONS:
            raise ValueError(f"Unknown protocol version {protocol_version}")
        if maxlen < 1:
            raise ValueError("maxlen must be at least 1")
        self.sock = sock
        self.protocol_version = protocol_version
        self.dummy_timestamps = dummy_timestamps
        self.maxlen = maxlen
        self._own_context = context is None
        self._context = context or zmq.Context()
        self._socket = self._context.socket(SOCKET_TYPES[sock])
        # HWM 1 like the reference: PUB drops for slow subscribers instead of buffering GBs.
        self._socket.sndhwm = hwm
        self._socket.rcvhwm = hwm
        endpoint = normalize_endpoint(endpoint)
        if sndbuf is None:
            sndbuf = LOOPBACK_SNDBUF if is_loopback(endpoint) else 0
        if sndbuf > 0:
            self._socket.sndbuf = sndbuf
        if curve_secret_key is not None:
            self._socket.curve_server = True
            self._socket.curve_secretkey = (curve_secret_key.encode("ascii")
                                            if isinstance(curve_secret_key, str) else curve_secret_key)
        try:
            self._socket.bind(endpoint)
        except zmq.ZMQError:
            self._socket.close()
            if self._own_context:
                self._context.term()
            raise
        self.endpoint: str = self._socket.last_endpoint.decode()
        self._zero_copy = zmqsend.ZeroCopySender(self._socket) if zmqsend.AVAILABLE else None
        self._cond = threading.Condition()
        self._queue: collections.deque = collections.deque()
        self._busy = False      # the sender holds a train it has not finished sending
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"bridge-server {self.endpoint}", daemon=True)
        self.trains_put = 0
        self.trains_sent = 0
        self.trains_dropped = 0
        self.bytes_sent = 0
        self.requests = 0
        self.bad_requests = 0
        self.last_train_id: int | None = None
        self._history: collections.deque = collections.deque()   # (time, bytes) of recent sends

    # -- producer side --------------------------------------------------------------------------

    def start(self) -> "BridgeServer":
        """Start the sender thread (trains put before are kept)."""
        self._thread.start()
        log.info("bridge server (%s, protocol %s) on %s", self.sock, self.protocol_version, self.endpoint)
        return self

    def put(self, data: Mapping[str, Mapping[str, Any]], metadata: Mapping[str, Mapping] | None = None, *,
            block: bool = False, timeout: float | None = None) -> bool:
        """Queue one train ``{source: {key: value}}``; returns False if an older train was dropped for it.

        Without ``block`` a full queue drops its oldest train; with ``block`` it waits for room
        (up to ``timeout`` s, then drops the oldest).  ``metadata`` defaults to each source's
        ``'metadata'`` entry, as in the reference.
        """
        return self._enqueue(_Queued("train", data, metadata), block, timeout)

    def put_frames(self, frames: Frames, *, block: bool = False, timeout: float | None = None) -> bool:
        """Queue one already encoded message, sent exactly as given (used by replay)."""
        return self._enqueue(_Queued("frames", frames, None), block, timeout)

    def _enqueue(self, item: _Queued, block: bool, timeout: float | None) -> bool:
        with self._cond:
            if self._stopping:
                raise RuntimeError("the bridge server is stopped")
            # PUSH/PUB with nothing queued nor in flight: the caller sends the train itself,
            # without blocking.  Handing it to the sender thread would cost a thread wake-up,
            # which on a busy machine makes the tail of the latency (milliseconds at p99).
            direct = self.sock != "REP" and not self._queue and not self._busy and self._thread.is_alive()
            self.trains_put += 1
            if direct:
                self._busy = True
            else:
                kept = self._append(item, block, timeout)
        return self._send_directly(item) if direct else kept

    def _send_directly(self, item: _Queued) -> bool:
        """Encode and send in the caller's thread; a PUSH socket without a ready peer leaves it to the sender thread.

        Returns False if the train was dropped for newer ones put meanwhile.
        """
        try:
            frames = item.frames or self._encode(item)
        except (TypeError, ValueError) as exc:
            log.error("bridge server: cannot encode a train, dropped: %s", exc)
            self._finish(None, 0)
            return True
        try:
            self._note_train_id(item)
            if self._send(frames, item, wait=False):
                return True
        except BaseException:
            self._finish(None, 0)     # the sender thread must not wait for this send forever
            raise
        with self._cond:
            # Older than anything put meanwhile, so it goes first (or is the first dropped).
            item.frames = frames
            self._queue.appendleft(item)
            kept = len(self._queue) <= self.maxlen
            while len(self._queue) > self.maxlen:
                self._queue.popleft()
                self.trains_dropped += 1
            self._busy = False
            self._cond.notify_all()
        return kept

    def _append(self, item: _Queued, block: bool, timeout: float | None) -> bool:
        """Queue ``item`` (the condition's lock held), dropping the oldest trains beyond ``maxlen``."""
        if block and len(self._queue) >= self.maxlen:
            self._cond.wait_for(lambda: len(self._queue) < self.maxlen or self._stopping, timeout)
        kept = True
        while len(self._queue) >= self.maxlen:
            self._queue.popleft()
            self.trains_dropped += 1
            kept = False
        self._queue.append(item)
        self._cond.notify_all()
        return kept

    @property
    def queue_length(self) -> int:
        """Trains waiting to be sent."""
        return len(self._queue)

    @property
    def rate(self) -> float:
        """Trains sent per second over the last couple of seconds."""
        return self._rates()[0]

    @property
    def data_rate(self) -> float:
        """Bytes sent per second over the last couple of seconds."""
        return self._rates()[1]

    def _rates(self) -> tuple[float, float]:
        with self._cond:
            self._trim_history(time.monotonic())
            history = list(self._history)
        if len(history) < 2:
            return 0.0, 0.0
        span = history[-1][0] - history[0][0]
        if span <= 0:
            return 0.0, 0.0
        # The first send opens the window, so it is not counted in the rate.
        return (len(history) - 1) / span, sum(n for _, n in history[1:]) / span

    def _trim_history(self, now: float) -> None:
        while self._history and now - self._history[0][0] > _RATE_WINDOW:
            self._history.popleft()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every queued train was handed to ZeroMQ; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def stop(self, timeout: float = 2.0, linger: float = 0.0) -> None:
        """Stop the sender thread and close the socket; queued trains are discarded.

        A message already handed to ZeroMQ is never cut off: its peer gets the rest of it or
        leaves.  libzmq 4.3 aborts the whole process when a peer leaves just after its session
        was torn down in the middle of a message (``session_base.cpp:233``), which a closing
        socket's finite linger does to a peer that reads slowly.  So the socket closes with
        ZeroMQ's infinite linger and, with the server's own context, ZeroMQ finishes in the
        background; ``linger`` is how many seconds ``stop`` waits for that.  A peer that neither
        reads nor leaves keeps its last message (``hwm`` trains at most) in ZeroMQ until it does
        (TCP gives up on an unreachable peer after about 15 minutes).
        """
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            # A caller sending directly finishes before the socket is closed under it.
            self._cond.wait_for(lambda: not self._busy, timeout)
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("bridge server thread on %s did not stop within %.1f s", self.endpoint, timeout)
            return
        self._socket.close(linger=-1)
        if self._own_context:
            finisher = threading.Thread(target=self._context.term, name=f"bridge-server {self.endpoint} close",
                                        daemon=True)
            finisher.start()
            finisher.join(linger)
        if self._zero_copy is not None:
            self._zero_copy.reclaim()     # frames ZeroMQ still holds are kept until it lets go

    def __enter__(self) -> "BridgeServer":
        if not self._thread.is_alive():
            self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- sender thread --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stopping:
                item = self._take_requested() if self.sock == "REP" else self._take()
                if item is None:
                    continue
                try:
                    frames = item.frames or self._encode(item)
                except (TypeError, ValueError) as exc:
                    log.error("bridge server: cannot encode a train, dropped: %s", exc)
                    self._finish(None, 0)
                    if self.sock == "REP":
                        self._socket.send(b"Error: " + str(exc).encode(errors="replace"))
                    continue
                self._note_train_id(item)
                self._send(frames, item)
        except zmq.ZMQError as exc:
            if not self._stopping:
                log.error("bridge server on %s failed: %s", self.endpoint, exc)

    def _take_requested(self) -> _Queued | None:
        """REP: wait for a valid ``next``, then take the oldest train; bad requests get the reference's error reply.

        While no request is pending, the train at the head of the queue is encoded, so that a
        request finds it ready (the reference also serializes before it waits for the request);
        the train sent is still the oldest queued when the request comes, never one held back.
        """
        self._encode_ahead()
        if not self._socket.poll(_POLL_MS, zmq.POLLIN):
            return None
        request = self._socket.recv()
        self.requests += 1
        if request == REQUEST:
            return self._take()
        self.bad_requests += 1
        log.warning("bridge server: unrecognised request %r", request[:64])
        self._socket.send(b"Error: bad request " + request)
        return None

    def _encode_ahead(self) -> None:
        with self._cond:
            head = self._queue[0] if self._queue else None
        if head is not None and head.frames is None:
            try:
                head.frames = self._encode(head)
            except (TypeError, ValueError):
                pass     # reported when the train is taken and encoded again

    def _take(self) -> _Queued | None:
        with self._cond:
            # Wait in slices so that stop() is noticed even with nothing to send.
            while not self._queue or self._busy:     # busy: a caller is sending directly
                if self._stopping:
                    return None
                self._cond.wait(_POLL_MS / 1000)
            self._busy = True
            return self._queue.popleft()

    def _encode(self, item: _Queued) -> Frames:
        return serialize(item.data, item.metadata, protocol_version=self.protocol_version,
                         dummy_timestamps=self.dummy_timestamps)

    def _note_train_id(self, item: _Queued) -> None:
        if item.kind != "train":
            return
        for source, props in item.data.items():
            meta = (item.metadata or {}).get(source) or props.get("metadata") or {}
            tid = meta.get("timestamp.tid")
            if tid is not None:
                self.last_train_id = int(tid)
                return

    def _send(self, frames: Frames, item: _Queued, wait: bool = True) -> bool:
        """Hand the frames to ZeroMQ; False (nothing done) if a PUSH socket has no ready peer and not ``wait``."""
        # Sends never block: a REP reply is dropped by ZeroMQ if the requester's queue is full, a
        # PUSH without a ready peer waits in poll() below, PUB drops for slow subscribers.
        while True:
            if wait and self.sock == "PUSH" and not self._socket.poll(_POLL_MS, zmq.POLLOUT):
                # No PULL peer ready: hold this train; put() drops from the queue meanwhile.
                if self._stopping:
                    self._finish(None, 0)
                    return True
                continue
            try:
                if self._zero_copy is not None:
                    self._zero_copy.send_multipart(frames, zmq.NOBLOCK)
                else:
                    self._socket.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                if self.sock == "PUB":
                    self._finish(None, 0)
                    return True
                if not wait:
                    return False
                continue
            break
        self._finish(item, sum(memoryview(f).nbytes for f in frames))
        return True

    def _finish(self, item: _Queued | None, nbytes: int) -> None:
        with self._cond:
            if item is not None:
                now = time.monotonic()
                self.trains_sent += 1
                self.bytes_sent += nbytes
                self._history.append((now, nbytes))
                self._trim_history(now)
            self._busy = False
            self._cond.notify_all()
