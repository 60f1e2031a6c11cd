"""Pipeline channels over blocking sockets and threads (the bound API's transport).

Socket reads and gather-writes release the GIL; every protocol decision is taken by the
sans-I/O cores of ``pykarabo._core.pipeline`` under one lock per channel.  With the GIL and
few cores, thread hand-overs cost more than small items: the thread that receives a message
acts on it itself (an input's reader runs the handlers; a producer waiting for its single
input reads that input's requests), and condition variables are only notified when someone
waits on them.

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

_LEND_PERIOD = 0.05   # seconds after which an output's reader thread takes back a socket the producer no longer reads

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


class _OutputConnection:
    """One accepted socket: sends go out directly while the socket takes them, a writer thread
    finishes what would block; a reader thread feeds the core with the input's requests, unless
    it lent the socket to the producer (see :meth:`OutputChannel._waitSent`)."""

    def __init__(self, channel: "OutputChannel", sock: socket.socket, peer: str):
        self.channel = channel
        self.sock = sock
        self.peer = peer
        self.pending: deque[list] = deque()   # unsent messages, oldest (being written) first
        self.sendLock = threading.Lock()     # taken directly where nobody is woken (cheaper)
        self.wake = threading.Condition(self.sendLock)
        self.closed = False
        self.local: tuple[InputChannel, int] | None = None   # the input of this process behind it
        # Lending (state guarded by the channel's lock): only one thread reads the socket at a time.
        self.lent = False           # the producer reads the requests; the reader thread is parked
        self.borrowing = False      # the producer is inside a recv of this socket
        self.borrows = 0            # reads by the producer, to notice when it stops reading
        self.parked = threading.Condition(channel._lock)
        self.reader = threading.Thread(target=self._read, name=f"pipe-out-read {peer}", daemon=True)
        self.writer = threading.Thread(target=self._write, name=f"pipe-out-write {peer}", daemon=True)

    def start(self) -> None:
        self.reader.start()
        self.writer.start()

    def send(self, parts: list) -> None:
        """Queue one message; written at once, without blocking, if nothing is ahead of it."""
        with self.sendLock:
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
            self.sock.shutdown(socket.SHUT_RDWR)      # also wakes a producer reading it
        except OSError:
            pass
        with self.parked:
            self.parked.notify()

    def lend(self) -> None:
        """Let the producer read; called by the reader thread with the channel's lock held."""
        self.lent = True
        self.channel._borrowed = self
        # The producer's reads end after _POLL at the latest: it then looks at its deadline and
        # at the connections again.
        self._setReadTimeout(_POLL)

    def giveBack(self) -> None:
        """The reader thread reads the socket again; called with the channel's lock held."""
        self.lent = False
        if self.channel._borrowed is self:
            self.channel._borrowed = None
        self._setReadTimeout(0)             # the reader thread blocks until data or shutdown
        self.parked.notify()

    def _setReadTimeout(self, seconds: float) -> None:
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(seconds))
        except OSError:
            pass            # closed meanwhile: nobody reads it any more

    def _dispatch(self) -> None:
        channel = self.channel
        channel._dispatch()
        # A producer waits for what this request made possible: it reads the next requests
        # itself, so that each message no longer wakes this thread and then the producer.
        if channel._waiting and len(channel._conns) == 1 and not self.closed and not channel.core.mustWait:
            self.lend()

    def _park(self) -> None:
        """Wait while the socket is lent to the producer; take it back once the producer did
        not read for a whole period (it stopped producing) or the connection is going away."""
        seen = -1
        while self.lent:
            # A producer inside a recv leaves it by itself (data, shutdown or SO_RCVTIMEO).
            if not self.borrowing and (self.borrows == seen or self.closed or not self._current()):
                self.giveBack()
                return
            seen = self.borrows
            self.parked.wait(_LEND_PERIOD)

    def _read(self) -> None:
        channel = self.channel
        try:
            while not _receive(self.sock, channel.core, id(self), channel._lock, self._dispatch, self._reading):
                with channel._lock:
                    self._park()        # (it may have been given back already)
                    if not self._current():
                        break
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

    def _reading(self) -> bool:
        return not self.lent and self._current()

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
            with self.sendLock:
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
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._conns: dict[int, _OutputConnection] = {}
        self._waiters = 0       # threads waiting on _cond
        self._waiting = 0       # ... of them producers waiting in _waitSent for a reader thread
        self._borrowed: _OutputConnection | None = None   # the connection whose requests the producer reads
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
            with self._lock:
                if self._closing:
                    sock.close()
                    return
                self._conns[id(conn)] = conn
                self.core.connect(id(conn), conn.peer)
                self._adopt(conn)
                if self._waiters:
                    self._cond.notify_all()
            conn.start()

    def _claimLocal(self, peer: str, inp: "InputChannel", key: int) -> bool:
        """The input ``inp`` of this process connected from ``peer``: hand its chunks over in memory
        once the connection is accepted (waits up to a moment for that); False if it never was."""
        with self._lock:
            self._claims[peer] = (inp, key)
            for conn in self._conns.values():
                self._adopt(conn)
            if _waitFor(self, lambda: peer not in self._claims or self._closing, _LOCAL_CLAIM_WAIT):
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
        if self._waiters:
            self._cond.notify_all()

    def _lost(self, conn: _OutputConnection) -> None:
        with self._lock:
            if self._conns.pop(id(conn), None) is not None:
                self.core.disconnect(id(conn))
                self._dispatch()
        conn.abort()

    def write(self, data: Hash, source: str | None = None, timestamp: tuple | None = None,
              copyAllData: bool = True) -> None:
        """Add one item (``timestamp`` = (sec, frac, trainId)) to the next chunk."""
        with self._lock:
            self.core.write(data, source, timestamp, copyAllData)

    def update(self, timeout: float | None = None) -> None:
        """Send the items written since the last call; waits for ``wait`` inputs (``timeout`` s)."""
        with self._lock:
            self.core.update()
            self._dispatch()
            self._waitSent(timeout)

    def signalEndOfStream(self, timeout: float | None = None) -> None:
        """Flush, then send end-of-stream to every input."""
        with self._lock:
            self.core.signalEndOfStream()
            self._dispatch()
            self._waitSent(timeout)

    def _waitSent(self, timeout: float | None) -> None:
        """Wait (lock held once, by update) until no ``wait`` input holds a queued chunk.

        With a single connection the waiting producer reads the input's requests itself once
        the reader thread lent it the socket: per message that saves waking the reader thread
        and then the producer (leader/follower; only one thread reads a socket at a time).
        Requests left in the socket meanwhile change no decision: a ``wait`` input's chunk is
        queued and goes out as soon as the producer reads its update, within the same call;
        and a producer that does not wait stops reading, so the reader thread takes over again.
        """
        deadline = _deadline(timeout)
        while self.core.mustWait and not self._closing:
            conn = self._borrowed
            if conn is not None and not conn.borrowing:
                self._borrowRead(conn, deadline)    # when it gives the socket back, look again
            else:
                self._waiting += 1
                self._waiters += 1
                try:
                    self._cond.wait(_remaining(deadline))
                finally:
                    self._waiting -= 1
                    self._waiters -= 1
            if deadline is not None and time.monotonic() >= deadline and self.core.mustWait:
                raise KaraboTimeoutError(f"a 'wait' input of output port {self.port} was not ready "
                                         f"within {timeout} s")

    def _borrowRead(self, conn: _OutputConnection, deadline: float | None) -> None:
        """One read of the borrowed ``conn`` by the producer, lock held once (released while
        it blocks, up to _POLL or the deadline).  On any trouble the socket goes back to the
        reader thread, which finds out what went wrong and reports it."""
        key = id(conn)
        if conn.closed or len(self._conns) != 1 or key not in self._conns:
            conn.giveBack()
            return
        wait = _POLL if deadline is None else min(_POLL, max(1e-3, deadline - time.monotonic()))
        if wait < _POLL:
            conn._setReadTimeout(wait)
        buf = self.core.getBuffer(key)
        conn.borrowing = True
        conn.borrows += 1
        self._lock.release()
        try:
            n = conn.sock.recv_into(buf)
        except BlockingIOError:
            n = -1                  # SO_RCVTIMEO expired: nothing yet
        except OSError:
            n = 0
        finally:
            del buf
            self._lock.acquire()
            if wait < _POLL:
                conn._setReadTimeout(_POLL)
            conn.borrowing = False
        if n == 0 or conn.closed:
            conn.giveBack()
        elif n > 0:
            self.core.bufferUpdated(key, n)
            self._dispatch()

    def waitForInputs(self, n: int = 1, timeout: float | None = None) -> None:
        """Block until at least ``n`` inputs said hello."""
        with self._lock:
            if not _waitFor(self, lambda: len(self.core.inputs()) >= n, timeout):
                raise KaraboTimeoutError(f"{len(self.core.inputs())} of {n} inputs connected within {timeout} s")

    def registerSharedInputSelector(self, selector: Callable[[list], str] | None) -> None:
        """Let ``selector(sharedInputIds)`` name the shared input of each chunk (None: load-balance)."""
        with self._lock:
            self.core.registerSharedInputSelector(selector)

    def inputs(self) -> list:
        """``(instanceId, dataDistribution, onSlowness)`` of the connected inputs."""
        with self._lock:
            return self.core.inputs()

    def close(self) -> None:
        """Close the listener and every connection."""
        self._closing = True
        if _localOutputs.get(self.port) is self:
            del _localOutputs[self.port]
        self._listener.close()
        with self._lock:
            conns = list(self._conns.values())
            self._conns.clear()
            if self._waiters:
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
