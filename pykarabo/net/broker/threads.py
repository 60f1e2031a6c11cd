"""The threaded messaging transport (used by the bound API): slots run in a thread pool, one strand per sender."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Callable

from pykarabo.errors import KaraboError, KaraboTimeoutError
from pykarabo.net.broker.base import DEFAULT_PING_TIMEOUT, TransportBase, errorDetails, replyValues
from pykarabo.signalslot import (InstanceGone, InstanceNew, InstanceUpdated, Reply, ReplyError, ReplyTimeout,
                                 SlotCall)

log = logging.getLogger(__name__)

__all__ = ["ThreadedSignalSlotable", "Requestor"]

_TICK = 0.05   # seconds: resolution of timeouts and heartbeats


class Requestor:
    """A sent request: wait for its reply, or have it delivered to callbacks."""

    def __init__(self, owner: "ThreadedSignalSlotable", replyId: str, future: Future):
        self._owner = owner
        self.replyId = replyId
        self._future = future

    def waitForReply(self, timeoutMs: int | None = None) -> tuple:
        """The reply values; raises KaraboTimeoutError or RemoteError."""
        try:
            return self._future.result(None if timeoutMs is None else timeoutMs / 1000)
        except KaraboTimeoutError:
            raise
        except FutureTimeout:
            self._owner._cancel(self.replyId)
            raise KaraboTimeoutError(f"no reply within {timeoutMs} ms (request {self.replyId})") from None

    def receiveAsync(self, onReply: Callable, onError: Callable | None = None, timeoutMs: int | None = None) -> None:
        """Call ``onReply(*values)`` or ``onError(message, details)`` from a worker thread."""
        if timeoutMs is not None:
            self._owner._setTimeout(self.replyId, timeoutMs / 1000)

        def done(future: Future) -> None:
            exc = future.exception()
            if exc is None:
                onReply(*future.result())
            elif onError is not None:
                onError(str(exc), getattr(exc, "details", ""))
            else:
                log.warning("request %s failed: %s", self.replyId, exc)
        self._future.add_done_callback(done)


class ThreadedSignalSlotable(TransportBase):
    """A SignalSlotable on the broker, driven by threads."""

    def __init__(self, *args, workers: int = 8, **kwargs):
        super().__init__(*args, **kwargs)
        self._lock = threading.RLock()
        self._futures: dict[str, Future] = {}
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix=f"slots {self.instanceId}")
        self._strands: dict[str, deque] = {}
        self._stopping = threading.Event()
        self._ticker: threading.Thread | None = None

    # ---- life ---------------------------------------------------------------------------------------

    def start(self, timeout: float = 5.0, pingTimeout: float = DEFAULT_PING_TIMEOUT) -> None:
        """Connect, check that our id is unique, announce ourselves and start heartbeats."""
        self.backend.start(self._onMessage, self._onConnection)
        self._process(lambda: self.core.bind() or [])
        if not self.backend.sync(timeout):
            self.backend.close()
            raise KaraboTimeoutError(f"broker {self.backend.url} not reachable within {timeout} s")
        with self._lock:
            replyId = self.core.startUp(time.monotonic(), pingTimeout)
            future = self._futures[replyId] = Future()
            self._carryOut(self.core.takeActions())
        self._ticker = threading.Thread(target=self._tick, name=f"ticker {self.instanceId}", daemon=True)
        self._ticker.start()
        try:
            future.result(pingTimeout + 1)
        except TimeoutError:
            pass   # nobody answered: the id is free
        else:
            self.stop()
            raise KaraboError(f"instanceId {self.instanceId!r} is already in use")
        self._process(lambda: self.core.goOnline(time.monotonic()) or [])

    def stop(self) -> None:
        """Say goodbye, fail waiting requests and disconnect."""
        if self._stopping.is_set():
            return
        self._process(self.core.shutDown)
        self._stopping.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(timeout=2)
        # Give the goodbye a moment to leave before the socket closes.
        self.backend.sync(0.2)
        self.backend.close()
        self._executor.shutdown(wait=False, cancel_futures=True)

    # ---- API ----------------------------------------------------------------------------------------

    def call(self, target: str, slot: str, *args) -> None:
        """Fire-and-forget call (``"*"``: broadcast)."""
        self._process(lambda: self.core.call(target, slot, *args) or [])

    def request(self, target: str, slot: str, *args) -> Requestor:
        """Send a request; wait for the reply with ``.waitForReply(ms)`` or ``.receiveAsync(...)``."""
        with self._lock:
            replyId = self.core.request(target, slot, *args, now=time.monotonic())
            future = self._futures[replyId] = Future()
            self._carryOut(self.core.takeActions())
        return Requestor(self, replyId, future)

    def requestNoWait(self, target: str, slot: str, replySlot: str, *args) -> None:
        """Request whose reply arrives as a call of our slot ``replySlot``."""
        self._process(lambda: self.core.requestNoWait(target, slot, replySlot, *args) or [])

    def emit(self, signal: str, *args) -> None:
        """Emit one of our signals."""
        self._process(lambda: self.core.emit(signal, *args) or [])

    def connect(self, emitterId: str, signal: str, slot: str) -> None:
        """Connect a remote signal to our slot."""
        self._process(lambda: self.core.connect(emitterId, signal, slot) or [])

    def disconnect(self, emitterId: str, signal: str, slot: str) -> bool:
        """Undo :meth:`connect`."""
        with self._lock:
            existed = self.core.disconnect(emitterId, signal, slot)
            self._carryOut(self.core.takeActions())
        return existed

    def syncBroker(self, timeout: float = 2.0) -> bool:
        """Wait until our latest subscriptions (e.g. from :meth:`connect`) are effective."""
        return self.backend.sync(timeout)

    # ---- internals ----------------------------------------------------------------------------------

    def _process(self, step: Callable[[], list]) -> None:
        # Publishing under the lock keeps the wire order equal to the order of core decisions.
        with self._lock:
            events = step()
            self._carryOut(self.core.takeActions())
        self._dispatch(events)

    def _cancel(self, replyId: str) -> None:
        with self._lock:
            self.core.cancelRequest(replyId)
            self._futures.pop(replyId, None)

    def _setTimeout(self, replyId: str, timeout: float) -> None:
        with self._lock:
            self.core.setRequestTimeout(replyId, time.monotonic(), timeout)

    def _onMessage(self, exchange: str, routingKey: str, header: bytes, body: bytes) -> None:
        self._process(lambda: self.core.receive(exchange, routingKey, header, body, now=time.monotonic()))

    def _onConnection(self, connected: bool) -> None:
        self._process(lambda: self.core.setBrokerConnected(connected))

    def _tick(self) -> None:
        while not self._stopping.wait(_TICK):
            self._process(lambda: self.core.tick(time.monotonic()))

    def _dispatch(self, events: list) -> None:
        for event in events:
            if isinstance(event, SlotCall):
                self._enqueue(event)
            elif isinstance(event, (Reply, ReplyError, ReplyTimeout)):
                with self._lock:
                    future = self._futures.pop(event.replyId, None)
                self._settle(future, event)
            elif isinstance(event, (InstanceNew, InstanceUpdated, InstanceGone)):
                self._notifyTopology(event)

    def _enqueue(self, call: SlotCall) -> None:
        # One strand per sender: its messages run in order, other senders' messages in parallel.
        with self._lock:
            strand = self._strands.get(call.sender)
            if strand is not None:
                strand.append(call)
                return
            self._strands[call.sender] = deque([call])
        try:
            self._executor.submit(self._runStrand, call.sender)
        except RuntimeError:
            pass   # shutting down

    def _runStrand(self, sender: str) -> None:
        while True:
            # Take all waiting calls at once: the lock is shared with the receiving thread, and each
            # contended acquisition can cost a GIL switch interval.
            with self._lock:
                strand = self._strands[sender]
                if not strand:
                    del self._strands[sender]
                    return
                calls = list(strand)
                strand.clear()
            for call in calls:
                self._runSlot(call)

    def _runSlot(self, call: SlotCall) -> None:
        handler = self._handlers.get(call.slot)
        if handler is None:
            return
        try:
            values = replyValues(handler(*call.args))
        except Exception as exc:
            log.debug("slot %s raised", call.slot, exc_info=True)
            message, details = errorDetails(exc)
            self._process(lambda: self.core.replyError(call, message, details) or [])
        else:
            if call.wantsReply:   # most calls (every signal) want none: skip the lock and the core
                self._process(lambda: self.core.reply(call, *values) or [])
