"""Pipeline channels over blocking sockets and threads (the bound API's transport).

Socket reads and gather-writes release the GIL; every protocol decision is taken by the
sans-I/O cores of ``pykarabo._core.pipeline`` under one lock per channel.

An input whose connection info says memoryLocation "local" (Karabo's mark for an output of the
same process; ``KARABO_NO_PIPELINE_SHORTCUT`` turns it off) and whose output really is one of this
process takes the chunks as items handed over in memory: no serialization, no loopback copies.
The TCP connection still carries hello and updates, so readiness and the policies are unchanged.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import threading
import time
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Callable, Iterable, Iterator

from pykarabo import Hash
from pykarabo._core.pipeline import (DEFAULT_MAX_QUEUE_LENGTH, END_OF_STREAM, BufferPool, InputCore, MetaData,
                                     OutputCore, carryOut)
from pykarabo.errors import KaraboTimeoutError
from pykarabo.net import connectionInfo, defaultInputId, parseOutputAddress

log = logging.getLogger(__name__)

_POLL = 0.2   # seconds between checks of the closing flag in blocking loops

_LOCAL_CLAIM_WAIT = 2.0   # seconds an input waits for an output of this process to accept it

# Outputs of this process by port: an input told that its output is local (Karabo's connection
# info says memoryLocation "local" for the same process) takes its chunks in memory.
_localOutputs: weakref.WeakValueDictionary[int, "OutputChannel"] = weakref.WeakValueDictionary()

_handlerPool: ThreadPoolExecutor | None = None
_handlerPoolLock = threading.Lock()


def _handlers() -> ThreadPoolExecutor:
    """The process-wide worker pool running input handlers (inputs are served in parallel)."""
    global _handlerPool
    with _handlerPoolLock:
        if _handlerPool is None:
            _handlerPool = ThreadPoolExecutor(thread_name_prefix="pipe-handler")
        return _handlerPool


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def gatherViews(parts: list) -> list:
    """Byte views of the non-empty ``parts``, for :func:`sendViews`."""
    return [memoryview(p).cast("B") for p in parts if len(p)]


def sendViews(sock: socket.socket, views: list, flags: int = 0) -> int:
    """Gather-write ``views`` (consumed from the front) until done or the socket would block
    (full, or its send timeout expired); returns the number of bytes sent."""
    total = 0
    while views:
        try:
            sent = sock.sendmsg(views[:512], [], flags)
        except BlockingIOError:
            return total
        total += sent
        while sent:
            n = len(views[0])
            if sent >= n:
                sent -= n
                views.pop(0)
            else:
                views[0] = views[0][sent:]
                sent = 0
    return total


def sendNow(sock: socket.socket, parts: list, flags: int = 0) -> list:
    """Send as much of the message ``parts`` as the socket takes without waiting (non-blocking
    socket, or ``MSG_DONTWAIT`` in ``flags``); returns the unsent rest as views for :func:`sendViews`."""
    if len(parts) == 1 and type(parts[0]) is bytes:
        # Small messages are one joined buffer: a plain send, no views to build.
        part = parts[0]
        try:
            sent = sock.send(part, flags)
        except BlockingIOError:
            sent = 0
        return [] if sent == len(part) else [memoryview(part)[sent:]]
    views = gatherViews(parts)
    sendViews(sock, views, flags)
    return views


def _receive(sock: socket.socket, core: InputCore | OutputCore, key: int, cond: threading.Condition,
             dispatch: Callable[[], Callable[[], None] | None], current: Callable[[], bool]) -> None:
    """Read ``sock`` into ``core`` while ``current()`` holds, until the peer closes (returns) or
    the socket fails (OSError).  Receiving needs no lock (only this thread fills this
    connection's buffers, straight into a pooled block once a body streams in); processing the
    bytes and carrying out the resulting actions happen under ``cond``.  ``dispatch`` may return
    work for this thread to do once the lock is released (running the input's handlers)."""
    recvInto = sock.recv_into
    while current():
        buf = core.getBuffer(key)
        n = recvInto(buf)
        del buf                 # the pooled block must not stay exported
        if n == 0:
            return
        with cond:
            core.bufferUpdated(key, n)
            then = dispatch()
        if then is not None:
            then()


def _setBlocking(sock: socket.socket, sendTimeout: float) -> None:
    """Blocking mode with a kernel send timeout, no Python timeout.

    A Python timeout costs a poll() before every recv/send (and defeats MSG_DONTWAIT); closing
    wakes blocked readers by shutdown(), and the kernel's send timeout catches peers that stop
    reading.
    """
    sock.settimeout(None)
    sec = int(sendTimeout)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", sec, int((sendTimeout - sec) * 1e6)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _OutputConnection:
    """One accepted socket: sends go out directly while the socket takes them, a writer thread
    finishes what would block; a reader thread feeds the core with the input's requests."""

    def __init__(self, channel: "OutputChannel", sock: socket.socket, peer: str):
        self.channel = channel
        self.sock = sock
        self.peer = peer
        self.pending: deque[list] = deque()   # unsent messages, oldest (being written) first
        self.wake = threading.Condition(threading.Lock())
        self.closed = False
        self.local: tuple[InputChannel, int] | None = None   # the input of this process behind it
        self.reader = threading.Thread(target=self._read, name=f"pipe-out-read {peer}", daemon=True)
        self.writer = threading.Thread(target=self._write, name=f"pipe-out-write {peer}", daemon=True)

    def start(self) -> None:
        self.reader.start()
        self.writer.start()

    def send(self, parts: list) -> None:
        """Queue one message; written at once, without blocking, if nothing is ahead of it."""
        with self.wake:
            if self.closed:
                return
            if self.pending:
                views = gatherViews(parts)
            else:
                try:
                    # Saves a thread hand-over per message: the latency of small items.
                    views = sendNow(self.sock, parts, socket.MSG_DONTWAIT)
                except OSError:
                    views = gatherViews(parts)      # broken: the writer thread reports it
                if not views:
                    return
            self.pending.append(views)
            self.wake.notify()

    def deliver(self, items: list | object) -> None:
        """Hand a message to the input of this process behind this connection."""
        inp, key = self.local
        inp._deliverLocal(key, items)

    def abort(self) -> None:
        """Stop both threads (the socket is closed by the reader once it wakes up)."""
        with self.wake:
            if self.closed:
                return
            self.closed = True
            self.wake.notify()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _read(self) -> None:
        channel = self.channel
        try:
            _receive(self.sock, channel.core, id(self), channel._cond, channel._dispatch, self._current)
        except KeyError:
            pass        # the core dropped this connection in the meantime (another one took over its input)
        except OSError as e:
            if not self.closed:
                log.info("output: connection from %s failed: %s", self.peer, e)
        finally:
            self.channel._lost(self)
            self.sock.close()

    def _current(self) -> bool:
        return not self.closed and id(self) in self.channel._conns

    def _write(self) -> None:
        while True:
            with self.wake:
                while not self.pending and not self.closed:
                    self.wake.wait()
                if self.closed:
                    return
                views = self.pending[0]
            try:
                sendViews(self.sock, views)
            except OSError as e:
                if not self.closed:
                    log.info("output: sending to %s failed: %s", self.peer, e)
                self.channel._lost(self)
                return
            if views:                   # SO_SNDTIMEO expired without progress
                log.error("output: input at %s stopped reading for %.1f s, closing it",
                          self.peer, self.channel.sendTimeout)
                self.channel._lost(self)
                return
            with self.wake:
                self.pending.popleft()


class OutputChannel:
    """A pipeline output (TCP server) served by threads; usable standalone, without a device.

    ``write()`` items, ``update()`` to send them as one chunk (blocks while a ``wait`` input is
    not ready), ``signalEndOfStream()`` at the end.  Inputs find it by ``connectionInfo``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, source: str = "pykarabo:output",
                 noInputShared: str = "drop", bufferSetLayout: bool = True, sendTimeout: float = 30.0,
                 advertisedHost: str | None = None):
        self.core = OutputCore(source, noInputShared, bufferSetLayout)
        self.host = host
        self.sendTimeout = sendTimeout
        self._advertised = advertisedHost
        self._cond = threading.Condition()
        self._conns: dict[int, _OutputConnection] = {}
        self._listener = socket.create_server((host, port), reuse_port=False)
        self._listener.settimeout(_POLL)
        self.port: int = self._listener.getsockname()[1]
        self._closing = False
        self._claims: dict[str, tuple[InputChannel, int]] = {}   # peer address -> input of this process
        _localOutputs[self.port] = self
        self._acceptor = threading.Thread(target=self._accept, name=f"pipe-out-accept :{self.port}",
                                          daemon=True)
        self._acceptor.start()

    @property
    def connectionInfo(self) -> Hash:
        """The Hash an input connects with (``hostname``, ``port`` UINT32, ...)."""
        return connectionInfo(self._advertised or self.host, self.port)

    def _accept(self) -> None:
        while not self._closing:
            try:
                sock, addr = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            _setBlocking(sock, self.sendTimeout)
            conn = _OutputConnection(self, sock, f"{addr[0]}:{addr[1]}")
            with self._cond:
                if self._closing:
                    sock.close()
                    return
                self._conns[id(conn)] = conn
                self.core.connect(id(conn), conn.peer)
                self._adopt(conn)
                self._cond.notify_all()
            conn.start()

    def _claimLocal(self, peer: str, inp: "InputChannel", key: int) -> bool:
        """The input ``inp`` of this process connected from ``peer``: hand its chunks over in memory
        once the connection is accepted (waits up to a moment for that); False if it never was."""
        with self._cond:
            self._claims[peer] = (inp, key)
            for conn in self._conns.values():
                self._adopt(conn)
            if self._cond.wait_for(lambda: peer not in self._claims or self._closing, _LOCAL_CLAIM_WAIT):
                return not self._closing
            self._claims.pop(peer, None)
            return False

    def _adopt(self, conn: _OutputConnection) -> None:
        claim = self._claims.pop(conn.peer, None)
        if claim is not None:
            conn.local = claim
            self.core.setLocal(id(conn))

    def _dispatch(self) -> None:
        """Carry out the core's actions; called with the lock held."""
        carryOut(self.core.takeActions(), self._conns)
        self._cond.notify_all()

    def _lost(self, conn: _OutputConnection) -> None:
        with self._cond:
            if self._conns.pop(id(conn), None) is not None:
                self.core.disconnect(id(conn))
                self._dispatch()
        conn.abort()

    def write(self, data: Hash, source: str | None = None, timestamp: tuple | None = None,
              copyAllData: bool = True) -> None:
        """Add one item (``timestamp`` = (sec, frac, trainId)) to the next chunk."""
        with self._cond:
            self.core.write(data, source, timestamp, copyAllData)

    def update(self, timeout: float | None = None) -> None:
        """Send the items written since the last call; waits for ``wait`` inputs (``timeout`` s)."""
        with self._cond:
            self.core.update()
            self._dispatch()
            self._waitSent(timeout)

    def signalEndOfStream(self, timeout: float | None = None) -> None:
        """Flush, then send end-of-stream to every input."""
        with self._cond:
            self.core.signalEndOfStream()
            self._dispatch()
            self._waitSent(timeout)

    def _waitSent(self, timeout: float | None) -> None:
        if not self._cond.wait_for(lambda: not self.core.mustWait, timeout):
            raise KaraboTimeoutError(f"a 'wait' input of output port {self.port} was not ready "
                                     f"within {timeout} s")

    def waitForInputs(self, n: int = 1, timeout: float | None = None) -> None:
        """Block until at least ``n`` inputs said hello."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.core.inputs()) >= n, timeout):
                raise KaraboTimeoutError(f"{len(self.core.inputs())} of {n} inputs connected within {timeout} s")

    def registerSharedInputSelector(self, selector: Callable[[list], str] | None) -> None:
        """Let ``selector(sharedInputIds)`` name the shared input of each chunk (None: load-balance)."""
        with self._cond:
            self.core.registerSharedInputSelector(selector)

    def inputs(self) -> list:
        """``(instanceId, dataDistribution, onSlowness)`` of the connected inputs."""
        with self._cond:
            return self.core.inputs()

    def close(self) -> None:
        """Close the listener and every connection."""
        self._closing = True
        if _localOutputs.get(self.port) is self:
            del _localOutputs[self.port]
        self._listener.close()
        with self._cond:
            conns = list(self._conns.values())
            self._conns.clear()
            self._cond.notify_all()
        for c in conns:
            c.abort()
        self._acceptor.join(timeout=2)
        for c in conns:
            c.reader.join(timeout=2)

    def __enter__(self) -> "OutputChannel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
            log.warning("input %s: sending to output %d failed: %s", self.channel.instanceId, self.key, e)
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
        self._cond = threading.Condition()
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
        two-buffer input."""
        return partial(self._drain, self.core.queuedMessages) if self._claimDrain() else None

    def _claimDrain(self) -> bool:
        """Carry out the core's actions; True if the caller has to drain the queued messages."""
        carryOut(self.core.takeActions(), self._conns)
        self._cond.notify_all()
        if self._draining or self._closing or not self.core.queuedMessages:
            return False
        if self._onData is not None or self._onInput is not None or self._onEndOfStream is not None:
            self._draining = True
            return True
        return False

    def registerDataHandler(self, handler: Callable | None) -> None:
        """Call ``handler(data, meta)`` for every item (on the threads the class describes)."""
        with self._cond:
            self._onData = handler
            self._dispatch()

    def registerInputHandler(self, handler: Callable | None) -> None:
        """Call ``handler(items)`` with the ``(data, meta)`` list of every message (before data handlers)."""
        with self._cond:
            self._onInput = handler
            self._dispatch()

    def registerEndOfStreamEventHandler(self, handler: Callable | None) -> None:
        """Call ``handler(input)`` once all connected outputs ended their stream."""
        with self._cond:
            self._onEndOfStream = handler
            self._dispatch()

    def _drain(self, budget: int | None = None) -> None:
        """Hand queued messages to the handlers, in order; one such task per input at a time.

        A reader thread handles a ``budget`` of messages (those queued when it started: normally
        the one it just read) and leaves the rest to the pool, so that it gets back to its
        socket and the messages of the input's other connections cannot keep it away.
        """
        while True:
            with self._cond:
                msg = None if self._closing else self.core.takeMessage()
                if msg is None:
                    self._draining = False
                    return
                self._dispatch()
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
            if budget is not None:
                budget -= 1
                if budget == 0:
                    with self._cond:
                        self._draining = False
                        self._dispatch()        # the pool takes what arrived meanwhile
                    return

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
            with self._cond:
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
            _receive(conn.sock, self.core, key, self._cond, self._readerDispatch,
                     lambda: not self._closing and self._conns.get(key) is conn)
            if self._conns.get(key) is conn:
                log.info("input %s: output %s closed the connection", self.instanceId, peer)
        except OSError as e:
            if not self._closing:
                log.info("input %s: connection to %s failed: %s", self.instanceId, peer, e)
        finally:
            with self._cond:
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
        with self._cond:
            self.core.deliver(key, items)
            self._dispatch()

    def _sleep(self, seconds: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._closing, seconds)

    def get(self, timeout: float | None = None) -> tuple[Hash, MetaData] | object:
        """The next item ``(data, MetaData)`` or END_OF_STREAM; KaraboTimeoutError after ``timeout`` s."""
        deadline = _deadline(timeout)
        with self._cond:
            while True:
                item = self.core.take()
                if item is not None:
                    if self.core.hasActions:        # taking the last item of a message frees a place
                        self._dispatch()
                    return item
                if self._closing:
                    raise EOFError("the input channel is closed")
                if not self._cond.wait(_remaining(deadline)) and deadline is not None \
                        and time.monotonic() >= deadline:
                    raise KaraboTimeoutError(f"input {self.instanceId}: no data within {timeout} s")

    def waitConnected(self, n: int | None = None, timeout: float | None = None) -> None:
        """Block until ``n`` (default: all) outputs are connected."""
        n = len(self.addresses) if n is None else n
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.core.connections()) >= n, timeout):
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
        with self._cond:
            self._closing = True
            for conn in list(self._conns.values()):
                conn.abort()
            self._cond.notify_all()
        for t in self._threads:
            if t is not threading.current_thread():     # a handler closing its own input
                t.join(timeout=2)

    def __enter__(self) -> "InputChannel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
