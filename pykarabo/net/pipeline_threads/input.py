"""The threaded pipeline input: a reader thread per output it connects to; handlers on that
thread or on the process-wide handler pool."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Callable, Iterable, Iterator

from pykarabo import Hash
from pykarabo._core.pipeline import (DEFAULT_MAX_QUEUE_LENGTH, END_OF_STREAM, BufferPool, InputCore, MetaData,
                                     carryOut)
from pykarabo.errors import KaraboTimeoutError
from pykarabo.net import defaultInputId, parseOutputAddress

from .common import _deadline, _receive, _remaining, _setBlocking, _waitFor
from .output import _localOutputs

log = logging.getLogger(__name__)

_handlerPool: ThreadPoolExecutor | None = None
_handlerPoolLock = threading.Lock()


def _handlers() -> ThreadPoolExecutor:
    """The process-wide worker pool running input handlers (inputs are served in parallel)."""
    global _handlerPool
    with _handlerPoolLock:
        if _handlerPool is None:
            _handlerPool = ThreadPoolExecutor(thread_name_prefix="pipe-handler")
        return _handlerPool


class _InputConnection:
    """One connection of an input to an output: carries the core's hello and updates."""

    def __init__(self, channel: "InputChannel", sock: socket.socket, key: int):
        self.channel = channel
        self.sock = sock
        self.key = key

    def send(self, parts: list) -> None:
        try:
            for part in parts:              # a hello or an update: one small buffer
                self.sock.sendall(part)
        except OSError as e:
            # A reset or broken pipe means the output left, which the reader thread reports as the
            # connection's loss; anything else is unexpected.
            level = logging.INFO if isinstance(e, ConnectionError) else logging.WARNING
            log.log(level, "input %s: sending to output %d failed: %s", self.channel.instanceId, self.key, e)
            self.abort()

    def abort(self) -> None:
        """Stop using this connection; its reader thread wakes up and reports the loss."""
        if self.channel._conns.get(self.key) is self:
            del self.channel._conns[self.key]
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class InputChannel:
    """A pipeline input (TCP client of one or more outputs) served by threads.

    ``get()`` returns ``(data, MetaData)`` per item, or END_OF_STREAM once all outputs ended
    their stream; iterating yields items up to the next end-of-stream.  Alternatively handlers
    (``onData(data, meta)`` per item, ``onInput(items)`` per message, ``onEndOfStream(input)``)
    are called one message at a time per input, several inputs in parallel: on the reader thread
    that received the message (a worker pool serves messages handed over in memory and those
    queued before a handler was registered); do not mix them with ``get()``.  Lost connections
    are re-established with back-off.
    """

    def __init__(self, outputs: Iterable, *, instanceId: str | None = None, dataDistribution: str = "copy",
                 onSlowness: str = "drop", maxQueueLength: int = DEFAULT_MAX_QUEUE_LENGTH,
                 queueCapacity: int = 2, connectTimeout: float = 5.0, sendTimeout: float = 30.0,
                 reconnectDelay: tuple[float, float] = (0.1, 2.0), pool: BufferPool | None = None,
                 maxHeaderSize: int = 16 << 20, maxBodySize: int = 0xFFFFFFFF,
                 onData: Callable | None = None, onInput: Callable | None = None,
                 onEndOfStream: Callable | None = None):
        self.instanceId = instanceId or defaultInputId()
        self.core = InputCore(self.instanceId, dataDistribution, onSlowness, maxQueueLength, queueCapacity,
                              maxHeaderSize, maxBodySize, pool)
        outputs = list(outputs)
        self.addresses = [parseOutputAddress(a) for a in outputs]
        # Karabo's rule: in memory when the connection info says "local" (same process) and
        # KARABO_NO_PIPELINE_SHORTCUT is not set.
        self._local = [isinstance(a, (Hash, dict)) and a.get("memoryLocation") == "local"
                       and not os.environ.get("KARABO_NO_PIPELINE_SHORTCUT") for a in outputs]
        self.connectTimeout = connectTimeout
        self.sendTimeout = sendTimeout
        self.reconnectDelay = reconnectDelay
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._waiters = 0       # threads waiting on _cond
        self._conns: dict[int, _InputConnection] = {}
        self._closing = False
        self._onData = onData
        self._onInput = onInput
        self._onEndOfStream = onEndOfStream
        self._draining = False
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True,
                                          name=f"pipe-in {h}:{p}") for i, (h, p) in enumerate(self.addresses)]
        for t in self._threads:
            t.start()

    def _dispatch(self) -> None:
        """Send the core's updates / close what it rejected, start the handlers on the pool if
        messages wait for them; called with the lock held."""
        if self._claimDrain():
            _handlers().submit(self._drain)

    def _readerDispatch(self) -> Callable[[], None] | None:
        """:meth:`_dispatch` for a reader thread: it runs the handlers itself once it released the
        lock.  That saves a thread hand-over per message (waking a pool thread, which then
        contends with this reader for the GIL); the update is sent before, so the output sends on
        while the handler runs and the next message waits in the socket, as in Karabo's
        two-buffer input.  It takes the first message in the same locked section."""
        if not self._claimDrain():
            return None
        budget = self.core.queuedMessages
        return partial(self._drain, budget, self._nextMessage())

    def _claimDrain(self) -> bool:
        """Carry out the core's actions; True if the caller has to drain the queued messages."""
        carryOut(self.core.takeActions(), self._conns)
        if self._waiters:
            self._cond.notify_all()
        if self._draining or self._closing or not self.core.queuedMessages:
            return False
        if self._onData is not None or self._onInput is not None or self._onEndOfStream is not None:
            self._draining = True
            return True
        return False

    def registerDataHandler(self, handler: Callable | None) -> None:
        """Call ``handler(data, meta)`` for every item (on the threads the class describes)."""
        with self._lock:
            self._onData = handler
            self._dispatch()

    def registerInputHandler(self, handler: Callable | None) -> None:
        """Call ``handler(items)`` with the ``(data, meta)`` list of every message (before data handlers)."""
        with self._lock:
            self._onInput = handler
            self._dispatch()

    def registerEndOfStreamEventHandler(self, handler: Callable | None) -> None:
        """Call ``handler(input)`` once all connected outputs ended their stream."""
        with self._lock:
            self._onEndOfStream = handler
            self._dispatch()

    def _nextMessage(self) -> list | object | None:
        """The next queued message for the handlers, or None (closing, or nothing queued);
        called with the lock held by the thread that claimed the draining."""
        msg = None if self._closing else self.core.takeMessage()
        if msg is not None and self.core.hasActions:      # taking it freed a place: an owed update
            self._claimDrain()
        return msg

    def _drain(self, budget: int | None = None, msg: list | object | None = None) -> None:
        """Hand queued messages (starting with ``msg`` if given) to the handlers, in order; one
        such task per input at a time.

        A reader thread handles a ``budget`` of messages (those queued when it started: normally
        the one it just read) and leaves the rest to the pool, so that it gets back to its
        socket and the messages of the input's other connections cannot keep it away.
        """
        if msg is None:
            with self._lock:
                msg = self._nextMessage()
                if msg is None:
                    self._draining = False
                    return
        while msg is not None:
            onData, onInput, onEos = self._onData, self._onInput, self._onEndOfStream
            try:
                if msg is END_OF_STREAM:
                    if onEos is not None:
                        onEos(self)
                else:
                    if onInput is not None:
                        onInput(msg)
                    if onData is not None:
                        for data, meta in msg:
                            onData(data, meta)
            except Exception:
                log.exception("input %s: a handler failed", self.instanceId)
            with self._lock:
                if budget is not None:
                    budget -= 1
                msg = self._nextMessage() if budget != 0 else None
                if msg is None:
                    self._draining = False
                    self._dispatch()        # the pool takes what is left

    def _run(self, key: int) -> None:
        host, port = self.addresses[key]
        peer = f"{host}:{port}"
        delay = self.reconnectDelay[0]
        while not self._closing:
            try:
                sock = socket.create_connection((host, port), timeout=self.connectTimeout)
            except OSError as e:
                log.debug("input %s: cannot connect to %s (%s), retrying in %.1f s", self.instanceId, peer, e, delay)
                self._sleep(delay)
                delay = min(2 * delay, self.reconnectDelay[1])
                continue
            delay = self.reconnectDelay[0]
            _setBlocking(sock, self.sendTimeout)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)     # as Karabo's inputs do
            local = self._local[key] and self._claimLocal(key, port, sock)
            with self._lock:
                if self._closing:
                    sock.close()
                    return
                conn = self._conns[key] = _InputConnection(self, sock, key)
                self.core.connect(key, peer, local)
                self._dispatch()
            self._read(conn, peer)
            sock.close()
            if not self._closing:
                self._sleep(delay)

    def _read(self, conn: _InputConnection, peer: str) -> None:
        key = conn.key
        try:
            _receive(conn.sock, self.core, key, self._lock, self._readerDispatch,
                     lambda: not self._closing and self._conns.get(key) is conn)
            if self._conns.get(key) is conn:
                log.info("input %s: output %s closed the connection", self.instanceId, peer)
        except OSError as e:
            if not self._closing:
                log.info("input %s: connection to %s failed: %s", self.instanceId, peer, e)
        finally:
            with self._lock:
                if self._conns.get(key) is conn:
                    del self._conns[key]
                self.core.disconnect(key)
                self._dispatch()

    def _claimLocal(self, key: int, port: int, sock: socket.socket) -> bool:
        """True if the output at ``port`` lives in this process and will hand chunks over in memory."""
        output = _localOutputs.get(port)
        if output is None:
            return False
        host, localPort = sock.getsockname()[:2]
        return output._claimLocal(f"{host}:{localPort}", self, key)

    def _deliverLocal(self, key: int, items: list | object) -> None:
        """A message handed over in memory by an output of this process."""
        with self._lock:
            self.core.deliver(key, items)
            self._dispatch()

    def _sleep(self, seconds: float) -> None:
        with self._lock:
            _waitFor(self, lambda: self._closing, seconds)

    def get(self, timeout: float | None = None) -> tuple[Hash, MetaData] | object:
        """The next item ``(data, MetaData)`` or END_OF_STREAM; KaraboTimeoutError after ``timeout`` s."""
        deadline = _deadline(timeout)
        with self._lock:
            while True:
                item = self.core.take()
                if item is not None:
                    if self.core.hasActions:        # taking the last item of a message frees a place
                        self._dispatch()
                    return item
                if self._closing:
                    raise EOFError("the input channel is closed")
                self._waiters += 1
                try:
                    woken = self._cond.wait(_remaining(deadline))
                finally:
                    self._waiters -= 1
                if not woken and deadline is not None and time.monotonic() >= deadline:
                    raise KaraboTimeoutError(f"input {self.instanceId}: no data within {timeout} s")

    def waitConnected(self, n: int | None = None, timeout: float | None = None) -> None:
        """Block until ``n`` (default: all) outputs are connected."""
        n = len(self.addresses) if n is None else n
        with self._lock:
            if not _waitFor(self, lambda: len(self.core.connections()) >= n, timeout):
                raise KaraboTimeoutError(f"input {self.instanceId}: {len(self.core.connections())} of {n} "
                                         f"outputs connected within {timeout} s")

    def __iter__(self) -> Iterator[tuple[Hash, MetaData]]:
        """Items until the next end-of-stream."""
        while True:
            item = self.get()
            if item is END_OF_STREAM:
                return
            yield item

    def close(self) -> None:
        """Disconnect from every output and stop the threads."""
        with self._lock:
            self._closing = True
            for conn in list(self._conns.values()):
                conn.abort()
            if self._waiters:
                self._cond.notify_all()
        for t in self._threads:
            if t is not threading.current_thread():     # a handler closing its own input
                t.join(timeout=2)

    def __enter__(self) -> "InputChannel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
