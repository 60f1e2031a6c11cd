"""Pipeline channels on asyncio (the middlelayer's transport).

Both ends drive plain non-blocking sockets from the loop's reader/writer callbacks; received
bytes go straight into the input core's (pooled) buffers, and every protocol decision is taken
by the sans-I/O cores of ``pykarabo._core.pipeline``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
from collections import deque
from typing import AsyncIterator, Callable, Iterable

from pykarabo import Hash
from pykarabo._core.pipeline import (DEFAULT_MAX_QUEUE_LENGTH, END_OF_STREAM, BufferPool, InputCore, MetaData,
                                     OutputCore, carryOut)
from pykarabo.errors import KaraboTimeoutError
from pykarabo.net import connectionInfo, defaultInputId, parseOutputAddress
from pykarabo.net.gather import gatherViews, sendNow, sendViews

log = logging.getLogger(__name__)

_SLACK = 1e-3    # seconds: the loop may run a timer up to its clock resolution early
_STREAMING = 1 << 16    # bytes of one read from which an input keeps reading without the selector


class _Changed:
    """A broadcast "state changed" signal: waiters re-check their condition after each change.

    Bare futures: ``asyncio.wait_for`` would wrap every wait in a task, which dominates the cost
    of small items.  Timeouts share one timer, armed for the earliest deadline only when no timer
    fires before it, so a producer that waits for every chunk creates no timer per wait.
    """

    def __init__(self) -> None:
        self._waiters: list[tuple[asyncio.Future, float | None]] = []
        self._timer: asyncio.TimerHandle | None = None

    def notify(self) -> None:
        if not self._waiters:
            return
        waiters, self._waiters = self._waiters, []
        for f, _ in waiters:
            if not f.done():
                f.set_result(None)

    def _expire(self) -> None:
        """The timer fired: wake the waiters whose deadline passed, re-arm for the others."""
        self._timer = None
        now = self._loop.time()
        keep = []
        for f, deadline in self._waiters:
            if f.done():
                continue
            if deadline is not None and deadline <= now + _SLACK:
                f.set_result(None)              # re-checks, sees its deadline passed, raises
            else:
                keep.append((f, deadline))
        self._waiters = keep
        pending = [d for _, d in keep if d is not None]
        if pending:
            self._arm(min(pending))

    def _arm(self, deadline: float) -> None:
        """(Re)arm the one timer for ``deadline``, the earliest of the waiters."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(deadline, self._expire)

    async def waitFor(self, predicate: Callable[[], bool], timeout: float | None, what: Callable[[], str]) -> None:
        """Return once ``predicate()`` holds; KaraboTimeoutError(``what()``) after ``timeout`` s."""
        if predicate():
            return
        self._loop = loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            if deadline is not None and (self._timer is None or self._timer.when() > deadline):
                self._arm(deadline)
            fut = loop.create_future()
            self._waiters.append((fut, deadline))
            await fut
            if predicate():
                return
            if deadline is not None and loop.time() >= deadline - _SLACK:
                raise KaraboTimeoutError(what())


async def _call(handler: Callable | None, *args) -> None:
    """Call ``handler`` (if any), awaiting its result when it is awaitable."""
    if handler is not None:
        result = handler(*args)
        if inspect.isawaitable(result):
            await result


class _Connection:
    """One connected socket on the event loop's reader/writer callbacks (both ends use it).

    Not an asyncio transport: Python 3.11's transports join gather lists and copy unsent data,
    and their protocol layers cost more than a small item; this sends the chunks' buffers as
    they are, keeps unsent views, and calls ``readable(conn)`` / ``lost(conn)`` directly.
    """

    def __init__(self, sock: socket.socket, peer: str, sendTimeout: float,
                 readable: Callable[["_Connection"], None], lost: Callable[["_Connection"], None], key=None):
        self.sock = sock
        self.peer = peer
        self.key = key
        self.sendTimeout = sendTimeout
        self.loop = asyncio.get_running_loop()
        self.pending: deque[list] = deque()      # unsent messages, oldest first
        self.closed = False
        self.gone: asyncio.Future = self.loop.create_future()
        self._lost = lost
        self._writing = False                     # registered for writability
        self._stall: asyncio.TimerHandle | None = None
        self._recvInto = sock.recv_into
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.loop.add_reader(sock.fileno(), readable, self)

    def read(self, core: InputCore | OutputCore) -> int:
        """One read of this connection into ``core`` (received arrays land in its pooled blocks);
        the byte count, -1 if nothing was there, 0 once the connection is closed."""
        try:
            n = core.readFrom(self.key, self._recvInto)
        except BlockingIOError:
            return -1
        except OSError as e:
            log.info("pipeline: the connection with %s failed: %s", self.peer, e)
            self.abort()
            return 0
        if n == 0:
            log.info("pipeline: %s closed the connection", self.peer)
            self.abort()
        return n

    def send(self, parts: list) -> None:
        """Queue one message; written at once as far as the socket takes it."""
        if self.closed:
            return
        if self.pending:
            self.pending.append(gatherViews(parts))
            return
        try:
            rest = sendNow(self.sock, parts)
        except OSError as e:
            log.info("pipeline: sending to %s failed: %s", self.peer, e)
            self.abort()
            return
        if rest:
            self.pending.append(rest)
            self._writable()

    def _writable(self) -> None:
        progressed = False
        while self.pending:
            views = self.pending[0]
            try:
                progressed |= sendViews(self.sock, views) > 0
            except OSError as e:
                log.info("pipeline: sending to %s failed: %s", self.peer, e)
                self.abort()
                return
            if views:
                break
            self.pending.popleft()
        if not self.pending:
            if self._writing:
                self._writing = False
                self.loop.remove_writer(self.sock.fileno())
            self._cancelStall()
        elif progressed or self._stall is None:
            if not self._writing:
                self._writing = True
                self.loop.add_writer(self.sock.fileno(), self._writable)
            # A peer that stops reading must not hold this end forever.
            self._cancelStall()
            self._stall = self.loop.call_later(self.sendTimeout, self._stalled)

    def _cancelStall(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None

    def _stalled(self) -> None:
        log.error("pipeline: the peer at %s stopped reading for %.1f s, closing the connection", self.peer,
                  self.sendTimeout)
        self.abort()

    def abort(self) -> None:
        """Close the socket and report the loss (once)."""
        if self.closed:
            return
        self.closed = True
        self._cancelStall()
        self.loop.remove_reader(self.sock.fileno())
        self.loop.remove_writer(self.sock.fileno())
        self.pending.clear()
        self.sock.close()
        self._lost(self)
        if not self.gone.done():
            self.gone.set_result(None)


async def _connect(host: str, port: int) -> socket.socket:
    """A connected non-blocking TCP socket (every resolved address is tried in turn)."""
    loop = asyncio.get_running_loop()
    error: OSError = OSError(f"{host}:{port} did not resolve to any address")
    for family, kind, proto, _, address in await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
            return sock
        except OSError as e:
            sock.close()
            error = e
        except BaseException:
            sock.close()
            raise
    raise error


class OutputChannel:
    """A pipeline output (TCP server) on asyncio; usable standalone, without a device.

    ``await start()``, ``write()`` items, ``await update()`` to send them as one chunk (awaits
    ``wait`` inputs), ``await signalEndOfStream()`` at the end.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, source: str = "pykarabo:output",
                 noInputShared: str = "drop", bufferSetLayout: bool = True, sendTimeout: float = 30.0,
                 advertisedHost: str | None = None):
        self.core = OutputCore(source, noInputShared, bufferSetLayout)
        self.host = host
        self.port = port
        self.sendTimeout = sendTimeout
        self._advertised = advertisedHost
        self._conns: dict[int, _Connection] = {}
        self._listener: socket.socket | None = None
        self._changed = _Changed()

    async def start(self) -> "OutputChannel":
        """Start listening (port 0 picks a free port, see :attr:`port`)."""
        self._listener = socket.create_server((self.host, self.port))
        self._listener.setblocking(False)
        self.port = self._listener.getsockname()[1]
        asyncio.get_running_loop().add_reader(self._listener.fileno(), self._accept)
        return self

    def _accept(self) -> None:
        try:
            sock, addr = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            log.warning("output port %d: accept failed: %s", self.port, e)
            return
        conn = _Connection(sock, f"{addr[0]}:{addr[1]}", self.sendTimeout, self._readable, self._lost)
        conn.key = id(conn)
        self._conns[conn.key] = conn
        self.core.connect(conn.key, conn.peer)

    def _readable(self, conn: _Connection) -> None:
        if conn.read(self.core) > 0:
            self._dispatch()

    def _lost(self, conn: _Connection) -> None:
        if self._conns.pop(conn.key, None) is not None:
            self.core.disconnect(conn.key)
            self._dispatch()

    @property
    def connectionInfo(self) -> Hash:
        """The Hash an input connects with (``hostname``, ``port`` UINT32, ...)."""
        return connectionInfo(self._advertised or self.host, self.port)

    def _dispatch(self) -> None:
        carryOut(self.core.takeActions(), self._conns)
        self._changed.notify()

    def write(self, data: Hash, source: str | None = None, timestamp: tuple | None = None,
              copyAllData: bool = True) -> None:
        """Add one item (``timestamp`` = (sec, frac, trainId)) to the next chunk."""
        self.core.write(data, source, timestamp, copyAllData)

    async def update(self, timeout: float | None = None) -> None:
        """Send the items written since the last call; awaits ``wait`` inputs (``timeout`` s)."""
        self.core.update()
        self._dispatch()
        if self.core.mustWait:
            await self._changed.waitFor(self._sent, timeout, lambda: self._notSent(timeout))

    async def signalEndOfStream(self, timeout: float | None = None) -> None:
        """Flush, then send end-of-stream to every input."""
        self.core.signalEndOfStream()
        self._dispatch()
        if self.core.mustWait:
            await self._changed.waitFor(self._sent, timeout, lambda: self._notSent(timeout))

    def _sent(self) -> bool:
        return not self.core.mustWait

    def _notSent(self, timeout: float | None) -> str:
        return f"a 'wait' input of output port {self.port} was not ready within {timeout} s"

    async def waitForInputs(self, n: int = 1, timeout: float | None = None) -> None:
        """Wait until at least ``n`` inputs said hello."""
        await self._changed.waitFor(lambda: len(self.core.inputs()) >= n, timeout,
                                    lambda: f"fewer than {n} inputs connected within {timeout} s")

    def registerSharedInputSelector(self, selector: Callable[[list], str] | None) -> None:
        """Let ``selector(sharedInputIds)`` name the shared input of each chunk (None: load-balance)."""
        self.core.registerSharedInputSelector(selector)

    def inputs(self) -> list:
        """``(instanceId, dataDistribution, onSlowness)`` of the connected inputs."""
        return self.core.inputs()

    async def close(self) -> None:
        """Close the listener and every connection."""
        if self._listener is not None:
            asyncio.get_running_loop().remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None
        for conn in list(self._conns.values()):
            conn.abort()

    async def __aenter__(self) -> "OutputChannel":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.close()


class InputChannel:
    """A pipeline input (TCP client of one or more outputs) on asyncio.

    ``await get()`` returns ``(data, MetaData)`` per item or END_OF_STREAM once all outputs
    ended their stream; ``async for`` yields items up to the next end-of-stream.  Alternatively
    handlers (``onData(data, meta)`` per item, ``onInput(items)`` per message,
    ``onEndOfStream(input)``; plain or coroutine functions) are called one message at a time by
    a task per input; do not mix them with ``get()``.  Lost connections are re-established with
    back-off.
    """

    def __init__(self, outputs: Iterable, *, instanceId: str | None = None, dataDistribution: str = "copy",
                 onSlowness: str = "drop", maxQueueLength: int = DEFAULT_MAX_QUEUE_LENGTH,
                 queueCapacity: int = 2, connectTimeout: float = 5.0, sendTimeout: float = 30.0,
                 reconnectDelay: tuple[float, float] = (0.1, 2.0), pool: BufferPool | None = None,
                 maxHeaderSize: int = 16 << 20, maxBodySize: int = 0xFFFFFFFF,
                 onData: Callable | None = None, onInput: Callable | None = None,
                 onEndOfStream: Callable | None = None):
        self.instanceId = instanceId or defaultInputId()
        self._onData = onData
        self._onInput = onInput
        self._onEndOfStream = onEndOfStream
        self._drainer: asyncio.Task | None = None
        self.core = InputCore(self.instanceId, dataDistribution, onSlowness, maxQueueLength, queueCapacity,
                              maxHeaderSize, maxBodySize, pool)
        self.addresses = [parseOutputAddress(a) for a in outputs]
        self.connectTimeout = connectTimeout
        self.sendTimeout = sendTimeout
        self.reconnectDelay = reconnectDelay
        self._conns: dict[int, _Connection] = {}
        self._tasks: list[asyncio.Task] = []
        self._changed: _Changed | None = None
        self._closing = False

    async def start(self) -> "InputChannel":
        """Start connecting to every output (returns at once; see :meth:`waitConnected`)."""
        self._changed = _Changed()
        self._tasks = [asyncio.create_task(self._run(i)) for i in range(len(self.addresses))]
        return self

    def _dispatch(self) -> None:
        carryOut(self.core.takeActions(), self._conns)
        self._changed.notify()
        if (self._drainer is None
                and (self._onData is not None or self._onInput is not None or self._onEndOfStream is not None)
                and not self._closing and self.core.queuedMessages):
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    def _readable(self, conn: _Connection) -> None:
        # Large reads mean a large body is streaming in: keep reading until the socket is
        # drained instead of going back to the selector for every socket buffer's worth.
        n = _STREAMING
        while n >= _STREAMING and not conn.closed:
            n = conn.read(self.core)
            if n > 0:
                self._dispatch()

    def _lost(self, conn: _Connection) -> None:
        if self._conns.get(conn.key) is conn:
            del self._conns[conn.key]
            self.core.disconnect(conn.key)
            self._dispatch()

    def registerDataHandler(self, handler: Callable | None) -> None:
        """Call (or await) ``handler(data, meta)`` for every item."""
        self._onData = handler
        if self._changed is not None:      # started
            self._dispatch()

    def registerInputHandler(self, handler: Callable | None) -> None:
        """Call (or await) ``handler(items)`` with the ``(data, meta)`` list of every message."""
        self._onInput = handler
        if self._changed is not None:      # started
            self._dispatch()

    def registerEndOfStreamEventHandler(self, handler: Callable | None) -> None:
        """Call (or await) ``handler(input)`` once all connected outputs ended their stream."""
        self._onEndOfStream = handler
        if self._changed is not None:      # started
            self._dispatch()

    async def _drain(self) -> None:
        """Hand queued messages to the handlers, in order."""
        try:
            while not self._closing:
                msg = self.core.takeMessage()
                if msg is None:
                    return
                self._dispatch()
                try:
                    if msg is END_OF_STREAM:
                        await _call(self._onEndOfStream, self)
                        continue
                    await _call(self._onInput, msg)
                    if self._onData is not None:
                        for data, meta in msg:
                            await _call(self._onData, data, meta)
                except Exception:
                    log.exception("input %s: a handler failed", self.instanceId)
        finally:
            self._drainer = None

    async def _run(self, key: int) -> None:
        host, port = self.addresses[key]
        peer = f"{host}:{port}"
        delay = self.reconnectDelay[0]
        while not self._closing:
            try:
                sock = await asyncio.wait_for(_connect(host, port), self.connectTimeout)
            except (OSError, asyncio.TimeoutError) as e:
                log.debug("input %s: cannot connect to %s (%s), retrying in %.1f s", self.instanceId, peer, e, delay)
                await asyncio.sleep(delay)
                delay = min(2 * delay, self.reconnectDelay[1])
                continue
            delay = self.reconnectDelay[0]
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)     # as Karabo's inputs do
            conn = _Connection(sock, peer, self.sendTimeout, self._readable, self._lost, key)
            self._conns[key] = conn
            self.core.connect(key, peer)
            self._dispatch()
            try:
                await conn.gone
            finally:
                conn.abort()
            if not self._closing:
                await asyncio.sleep(delay)

    async def get(self, timeout: float | None = None) -> tuple[Hash, MetaData] | object:
        """The next item ``(data, MetaData)`` or END_OF_STREAM; KaraboTimeoutError after ``timeout`` s."""
        item = self.core.take()
        if item is None:
            await self._changed.waitFor(self._takeable, timeout,
                                        lambda: f"input {self.instanceId}: no data within {timeout} s")
            item = self.core.take()
            if item is None:
                raise EOFError("the input channel is closed")
        if self.core.hasActions:            # taking the last item of a message frees a place
            self._dispatch()
        return item

    def _takeable(self) -> bool:
        return self.core.queuedMessages > 0 or self._closing

    async def waitConnected(self, n: int | None = None, timeout: float | None = None) -> None:
        """Wait until ``n`` (default: all) outputs are connected."""
        n = len(self.addresses) if n is None else n
        await self._changed.waitFor(lambda: len(self.core.connections()) >= n, timeout,
                                    lambda: f"input {self.instanceId}: fewer than {n} outputs connected within {timeout} s")

    async def __aiter__(self) -> AsyncIterator[tuple[Hash, MetaData]]:
        """Items until the next end-of-stream."""
        while True:
            item = await self.get()
            if item is END_OF_STREAM:
                return
            yield item

    async def close(self) -> None:
        """Disconnect from every output and stop reconnecting."""
        self._closing = True
        if self._drainer is not None:
            self._drainer.cancel()
        for t in self._tasks:
            t.cancel()
        for conn in list(self._conns.values()):
            conn.abort()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._changed is not None:
            self._changed.notify()

    async def __aenter__(self) -> "InputChannel":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.close()
