"""Pipeline channels on asyncio (the middlelayer's transport).

Received bytes go straight into the input core's buffers (``BufferedProtocol``); every
protocol decision is taken by the sans-I/O cores of ``pykarabo._core.pipeline``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator, Iterable

from pykarabo import Hash
from pykarabo._core.pipeline import (CLOSE, DEFAULT_MAX_QUEUE_LENGTH, END_OF_STREAM, BufferPool, InputCore,
                                     MetaData, OutputCore)
from pykarabo.errors import KaraboTimeoutError
from pykarabo.net import connectionInfo, defaultInputId, parseOutputAddress

log = logging.getLogger(__name__)


class _Changed:
    """A broadcast "state changed" signal: waiters re-check their condition after each change."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def waitFor(self, predicate, timeout: float | None, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not predicate():
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise KaraboTimeoutError(what)
            try:
                await asyncio.wait_for(self._event.wait(), remaining)
            except asyncio.TimeoutError:
                raise KaraboTimeoutError(what) from None


class _OutputProtocol(asyncio.Protocol):
    """One accepted connection of an output."""

    def __init__(self, channel: "OutputChannel"):
        self.channel = channel
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self._stall: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        host, port = transport.get_extra_info("peername")[:2]
        self.peer = f"{host}:{port}"
        self.channel._conns[id(self)] = self
        self.channel.core.connect(id(self), self.peer)

    def data_received(self, data: bytes) -> None:
        self.channel.core.receive(id(self), data)
        self.channel._dispatch()

    def connection_lost(self, exc) -> None:
        if self._stall is not None:
            self._stall.cancel()
        if self.channel._conns.pop(id(self), None) is not None:
            self.channel.core.disconnect(id(self))
            self.channel._dispatch()

    def pause_writing(self) -> None:
        # A peer that stops reading must not hold the output forever.
        self._stall = asyncio.get_running_loop().call_later(self.channel.sendTimeout, self._stalled)

    def resume_writing(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None

    def _stalled(self) -> None:
        log.error("output: input at %s stopped reading for %.1f s, closing it", self.peer,
                  self.channel.sendTimeout)
        self.transport.abort()


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
        self._conns: dict[int, _OutputProtocol] = {}
        self._server: asyncio.AbstractServer | None = None
        self._changed = _Changed()

    async def start(self) -> "OutputChannel":
        """Start listening (port 0 picks a free port, see :attr:`port`)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _OutputProtocol(self), self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

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
                conn.transport.abort()
            else:
                for part in payload:
                    conn.transport.write(part)
        self._changed.notify()

    def write(self, data: Hash, source: str | None = None, timestamp: tuple | None = None,
              copyAllData: bool = True) -> None:
        """Add one item (``timestamp`` = (sec, frac, trainId)) to the next chunk."""
        self.core.write(data, source, timestamp, copyAllData)

    async def update(self, timeout: float | None = None) -> None:
        """Send the items written since the last call; awaits ``wait`` inputs (``timeout`` s)."""
        self.core.update()
        self._dispatch()
        await self._changed.waitFor(lambda: not self.core.mustWait, timeout,
                                    f"a 'wait' input of output port {self.port} was not ready within {timeout} s")

    async def signalEndOfStream(self, timeout: float | None = None) -> None:
        """Flush, then send end-of-stream to every input."""
        self.core.signalEndOfStream()
        self._dispatch()
        await self._changed.waitFor(lambda: not self.core.mustWait, timeout,
                                    f"a 'wait' input of output port {self.port} was not ready within {timeout} s")

    async def waitForInputs(self, n: int = 1, timeout: float | None = None) -> None:
        """Wait until at least ``n`` inputs said hello."""
        await self._changed.waitFor(lambda: len(self.core.inputs()) >= n, timeout,
                                    f"fewer than {n} inputs connected within {timeout} s")

    def inputs(self) -> list:
        """``(instanceId, dataDistribution, onSlowness)`` of the connected inputs."""
        return self.core.inputs()

    async def close(self) -> None:
        """Close the listener and every connection."""
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns.values()):
            conn.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()

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
    ended their stream; ``async for`` yields items up to the next end-of-stream.  Lost
    connections are re-established with back-off.
    """

    def __init__(self, outputs: Iterable, *, instanceId: str | None = None, dataDistribution: str = "copy",
                 onSlowness: str = "drop", maxQueueLength: int = DEFAULT_MAX_QUEUE_LENGTH,
                 queueCapacity: int = 2, connectTimeout: float = 5.0,
                 reconnectDelay: tuple[float, float] = (0.1, 2.0), pool: BufferPool | None = None,
                 maxHeaderSize: int = 16 << 20, maxBodySize: int = 0xFFFFFFFF):
        self.instanceId = instanceId or defaultInputId()
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
