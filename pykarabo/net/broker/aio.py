"""The asyncio messaging transport (used by the middlelayer API): one task per incoming slot call."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import deque

from pykarabo.errors import KaraboError, KaraboTimeoutError
from pykarabo.net.broker.base import DEFAULT_PING_TIMEOUT, TransportBase, errorDetails, replyValues
from pykarabo.signalslot import (InstanceGone, InstanceNew, InstanceUpdated, Reply, ReplyError, ReplyTimeout,
                                 SlotCall)

log = logging.getLogger(__name__)

__all__ = ["AsyncSignalSlotable"]

_TICK = 0.05   # seconds: resolution of timeouts and heartbeats
_BATCH = 1000  # backend callbacks handled per loop iteration


class AsyncSignalSlotable(TransportBase):
    """A SignalSlotable on the broker, driven by an asyncio event loop (all methods run in that loop)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._futures: dict[str, asyncio.Future] = {}
        self._tasks: set[asyncio.Task] = set()
        self._ticker: asyncio.Task | None = None
        # Callbacks from a backend thread wait here; one loop wake-up drains them all (waking the loop
        # costs a socket write, far more than handling a small message).
        self._inbox: deque = deque()
        self._wakePending = False

    # ---- life ---------------------------------------------------------------------------------------

    async def start(self, timeout: float = 5.0, pingTimeout: float = DEFAULT_PING_TIMEOUT) -> None:
        """Connect, check that our id is unique, announce ourselves and start heartbeats."""
        self._loop = asyncio.get_running_loop()
        loop = self._loop
        if getattr(self.backend, "canShareLoop", False):
            self.backend.start(self._onMessage, self._onConnection, loop=loop)
        else:
            # Backend callbacks come from its thread; hand them to the loop, in order.
            self.backend.start(lambda *msg: self._post(self._onMessage, msg),
                               lambda up: self._post(self._onConnection, (up,)))
        self._process(self.core.bind() or [])
        if not await asyncio.to_thread(self.backend.sync, timeout):
            self.backend.close()
            raise KaraboTimeoutError(f"broker {self.backend.url} not reachable within {timeout} s")
        self._ticker = loop.create_task(self._tick())
        future = self._request(self.core.startUp(time.monotonic(), pingTimeout))
        self._process([])
        try:
            await future
        except TimeoutError:
            pass   # nobody answered: the id is free
        else:
            await self.stop()
            raise KaraboError(f"instanceId {self.instanceId!r} is already in use")
        self.core.goOnline(time.monotonic())
        self._process([])

    async def stop(self) -> None:
        """Say goodbye, cancel running slot tasks, fail waiting requests and disconnect."""
        if self._ticker is None:
            return
        self._process(self.core.shutDown())
        self._ticker.cancel()
        self._ticker = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.to_thread(self.backend.sync, 0.2)   # let the goodbye leave
        await asyncio.to_thread(self.backend.close)

    # ---- API ----------------------------------------------------------------------------------------

    def callNoWait(self, target: str, slot: str, *args) -> None:
        """Fire-and-forget call (``"*"``: broadcast)."""
        self.core.call(target, slot, *args)
        self._process([])

    async def request(self, target: str, slot: str, *args, timeout: float | None = None) -> tuple:
        """Send a request and await its reply values; raises KaraboTimeoutError or RemoteError."""
        future = self._request(self.core.request(target, slot, *args, now=time.monotonic(), timeout=timeout))
        self._process([])
        return await future

    def requestNoWait(self, target: str, slot: str, replySlot: str, *args) -> None:
        """Request whose reply arrives as a call of our slot ``replySlot``."""
        self.core.requestNoWait(target, slot, replySlot, *args)
        self._process([])

    def emit(self, signal: str, *args) -> None:
        """Emit one of our signals."""
        self.core.emit(signal, *args)
        self._process([])

    def connect(self, emitterId: str, signal: str, slot: str) -> None:
        """Connect a remote signal to our slot."""
        self.core.connect(emitterId, signal, slot)
        self._process([])

    def disconnect(self, emitterId: str, signal: str, slot: str) -> bool:
        """Undo :meth:`connect`."""
        existed = self.core.disconnect(emitterId, signal, slot)
        self._process([])
        return existed

    async def syncBroker(self, timeout: float = 2.0) -> bool:
        """Wait until our latest subscriptions (e.g. from :meth:`connect`) are effective."""
        return await asyncio.to_thread(self.backend.sync, timeout)

    # ---- internals ----------------------------------------------------------------------------------

    def _request(self, replyId: str) -> asyncio.Future:
        future = self._futures[replyId] = self._loop.create_future()
        # A caller that gives up (cancellation, wait_for) must not leave the request pending.
        future.add_done_callback(lambda f: f.cancelled() and self.core.cancelRequest(replyId))
        return future

    def _process(self, events: list) -> None:
        self._carryOut(self.core.takeActions())
        for event in events:
            if isinstance(event, SlotCall):
                self._startSlot(event)
            elif isinstance(event, (Reply, ReplyError, ReplyTimeout)):
                self._settle(self._futures.pop(event.replyId, None), event)
            elif isinstance(event, (InstanceNew, InstanceUpdated, InstanceGone)):
                self._notifyTopology(event)

    def _post(self, function, args: tuple) -> None:
        # Backend thread. Append before testing the flag: the loop clears the flag before it drains,
        # so a message appended after the last drain always finds the flag clear and wakes the loop.
        self._inbox.append((function, args))
        if not self._wakePending:
            self._wakePending = True
            try:
                self._loop.call_soon_threadsafe(self._drainInbox)
            except RuntimeError:
                # Our loop was closed without stopping us (the end of an asyncio.run() that used a proxy):
                # nothing will handle messages any more, so they are dropped. The connection stays: it may
                # host the embedded broker that other instances of this process use.
                self._inbox.clear()
                self._wakePending = False

    def _drainInbox(self) -> None:
        self._wakePending = False
        inbox = self._inbox
        # A bounded batch, so that a flood of messages cannot starve the loop's other work.
        for _ in range(min(len(inbox), _BATCH)):
            function, args = inbox.popleft()
            try:
                function(*args)
            except Exception:   # as the loop would log a failing callback, without stalling the others
                log.exception("%s: backend callback failed", self.instanceId)
        if inbox and not self._wakePending:
            self._wakePending = True
            self._loop.call_soon(self._drainInbox)

    def _onMessage(self, exchange: str, routingKey: str, header: bytes, body: bytes) -> None:
        try:
            events = self.core.receive(exchange, routingKey, header, body, now=time.monotonic())
        except Exception:
            log.exception("%s: cannot process a message to %s", self.instanceId, routingKey)
            return
        self._process(events)

    def _onConnection(self, connected: bool) -> None:
        self._process(self.core.setBrokerConnected(connected))

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(_TICK)
            self._process(self.core.tick(time.monotonic()))

    def _startSlot(self, call: SlotCall) -> None:
        # Like the middlelayer: a plain function runs at once (no task per message, which is what makes
        # a proxy keep up with fast updates); a coroutine (any awaitable result) gets its own task.
        handler = self._handlers.get(call.slot)
        if handler is None:
            return
        try:
            result = handler(*call.args)
        except Exception as exc:
            self.core.replyError(call, *errorDetails(exc))
        else:
            if result is not None and inspect.isawaitable(result):   # None: the usual (signal) slot
                self._spawn(self._runSlot(call, result), result)
                return
            self.core.reply(call, *replyValues(result))
        self._process([])

    def _spawn(self, coro, awaitable) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if inspect.iscoroutine(awaitable):
            # A task cancelled before its first step never awaited the slot's coroutine: close it quietly.
            task.add_done_callback(lambda t: t.cancelled() and awaitable.close())

    async def _runSlot(self, call: SlotCall, awaitable) -> None:
        try:
            values = replyValues(await awaitable)
        except asyncio.CancelledError:
            self.core.replyError(call, f"slot {call.slot} of {self.instanceId} was cancelled")
            self._process([])
            raise
        except Exception as exc:
            message, details = errorDetails(exc)
            self.core.replyError(call, message, details)
        else:
            self.core.reply(call, *values)
        self._process([])
