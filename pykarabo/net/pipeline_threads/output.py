"""The threaded pipeline output: a TCP server, a reader and a writer thread per connection."""

from __future__ import annotations

import logging
import socket
import threading
import time
import weakref
from collections import deque
from typing import TYPE_CHECKING, Callable

from pykarabo import Hash
from pykarabo._core.pipeline import OutputCore, carryOut
from pykarabo.errors import KaraboTimeoutError
from pykarabo.net import connectionInfo
from pykarabo.net.gather import gatherViews, sendNow, sendViews

from .common import _POLL, _deadline, _receive, _remaining, _setBlocking, _timeval, _waitFor

if TYPE_CHECKING:
    from .input import InputChannel

log = logging.getLogger(__name__)

_LOCAL_CLAIM_WAIT = 2.0   # seconds an input waits for an output of this process to accept it

_LEND_PERIOD = 0.05   # seconds after which an output's reader thread takes back a socket the producer no longer reads

# Outputs of this process by port: an input told that its output is local (Karabo's connection
# info says memoryLocation "local" for the same process) takes its chunks in memory.
_localOutputs: weakref.WeakValueDictionary[int, "OutputChannel"] = weakref.WeakValueDictionary()


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
