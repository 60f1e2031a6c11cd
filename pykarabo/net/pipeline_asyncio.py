"""Pipeline channels on asyncio (the middlelayer's transport).

Received bytes go straight into the input core's buffers (``BufferedProtocol``); every
protocol decision is taken by the sans-I/O cores of ``pykarabo._core.pipeline``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
from collections import deque
from typing import AsyncIterator, Callable, Iterable

from pykarabo import Hash
from pykarabo._core.pipeline import (CLOSE, DEFAULT_MAX_QUEUE_LENGTH, END_OF_STREAM, BufferPool, InputCore,
                                     MetaData, OutputCore)
from pykarabo.errors import KaraboTimeoutError
from pykarabo.net import connectionInfo, defaultInputId, parseOutputAddress
from pykarabo.net.pipeline_threads import gatherViews, sendViews

log = logging.getLogger(__name__)


class _Changed:
    """A broadcast "state changed" signal: waiters re-check their condition after each change.

    Bare futures and one timer per wait: ``asyncio.wait_for`` would wrap every wait in a task,
    which dominates the cost of small items.
    """

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future] = []

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for f in waiters:
            if not f.done():
                f.set_result(None)

    async def waitFor(self, predicate, timeout: float | None, what: str) -> None:
        if predicate():
            return
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not predicate():
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise KaraboTimeoutError(what)
            fut = loop.create_future()
            self._waiters.append(fut)
            timer = None if remaining is None else loop.call_later(remaining, _wake, fut)
            try:
                await fut
            finally:
                if timer is not None:
                    timer.cancel()


def _wake(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


async def _call(handler: Callable | None, *args) -> None:
    """Call ``handler`` (if any), awaiting its result when it is awaitable."""
    if handler is not None:
        result = handler(*args)
        if inspect.isawaitable(result):
            await result


class _OutputConnection:
    """One accepted connection of an output, on the event loop's reader/writer callbacks.

    Not an asyncio transport: Python 3.11's transports join gather lists and copy unsent data,
    while this sends the chunks' buffers with ``sendmsg`` as they are and keeps unsent views.
    """

    def __init__(self, channel: "OutputChannel", sock: socket.socket, peer: str):
        self.channel = channel
        self.sock = sock
        self.peer = peer
        self.loop = asyncio.get_running_loop()
        self.pending: deque[list] = deque()      # unsent messages, oldest first
        self.closed = False
        self._writing = False                     # registered for writability
        self._stall: asyncio.TimerHandle | None = None
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            data = self.sock.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError as e:
            log.info("output: connection from %s failed: %s", self.peer, e)
            self.abort()
            return
        if not data:
            self.abort()
            return
        self.channel._received(self, data)

    def send(self, parts: list) -> None:
        """Queue one message; written at once as far as the socket takes it."""
        if self.closed:
            return
        self.pending.append(gatherViews(parts))
        if len(self.pending) == 1:
            self._writable()

    def _writable(self) -> None:
        progressed = False
        while self.pending:
            views = self.pending[0]
            try:
                progressed |= sendViews(self.sock, views) > 0
            except OSError as e:
                log.info("output: sending to %s failed: %s", self.peer, e)
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
            # A peer that stops reading must not hold the output forever.
            self._cancelStall()
            self._stall = self.loop.call_later(self.channel.sendTimeout, self._stalled)

    def _cancelStall(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None

    def _stalled(self) -> None:
        log.error("output: input at %s stopped reading for %.1f s, closing it", self.peer,
                  self.channel.sendTimeout)
        self.abort()

    def abort(self) -> None:
        """Close the socket and tell the channel."""
        if self.closed:
            return
        self.closed = True
        self._cancelStall()
        self.loop.remove_reader(self.sock.fileno())
        self.loop.remove_writer(self.sock.fileno())
        self.pending.clear()
        self.sock.close()
        self.channel._lost(self)


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
        self._conns: dict[int, _OutputConnection] = {}
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
        conn = _OutputConnection(self, sock, f"{addr[0]}:{addr[1]}")
        self._conns[id(conn)] = conn
        self.core.connect(id(conn), conn.peer)

    def _received(self, conn: _OutputConnection, data: bytes) -> None:
        self.core.receive(id(conn), data)
        self._dispatch()

    def _lost(self, conn: _OutputConnection) -> None:
        if self._conns.pop(id(conn), None) is not None:
            self.core.disconnect(id(conn))
            self._dispatch()

    @property
    def connectionInfo(self) -> Hash:
        """The Hash an input connects with (``hostname``, ``port`` UINT32, ...)."""
        return connectionInfo(self._advertised or self.host, self.port)

    def _dispatch(self) -> None:
        for kind, key, payload in self.core.takeActions():
            conn = self._conns.get(key)
            if conn is None:
                continue
            if kind == CLOSE:
                self._conns.pop(key, None)
                conn.abort()
            else:
                conn.send(payload)
        self._changed.notify()

    def write(self, data: Hash, source: str | None = None, timestamp: tuple | None = None,
              copyAllData: bool = True) -> None:
        """Add one item (``timestamp`` = (sec, frac, trainId)) to the next chunk."""
        self.core.write(data, source, timestamp, copyAllData)

    async def update(self, timeout: float | None = None) -> None:
        """Send the items written since the last call; awaits ``wait`` inputs (``timeout`` s)."""
        self.core.update()
        self._dispatch()
        await self._waitSent(timeout)

    async def signalEndOfStream(self, timeout: float | None = None) -> None:
        """Flush, then send end-of-stream to every input."""
        self.core.signalEndOfStream()
        self._dispatch()
        await self._waitSent(timeout)

    async def _waitSent(self, timeout: float | None) -> None:
        if self.core.mustWait:
            await self._changed.waitFor(lambda: not self.core.mustWait, timeout,
                                        f"a 'wait' input of output port {self.port} was not ready within {timeout} s")

    async def waitForInputs(self, n: int = 1, timeout: float | None = None) -> None:
        """Wait until at least ``n`` inputs said hello."""
        await self._changed.waitFor(lambda: len(self.core.inputs()) >= n, timeout,
                                    f"fewer than {n} inputs connected within {timeout} s")

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


class _InputProtocol(asyncio.BufferedProtocol):
    """One connection of an input to one output: bytes land in the core's (pooled) buffers."""

    def __init__(self, channel: "InputChannel", key: int, peer: str):
        self.channel = channel
        self.key = key
        self.peer = peer
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future = asyncio.get_running_loop().create_future()

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.channel._transports[self.key] = transport
        self.channel.core.connect(self.key, self.peer)
        self.channel._dispatch()

    def get_buffer(self, sizehint: int):
        return self.channel.core.getBuffer(self.key)

    def buffer_updated(self, nbytes: int) -> None:
        self.channel.core.bufferUpdated(self.key, nbytes)
        self.channel._dispatch()

    def eof_received(self):
        log.info("input %s: output %s closed the connection", self.channel.instanceId, self.peer)
        return False

    def connection_lost(self, exc) -> None:
        if self.channel._transports.get(self.key) is self.transport:
            del self.channel._transports[self.key]
        self.channel.core.disconnect(self.key)
        self.channel._dispatch()
        if not self.lost.done():
            self.lost.set_result(exc)


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
                 queueCapacity: int = 2, connectTimeout: float = 5.0,
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
        self.reconnectDelay = reconnectDelay
        self._transports: dict[int, asyncio.Transport] = {}
        self._tasks: list[asyncio.Task] = []
        self._changed: _Changed | None = None
        self._closing = False

    async def start(self) -> "InputChannel":
        """Start connecting to every output (returns at once; see :meth:`waitConnected`)."""
        self._changed = _Changed()
        self._tasks = [asyncio.create_task(self._run(i)) for i in range(len(self.addresses))]
        return self

    def _dispatch(self) -> None:
        for kind, key, payload in self.core.takeActions():
            transport = self._transports.get(key)
            if transport is None:
                continue
            if kind == CLOSE:
                self._transports.pop(key, None)
                transport.abort()
            else:
                # a gather list: Python >= 3.12 sends it with sendmsg, without joining the arrays
                transport.writelines(payload)
        self._changed.notify()
        if (self._drainer is None and not self._closing and self.core.queuedMessages
                and (self._onData is not None or self._onInput is not None or self._onEndOfStream is not None)):
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

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
        loop = asyncio.get_running_loop()
        delay = self.reconnectDelay[0]
        while not self._closing:
            try:
                _, proto = await asyncio.wait_for(
                    loop.create_connection(lambda: _InputProtocol(self, key, peer), host, port),
                    self.connectTimeout)
            except (OSError, asyncio.TimeoutError) as e:
                log.debug("input %s: cannot connect to %s (%s), retrying in %.1f s", self.instanceId, peer, e, delay)
                await asyncio.sleep(delay)
                delay = min(2 * delay, self.reconnectDelay[1])
                continue
            delay = self.reconnectDelay[0]
            await proto.lost
            if not self._closing:
                await asyncio.sleep(delay)

    async def get(self, timeout: float | None = None) -> tuple[Hash, MetaData] | object:
        """The next item ``(data, MetaData)`` or END_OF_STREAM; KaraboTimeoutError after ``timeout`` s."""
        item = self.core.take()
        if item is None:
            await self._changed.waitFor(lambda: self.core.queuedMessages > 0 or self._closing, timeout,
                                        f"input {self.instanceId}: no data within {timeout} s")
            item = self.core.take()
            if item is None:
                raise EOFError("the input channel is closed")
        self._dispatch()
        return item

    async def waitConnected(self, n: int | None = None, timeout: float | None = None) -> None:
        """Wait until ``n`` (default: all) outputs are connected."""
        n = len(self.addresses) if n is None else n
        await self._changed.waitFor(lambda: len(self.core.connections()) >= n, timeout,
                                    f"input {self.instanceId}: fewer than {n} outputs connected within {timeout} s")

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
        for transport in list(self._transports.values()):
            transport.abort()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._changed is not None:
            self._changed.notify()

    async def __aenter__(self) -> "InputChannel":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.close()
