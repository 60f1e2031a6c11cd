"""The RabbitMQ (AMQP 0-9-1) backend, laid out exactly like Karabo 3's so that both share a broker and a topic.

Layout (Karabo 3's ``AmqpBroker``/middlelayer ``Broker``): three topic exchanges ``<topic>.Slots``,
``<topic>.Global_Slots`` and ``<topic>.Signals`` (auto-delete, not durable); one queue per instance,
``<topic>.<instanceId>`` (exclusive, auto-delete, at most 10000 messages dropping the oldest, 120 s TTL;
``:<hex>`` is appended when the name is taken, like the middlelayer does, so the uniqueness ping can tell);
messages are the concatenated binary header and body Hashes, consumed without acknowledgements.

The backend runs its own asyncio loop in a thread, or the asyncio transport's loop. aiormq runs the
connection, its declarations and heartbeats, but messages bypass its tasks (see
:mod:`pykarabo.net.broker.amqp_frames`): deliveries are parsed as the bytes arrive and handed on in the
same callback, and whole batches of marshalled publishes are written to the socket at once (through
aiormq's write queue only while that holds frames, to keep their order). When the connection is lost it reports
``onConnection(False)``, reconnects with jittered exponential back-off through the URLs in order,
re-declares its queue and bindings, and then reports ``onConnection(True)`` (the core re-announces the
instance). Passwords never leave this module: :attr:`AmqpBackend.url` and every log line show
``user:***@host``.

TLS: ``amqps://user:password@host:5671?cafile=/path/ca.pem`` (the URL's host name must match the server's
certificate). Without ``cafile`` the system's trusted CAs verify the server. Query parameters, read by
aiormq: ``cafile``/``capath`` (CAs to trust), ``certfile`` and ``keyfile`` (a client certificate, for
servers that ask for one), ``no_verify_ssl=1`` (no verification: for tests only). The same URL works in
``KARABO_BROKER`` and ``--broker``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import random
import threading
import time
import uuid
from collections import deque
from typing import TYPE_CHECKING, Callable
from urllib.parse import urlsplit

import aiormq
from aiormq.abc import ChannelFrame

from pykarabo.errors import KaraboError
from pykarabo.net.broker import MessageHandler, redactUrl
from pykarabo.net.broker.amqp_frames import DeliveryParser, PublishFrames
from pykarabo.signalslot import EXCHANGES

if TYPE_CHECKING:
    from yarl import URL

log = logging.getLogger(__name__)

__all__ = ["AmqpBackend", "QUEUE_ARGUMENTS"]

# Karabo 3's per-instance queue arguments (verified on the wire; same in C++ and the middlelayer).
QUEUE_ARGUMENTS = {"x-max-length": 10_000, "x-overflow": "drop-head", "x-message-ttl": 120_000}
_CONNECT_TIMEOUT = 5.0
_BACKOFF_MIN, _BACKOFF_MAX = 0.2, 5.0
_SCHEMES = ("amqp", "amqps")
# aiormq declares a connection dead after three heartbeat periods without a frame; while every frame
# received is a delivery taken out by our parser it sees none, so it is shown a heartbeat this often.
_LIVENESS_INTERVAL = 5.0
_HEARTBEAT_FRAME = b"\x08\x00\x00\x00\x00\x00\x00\xce"
_READ_SIZE = 65536   # bytes read at once: below malloc's threshold for mapping memory of its own


class AmqpBackend:
    """A connection to RabbitMQ for one instance: its queue, its bindings, publishing, reconnection."""

    canShareLoop = True   # start(..., loop=...) runs it in the asyncio transport's own loop

    def __init__(self, urls: str | list[str], topic: str, instanceId: str | None = None):
        self._urls = [urls] if isinstance(urls, str) else list(urls)
        if not self._urls:
            raise KaraboError("no AMQP broker URL given")
        for url in self._urls:
            parts = urlsplit(url)
            if parts.scheme not in _SCHEMES or not parts.hostname:
                raise KaraboError(f"expected amqp://user:password@host:port or amqps://..., got {redactUrl(url)!r}")
        self._secrets = sorted({p for p in (urlsplit(u).password for u in self._urls) if p}, key=len, reverse=True)
        self.url = ",".join(redactUrl(u) for u in self._urls)
        self.topic = topic
        self.queueName = f"{topic}.{instanceId or 'pykarabo-' + uuid.uuid4().hex[:12]}"
        self.connected = False
        self._prefix = topic + "."
        self._lock = threading.Lock()
        self._bindings: dict[tuple[str, str], int] = {}    # (exchange suffix, binding key) -> count
        self._outbox: deque = deque()
        self._draining = False
        self._connectedEvent = threading.Event()
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None     # the thread running the loop (ours or the caller's)
        self._ownLoop = True
        self._main: concurrent.futures.Future | asyncio.Task | None = None
        self._onMessage: MessageHandler | None = None
        self._onConnection: Callable[[bool], None] | None = None
        # Owned by the loop thread:
        self._connection: aiormq.Connection | None = None
        self._queue: str | None = None   # its name once declared
        self._channel: aiormq.abc.AbstractChannel | None = None
        self._transport: asyncio.WriteTransport | None = None
        self._frames: PublishFrames | None = None
        self._pendingFlush: asyncio.Task | None = None   # a write waiting for room in the writer's queue
        self._lost: asyncio.Event | None = None
        self._bindLock: asyncio.Lock | None = None
        self._idle: asyncio.Event | None = None

    # ---- Backend API --------------------------------------------------------------------------------

    def start(self, onMessage: MessageHandler, onConnection: Callable[[bool], None], *,
              loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Connect (and keep reconnecting) in the background: in our own I/O thread, or in ``loop``.

        With ``loop`` (it must be the running loop of the calling thread) the callbacks come from that
        loop and no thread is involved: the asyncio transport saves two thread hops per message.
        """
        self._onMessage, self._onConnection = onMessage, onConnection
        if loop is not None:
            self._loop, self._ownLoop, self._thread = loop, False, threading.current_thread()
            self._initLoopState()
            self._main = loop.create_task(self._keepConnected())
            return
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._runLoop, args=(ready,), name=f"amqp {self.queueName}",
                                        daemon=True)
        self._thread.start()
        ready.wait()
        self._main = asyncio.run_coroutine_threadsafe(self._keepConnected(), self._loop)

    def publish(self, exchange: str, routingKey: str, header: bytes, body: bytes) -> None:
        """Send one message; dropped while the broker is unreachable (AMQP keeps nothing for us then)."""
        if self._closing:
            raise KaraboError("the broker backend is closed")
        if not self.connected:
            log.debug("broker %s unreachable, dropped a message to %s %s", self.url, exchange, routingKey)
            return
        with self._lock:
            self._outbox.append((self._prefix + exchange, routingKey, header, body))
            if self._draining:
                return
            self._draining = True
        channel = self._channel
        if threading.current_thread() is self._thread and channel is not None and channel.write_queue.empty():
            # The writer is idle: this message goes to the socket now rather than one loop round later
            # (on a small machine every round costs a poll system call). Messages that follow in the same
            # round find the drain under way and leave together in the next.
            self._startDrain()
        else:
            self._soon(self._startDrain)

    def subscribe(self, exchange: str, bindingKey: str) -> None:
        """Bind our queue to ``exchange`` with ``bindingKey`` (kept and re-bound after reconnections)."""
        with self._lock:
            count = self._bindings.get((exchange, bindingKey), 0)
            self._bindings[(exchange, bindingKey)] = count + 1
        if count == 0 and self._loop is not None:
            self._soon(self._scheduleBinding, exchange, bindingKey, True)

    def unsubscribe(self, exchange: str, bindingKey: str) -> None:
        """Undo one :meth:`subscribe`."""
        with self._lock:
            count = self._bindings.get((exchange, bindingKey), 0)
            if count == 0:
                return
            if count > 1:
                self._bindings[(exchange, bindingKey)] = count - 1
                return
            del self._bindings[(exchange, bindingKey)]
        if self._loop is not None:
            self._soon(self._scheduleBinding, exchange, bindingKey, False)

    def sync(self, timeout: float) -> bool:
        """Wait until connected, earlier bindings are effective and earlier messages are handed to the broker."""
        if self._loop is None or self._closing:
            return False
        if threading.current_thread() is self._thread:
            raise KaraboError("AmqpBackend.sync() would block the loop it waits for (call it from another thread)")
        deadline = time.monotonic() + timeout
        if not self._connectedEvent.wait(timeout):
            return False
        future = asyncio.run_coroutine_threadsafe(self._barrier(), self._loop)
        try:
            return future.result(max(0.0, deadline - time.monotonic()))
        except concurrent.futures.TimeoutError:
            future.cancel()
            return False

    def close(self) -> None:
        """Close the connection (our queue goes with it) and stop the I/O thread."""
        if self._closing:
            return
        self._closing = True
        if self._loop is None:
            return
        if threading.current_thread() is self._thread:
            # Called from the loop itself (a callback): it cannot wait, so the shutdown runs on in the background.
            task = self._loop.create_task(self._shutdown())
            if self._ownLoop:
                task.add_done_callback(lambda _: self._loop.stop())
        else:
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(_CONNECT_TIMEOUT)
            except (concurrent.futures.TimeoutError, RuntimeError) as exc:
                log.warning("closing the connection to %s: %s", self.url, self._scrub(exc))
            if self._ownLoop:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=2)
                if not self._thread.is_alive():
                    self._loop.close()
        self._setConnected(False, notify=False)

    # ---- the loop thread ----------------------------------------------------------------------------

    def _runLoop(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._initLoopState()
        self._loop.call_soon(ready.set)
        self._loop.run_forever()

    def _initLoopState(self) -> None:
        self._bindLock = asyncio.Lock()
        self._idle = asyncio.Event()
        self._idle.set()

    def _soon(self, callback: Callable, *args) -> None:
        if threading.current_thread() is self._thread:
            self._loop.call_soon(callback, *args)
        else:
            try:
                self._loop.call_soon_threadsafe(callback, *args)
            except RuntimeError:
                pass   # the loop is closed: we are shutting down

    def _scrub(self, exc: BaseException | str) -> str:
        """Text of ``exc`` with any password removed (exceptions of client libraries may quote URLs)."""
        text = str(exc) or type(exc).__name__
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def _keepConnected(self) -> None:
        backoff = _BACKOFF_MIN
        failures = 0
        while not self._closing:
            self._lost = asyncio.Event()
            try:
                await self._connect()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._dropConnection()
                failures += 1
                delay = backoff * random.uniform(0.5, 1.0)   # jitter: many clients must not retry in step
                # The first failure is worth a warning, the retries that follow are not.
                log.log(logging.WARNING if failures == 1 else logging.DEBUG,
                        "cannot connect to RabbitMQ %s: %s (retrying with back-off)", self.url, self._scrub(exc))
                await asyncio.sleep(delay)
                backoff = min(backoff * 2, _BACKOFF_MAX)
                continue
            if failures:
                log.info("connected to RabbitMQ %s after %d failed attempt(s)", self.url, failures)
            backoff, failures = _BACKOFF_MIN, 0
            self._setConnected(True)
            await self._lost.wait()
            self._setConnected(False)
            await self._dropConnection()

    async def _connect(self) -> None:
        lastError: BaseException | None = None
        for url in self._urls:
            factory = _ParsingTransportFactory(DeliveryParser(self._deliver))
            connection = aiormq.Connection(url, transport_factory=factory,
                                           client_properties={"connection_name": self.queueName})
            try:
                await asyncio.wait_for(connection.connect(), _CONNECT_TIMEOUT)
            except (OSError, asyncio.TimeoutError, aiormq.exceptions.AMQPError) as exc:
                lastError = exc
                await self._closeQuietly(connection)
                continue
            self._connection = connection
            break
        if self._connection is None:
            raise lastError
        # Callbacks are tied to this attempt's event: a late one from an old connection must not end the next.
        onClosed = functools.partial(self._onClosed, self._lost)
        self._connection.closing.add_done_callback(onClosed)
        channel = await self._connection.channel(publisher_confirms=False)
        for suffix in EXCHANGES:
            await channel.exchange_declare(exchange=self._prefix + suffix, exchange_type="topic", auto_delete=True)
        channel, self._queue = await self._declareQueue(channel)
        channel.closing.add_done_callback(onClosed)
        async with self._bindLock:
            with self._lock:
                keys = list(self._bindings)
            await asyncio.gather(*(channel.queue_bind(self._queue, self._prefix + ex, routing_key=key)
                                   for ex, key in keys))
        factory.parser.channel = channel.number   # before consuming: deliveries may follow Basic.ConsumeOk at once
        await channel.basic_consume(self._queue, _unused, no_ack=True, exclusive=True)
        self._frames = PublishFrames(channel.number, channel.max_content_size)
        self._transport = factory.transport
        self._channel = channel

    async def _declareQueue(self, channel: aiormq.abc.AbstractChannel) -> tuple[aiormq.abc.AbstractChannel, str]:
        """Declare our queue; a name held by another connection gets a ``:<hex>`` suffix (as in the middlelayer)."""
        name = self.queueName
        try:
            await channel.queue_declare(name, exclusive=True, auto_delete=True, arguments=QUEUE_ARGUMENTS)
        except aiormq.exceptions.ChannelLockedResource:
            channel = await self._connection.channel(publisher_confirms=False)   # the failure closed the old one
            name = f"{self.queueName}:{uuid.uuid4().hex[:12]}"
            await channel.queue_declare(name, exclusive=True, auto_delete=True, arguments=QUEUE_ARGUMENTS)
        return channel, name

    def _onClosed(self, lost: asyncio.Event, closing: asyncio.Future) -> None:
        self._markLost(lost, None if closing.cancelled() else closing.exception())

    def _markLost(self, lost: asyncio.Event, exc: BaseException | None = None) -> None:
        if not lost.is_set():
            if not self._closing:
                log.warning("connection to RabbitMQ %s lost: %s", self.url, self._scrub(exc or "closed"))
            lost.set()

    def _onFailure(self, exc: BaseException) -> None:
        """A publish or binding failed: treat the connection as broken (it is re-made with everything on it)."""
        if self._lost is not None:
            self._markLost(self._lost, exc)

    async def _dropConnection(self) -> None:
        if self._pendingFlush is not None:
            self._pendingFlush.cancel()   # its writer is gone: the write would wait forever
        connection, self._connection = self._connection, None
        self._channel = self._queue = self._transport = None
        if connection is not None:
            await self._closeQuietly(connection)

    async def _closeQuietly(self, connection: aiormq.Connection) -> None:
        if not connection.is_closed:
            try:
                await asyncio.wait_for(connection.close(), 1.0)
            except Exception as exc:
                log.debug("closing a broken connection: %s", self._scrub(exc))

    async def _shutdown(self) -> None:
        if self._main is not None:
            self._main.cancel()
        await self._dropConnection()

    def _setConnected(self, connected: bool, notify: bool = True) -> None:
        if connected == self.connected:
            return
        self.connected = connected
        if connected:
            self._connectedEvent.set()
            log.info("connected to RabbitMQ %s as queue %s", self.url, self._queue)
        else:
            self._connectedEvent.clear()
            with self._lock:
                self._outbox.clear()
        if notify:
            try:
                self._onConnection(connected)
            except Exception:
                log.exception("broker connection callback failed")

    def _deliver(self, exchange: str, routingKey: str, body: bytes) -> None:
        # Called by the parser in the middle of the received bytes: nothing may escape.
        if not exchange.startswith(self._prefix):
            return
        try:
            self._onMessage(exchange[len(self._prefix):], routingKey, body, None)
        except Exception:
            log.exception("message handler failed for %s %s", exchange, routingKey)

    def _scheduleBinding(self, exchange: str, bindingKey: str, bind: bool) -> None:
        # Created here, in call order: the FIFO lock then applies the bindings in that order.
        self._loop.create_task(self._applyBinding(exchange, bindingKey, bind))

    async def _applyBinding(self, exchange: str, bindingKey: str, bind: bool) -> None:
        async with self._bindLock:
            queue, channel = self._queue, self._channel
            if queue is None or not self.connected:
                return   # the next connection binds whatever the table holds then
            try:
                if bind:
                    await channel.queue_bind(queue, self._prefix + exchange, routing_key=bindingKey)
                else:
                    await channel.queue_unbind(queue, self._prefix + exchange, routing_key=bindingKey)
            except Exception as exc:
                log.warning("cannot %s %s %s: %s", "bind" if bind else "unbind", exchange, bindingKey,
                            self._scrub(exc))
                self._onFailure(exc)

    async def _barrier(self) -> bool:
        async with self._bindLock:
            pass
        await self._idle.wait()
        return self.connected

    def _startDrain(self) -> None:
        self._idle.clear()
        self._flush()

    def _flush(self) -> None:
        """Hand everything in the outbox to the connection's writer as one write (loop thread)."""
        with self._lock:
            batch = list(self._outbox)
            self._outbox.clear()
        channel, frames = self._channel, self._frames
        if batch and channel is not None and not channel.is_closed:
            parts: list = []
            for exchange, routingKey, header, body in batch:
                try:
                    frames.encode(exchange, routingKey, header, body, parts)
                except ValueError as exc:   # a name AMQP cannot carry: this message only
                    log.warning("cannot publish to %s %s: %s", exchange, routingKey, exc)
            if parts and channel.write_queue.empty() and not self._transport.is_closing():
                # Straight to the socket: nothing queued can be overtaken, and the writer's task is spared
                # a round of the loop. Draining stays on for that round: what is published meanwhile then
                # leaves in one write rather than in a system call per message.
                self._transport.write(b"".join(parts))
                self._loop.call_soon(self._flushed)
                return
            if parts:
                write = ChannelFrame(payload=b"".join(parts), should_close=False)
                try:
                    channel.write_queue.put_nowait(write)
                except asyncio.QueueFull:
                    # The writer is behind: wait for it (in order: the outbox waits meanwhile).
                    self._pendingFlush = self._loop.create_task(self._flushLater(channel, write))
                    return
        self._flushed()

    async def _flushLater(self, channel: aiormq.abc.AbstractChannel, write: ChannelFrame) -> None:
        try:
            await channel.write_queue.put(write)
        except asyncio.CancelledError:
            # The connection went (see _dropConnection), and with it this write: later messages start afresh.
            with self._lock:
                self._draining = False
            self._idle.set()
            raise
        except Exception as exc:
            log.warning("cannot publish: %s", self._scrub(exc))
            self._onFailure(exc)
        finally:
            self._pendingFlush = None
        self._flushed()

    def _flushed(self) -> None:
        with self._lock:
            if self._outbox:   # more arrived meanwhile (from another thread): next round
                self._loop.call_soon(self._flush)
                return
            self._draining = False
        self._idle.set()


def _unused(message: aiormq.abc.DeliveredMessage) -> None:
    """The consumer callback aiormq requires; never called, as the parser takes every delivery first."""


class _ParsingProtocol(asyncio.StreamReaderProtocol, asyncio.BufferedProtocol):
    """aiormq's stream protocol, with deliveries taken out of the received bytes by a :class:`DeliveryParser`.

    Reads go into one buffer of ours: for a plain protocol asyncio allocates 256 KiB per read, which
    malloc maps and unmaps each time (three system calls per read, and in a threaded process the
    unmapping interrupts the other cores).
    """

    def __init__(self, reader: asyncio.StreamReader, parser: DeliveryParser):
        super().__init__(reader)
        self._parser = parser
        self._lastPassed = time.monotonic()
        self._readBuffer = memoryview(bytearray(_READ_SIZE))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._readBuffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self._readBuffer[:nbytes]))

    def data_received(self, data: bytes) -> None:
        rest = self._parser.feed(data)
        now = time.monotonic()
        if rest:
            self._lastPassed = now
        elif now - self._lastPassed > _LIVENESS_INTERVAL:
            rest, self._lastPassed = _HEARTBEAT_FRAME, now
        if rest:
            super().data_received(rest)


class _ParsingTransportFactory(aiormq.TransportFactory):
    """Connects like aiormq's own factories, through a :class:`_ParsingProtocol`; keeps the transport."""

    def __init__(self, parser: DeliveryParser):
        self.parser = parser
        self.transport: asyncio.WriteTransport | None = None

    async def create(self, url: URL, **kwargs) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        provider = kwargs.pop("ssl_context_provider")
        ssl = await provider.get_context() if url.scheme == "amqps" else None
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(loop=loop)
        protocol = _ParsingProtocol(reader, self.parser)
        try:
            self.transport, _ = await loop.create_connection(lambda: protocol, url.host, url.port, ssl=ssl,
                                                             **kwargs)
        except OSError as exc:
            raise aiormq.exceptions.AMQPConnectionError(*exc.args) from exc
        return reader, asyncio.StreamWriter(self.transport, protocol, reader, loop)
