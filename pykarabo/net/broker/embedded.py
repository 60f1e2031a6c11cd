"""The embedded broker: zero-configuration messaging between processes on one machine, built on ZeroMQ.

Every participant can host the broker, an XSUB/XPUB forwarder bound to a well-known loopback endpoint
(``embedded://HOST:PORT`` binds XSUB on PORT and XPUB on PORT+1). The first participant to bind it owns
it and runs it in a daemon thread; all participants (the owner too) connect a PUB to the XSUB port and a
SUB to the XPUB port. The owner's forwarder sends a beat every :data:`BEAT_INTERVAL`; a participant that
hears none for :data:`LOSS_TIMEOUT` considers the broker lost (owner exited or crashed) and tries, with
back-off, to bind the endpoint itself: the operating system lets exactly one win, ZeroMQ reconnects all
others to it and replays their subscriptions. Messages sent while no broker runs are dropped, as with AMQP.

ZeroMQ subscriptions are prefix matches on the first frame, ``<topic>\\0<exchange>\\0<routingKey>``; the
literal prefix of each AMQP binding key is subscribed and the full pattern is checked locally.
"""

from __future__ import annotations

import errno
import logging
import random
import socket
import threading
import time
import uuid
from collections import deque
from typing import Callable

import zmq

from pykarabo.errors import KaraboError
from pykarabo.net.broker import MessageHandler, matchBindingKey

log = logging.getLogger(__name__)

__all__ = ["EmbeddedBackend", "EmbeddedBroker", "parseEmbeddedUrl", "privateEmbeddedUrl", "subscriptionPrefix",
           "BEAT_INTERVAL", "LOSS_TIMEOUT"]

BEAT_INTERVAL = 0.2     # seconds between broker beats
LOSS_TIMEOUT = 1.0      # seconds without a beat until the broker counts as lost
_STALL = 0.5            # a gap this long between two turns of a participant's loop: it was held up itself
_BEAT = b"\x01beat"     # control frames start with a byte no topic starts with
_PROBE = b"\x01probe:"
_POLL_MS = 50
# Queue limits (messages) of the sockets on a message's way: AMQP queues do not drop a burst that a
# receiver works off a little later, so ZeroMQ's default of 1000 would lose updates that Karabo delivers.
_HWM = 100_000   # ~20 MB of small messages per slow receiver, at most
# The hot paths call pyzmq's compiled socket methods with plain int flags: its Python layer (enum flag
# arithmetic, send_multipart's per-frame loop, getsockopt wrappers) costs more than the copy of a small frame.
_rawSend, _rawRecv, _rawGet = zmq.backend.Socket.send, zmq.backend.Socket.recv, zmq.backend.Socket.get
_MORE_NOBLOCK = int(zmq.SNDMORE | zmq.NOBLOCK)
_NOBLOCK = int(zmq.NOBLOCK)
_RCVMORE = int(zmq.RCVMORE)
_BATCH = 1000          # messages received in one go before they are handled
_MAX_ROUTES = 10_000   # remembered routing decisions (a cache: senders and slots come and go)
_BACKOFF_MIN, _BACKOFF_MAX = 0.1, 1.0


def parseEmbeddedUrl(url: str) -> tuple[str, int]:
    """``(host, port)`` of an ``embedded://host:port`` URL (loopback only)."""
    scheme, sep, rest = url.partition("://")
    host, _, port = rest.rstrip("/").rpartition(":")
    if scheme != "embedded" or not sep or not host or not port.isdigit():
        raise KaraboError(f"expected embedded://HOST:PORT, got {url!r}")
    return host, int(port)


def privateEmbeddedUrl(host: str = "127.0.0.1") -> str:
    """An ``embedded://`` URL no broker uses yet: a port p with p and p + 1 (the broker's two sockets) free
    on ``host``.  For isolated buses side by side, as tests and benchmarks need."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind((host, port + 1))
            except OSError:
                continue
        return f"embedded://{host}:{port}"
    raise KaraboError(f"no two neighbouring free ports on {host}")


def subscriptionPrefix(topicPrefix: bytes, exchange: str, bindingKey: str) -> bytes:
    """The ZeroMQ subscription (a prefix of the routing frame) that lets through all matches of ``bindingKey``."""
    literal = []
    for word in bindingKey.split("."):
        if word == "*":
            literal.append("")   # '*' needs one more word: keep the '.' before it
            break
        if word == "#":
            break                # '#' may match no word at all, not even the '.'
        literal.append(word)
    return topicPrefix + exchange.encode() + b"\0" + ".".join(literal).encode()


def _setCommon(sock: zmq.Socket) -> None:
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, _HWM)
    sock.setsockopt(zmq.RCVHWM, _HWM)
    sock.setsockopt(zmq.RECONNECT_IVL, int(_BACKOFF_MIN * 1000))
    sock.setsockopt(zmq.RECONNECT_IVL_MAX, int(_BACKOFF_MAX * 1000))


class EmbeddedBroker:
    """The XSUB/XPUB forwarder with beats; raises ``zmq.ZMQError`` (EADDRINUSE) if another one runs.

    Forwarding is libzmq's proxy, which runs without the GIL: a Python loop here would cost the hosting
    participant several microseconds of GIL per message, competing with its own message handling.
    Beats enter through the XSUB side like any publisher's message, so they also prove that forwarding works.
    """

    def __init__(self, context: zmq.Context, host: str, port: int):
        self.host, self.port = host, port
        self._xsub = context.socket(zmq.XSUB)
        self._xpub = context.socket(zmq.XPUB)
        for sock in (self._xsub, self._xpub):
            _setCommon(sock)
        try:
            # XSUB first: whoever gets it owns the broker, so two racers never split the port pair.
            self._xsub.bind(f"tcp://{host}:{port}")
            self._xpub.bind(f"tcp://{host}:{port + 1}")
        except zmq.ZMQError:
            self._xsub.close()
            self._xpub.close()
            raise
        inproc = f"inproc://embedded-broker-{uuid.uuid4().hex}"
        self._xsub.bind(inproc + "-beat")
        self._control = context.socket(zmq.PAIR)     # used by close() only
        self._control.setsockopt(zmq.LINGER, 0)
        self._control.bind(inproc + "-control")
        self._proxyControl = context.socket(zmq.PAIR)
        self._proxyControl.setsockopt(zmq.LINGER, 0)
        self._proxyControl.connect(inproc + "-control")
        self._beat = context.socket(zmq.PUB)
        self._beat.setsockopt(zmq.LINGER, 0)
        self._beat.connect(inproc + "-beat")
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"embedded-broker {host}:{port}", daemon=True)
        self._beater = threading.Thread(target=self._beats, name=f"embedded-broker-beat {host}:{port}", daemon=True)
        self._thread.start()
        self._beater.start()
        log.info("embedded broker running on %s:%d/%d", host, port, port + 1)

    def _run(self) -> None:
        try:
            zmq.proxy_steerable(self._xsub, self._xpub, None, self._proxyControl)
        except zmq.ZMQError as exc:
            if not self._closing.is_set():
                log.error("embedded broker stopped: %s", exc)
        finally:
            for sock in (self._xsub, self._xpub, self._proxyControl):
                sock.close()

    def _beats(self) -> None:
        try:
            while True:
                self._beat.send(_BEAT)
                if self._closing.wait(BEAT_INTERVAL):
                    return
        except zmq.ZMQError as exc:
            if not self._closing.is_set():
                log.error("embedded broker beats stopped: %s", exc)
        finally:
            self._beat.close()

    def close(self) -> None:
        """Stop forwarding and release the endpoint."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._beater.join(timeout=2)
        try:
            self._control.send(b"TERMINATE", zmq.NOBLOCK)
        except zmq.ZMQError:
            pass   # the proxy has already stopped (its error was logged)
        self._thread.join(timeout=2)
        self._control.close()


class EmbeddedBackend:
    """A participant of the embedded broker; hosts the broker itself when nobody else does."""

    def __init__(self, url: str, topic: str, *, hostBroker: bool = True):
        self.url = url
        self.topic = topic
        self.host, self.port = parseEmbeddedUrl(url)
        self.hostBroker = hostBroker
        self.connected = False
        self.broker: EmbeddedBroker | None = None
        self._topicPrefix = topic.encode() + b"\0"
        self._context = zmq.Context()
        self._pub: zmq.Socket | None = None
        self._sub: zmq.Socket | None = None
        self._pubLock = threading.Lock()
        self._ops: deque = deque()          # (subscribe?, exchange, bindingKey) applied by the I/O thread
        self._bindings: dict[str, dict[str, int]] = {}   # exchange -> bindingKey -> count
        self._prefixes: dict[bytes, int] = {}
        self._routes: dict[bytes, tuple | None] = {}   # routing frame -> (exchange, routingKey) if bound
        self._probes: dict[bytes, threading.Event] = {}
        self._connectedEvent = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._onMessage: MessageHandler | None = None
        self._onConnection: Callable[[bool], None] | None = None

    # ---- Backend API --------------------------------------------------------------------------------

    def start(self, onMessage: MessageHandler, onConnection: Callable[[bool], None]) -> None:
        """Connect (hosting the broker if nobody does) and start the I/O thread."""
        self._onMessage, self._onConnection = onMessage, onConnection
        self._tryHost()
        self._pub = self._context.socket(zmq.PUB)
        self._sub = self._context.socket(zmq.SUB)
        _setCommon(self._pub)
        _setCommon(self._sub)
        self._pub.connect(f"tcp://{self.host}:{self.port}")
        self._sub.connect(f"tcp://{self.host}:{self.port + 1}")
        self._sub.setsockopt(zmq.SUBSCRIBE, _BEAT)
        self._thread = threading.Thread(target=self._run, name=f"embedded-backend {self.topic}", daemon=True)
        self._thread.start()

    def publish(self, exchange: str, routingKey: str, header: bytes, body: bytes) -> None:
        """Send one message; dropped (logged) while the broker is unreachable."""
        frame0 = self._topicPrefix + exchange.encode() + b"\0" + routingKey.encode()
        with self._pubLock:
            if self._pub is None:
                raise KaraboError("the broker backend is closed")
            try:
                _rawSend(self._pub, frame0, _MORE_NOBLOCK)
                _rawSend(self._pub, header, _MORE_NOBLOCK)
                _rawSend(self._pub, body, _NOBLOCK)
            except zmq.Again:
                log.warning("broker queue full, dropped a message to %s %s", exchange, routingKey)

    def subscribe(self, exchange: str, bindingKey: str) -> None:
        """Receive ``exchange`` messages matching ``bindingKey``."""
        self._ops.append((True, exchange, bindingKey))

    def unsubscribe(self, exchange: str, bindingKey: str) -> None:
        """Undo one :meth:`subscribe`."""
        self._ops.append((False, exchange, bindingKey))

    def sync(self, timeout: float) -> bool:
        """Wait until connected and our earlier subscriptions reach the publishers (probed end to end)."""
        deadline = time.monotonic() + timeout
        if not self._connectedEvent.wait(timeout):
            return False
        token = _PROBE + uuid.uuid4().hex.encode()
        event = threading.Event()
        self._probes[token] = event
        self._ops.append((True, None, token))
        try:
            while time.monotonic() < deadline:
                with self._pubLock:
                    if self._pub is None:
                        return False
                    self._pub.send(token, zmq.NOBLOCK)
                if event.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
                    return True
            return False
        finally:
            self._probes.pop(token, None)
            self._ops.append((False, None, token))

    def close(self) -> None:
        """Stop the I/O thread, close the sockets and, if we host it, the broker."""
        if self._closing:
            return
        self._closing = True
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self._pubLock:
            if self._pub is not None:
                self._pub.close()
                self._pub = None
        if self.broker is not None:
            self.broker.close()
            self.broker = None
        self._context.term()

    # ---- internals ----------------------------------------------------------------------------------

    def _tryHost(self) -> bool:
        if not self.hostBroker or self.broker is not None:
            return self.broker is not None
        try:
            self.broker = EmbeddedBroker(self._context, self.host, self.port)
            return True
        except zmq.ZMQError as exc:
            if exc.errno != errno.EADDRINUSE:
                log.warning("cannot host the embedded broker on %s:%d: %s", self.host, self.port, exc)
            return False

    def _applyOps(self) -> None:
        if self._ops:
            self._routes.clear()   # bindings change: decide every routing frame again
        while self._ops:
            subscribe, exchange, key = self._ops.popleft()
            if exchange is None:   # a probe token
                prefix = key
            else:
                prefix = subscriptionPrefix(self._topicPrefix, exchange, key)
                counts = self._bindings.setdefault(exchange, {})
                if subscribe:
                    counts[key] = counts.get(key, 0) + 1
                elif counts.get(key, 0) > 1:
                    counts[key] -= 1
                else:
                    counts.pop(key, None)
            n = self._prefixes.get(prefix, 0)
            if subscribe:
                if n == 0:
                    self._sub.setsockopt(zmq.SUBSCRIBE, prefix)
                self._prefixes[prefix] = n + 1
            elif n:
                if n == 1:
                    self._sub.setsockopt(zmq.UNSUBSCRIBE, prefix)
                    del self._prefixes[prefix]
                else:
                    self._prefixes[prefix] = n - 1

    def _setConnected(self, connected: bool) -> None:
        if connected == self.connected:
            return
        self.connected = connected
        if connected:
            self._connectedEvent.set()
            log.info("embedded broker %s:%d reachable", self.host, self.port)
        else:
            self._connectedEvent.clear()
            log.warning("embedded broker %s:%d lost", self.host, self.port)
        try:
            self._onConnection(connected)
        except Exception:
            log.exception("broker connection callback failed")

    def _run(self) -> None:
        lastBeat = None
        backoff = _BACKOFF_MIN
        nextTakeover = lastTurn = time.monotonic()
        nextTakeover += LOSS_TIMEOUT
        try:
            while not self._closing:
                self._applyOps()
                if self._sub.poll(_POLL_MS, zmq.POLLIN):
                    for frames in self._drain():
                        if frames[0] == _BEAT:
                            lastBeat = time.monotonic()
                        else:
                            self._deliver(frames)
                now = time.monotonic()
                if lastBeat is not None and now - lastTurn > _STALL:
                    # This thread itself was held up (a long call holding the GIL, h5py closing a file, a
                    # starved CPU): the owner's beats, perhaps sent from this very process, were held up
                    # alike, so the silence says nothing yet. Without this, every participant of the
                    # process reported the broker lost and found again after each such stall.
                    lastBeat = max(lastBeat, now - LOSS_TIMEOUT / 2)
                lastTurn = now
                alive = lastBeat is not None and now - lastBeat < LOSS_TIMEOUT
                self._setConnected(alive)
                if alive:
                    backoff = _BACKOFF_MIN
                elif now >= nextTakeover:
                    if self._tryHost():
                        lastBeat = None
                    # Jitter keeps several orphaned participants from retrying in lock-step.
                    nextTakeover = now + backoff * random.uniform(0.5, 1.0)
                    backoff = min(backoff * 2, _BACKOFF_MAX)
        except Exception:
            log.exception("embedded broker backend thread failed")
        finally:
            self._sub.close()
            if self.connected:
                self.connected = False
                self._connectedEvent.clear()

    def _drain(self) -> list[list[bytes]]:
        """The messages waiting (at most :data:`_BATCH`), received before any is handled.

        Every receive releases the GIL; interleaved with handling, each release would hand the GIL to
        the thread we just woke (a loop or slot worker) and wait a whole switch interval to get it back.
        """
        batch = []
        sub = self._sub
        for _ in range(_BATCH):
            try:
                frames = [_rawRecv(sub, _NOBLOCK)]
            except zmq.Again:
                break
            while _rawGet(sub, _RCVMORE):
                frames.append(_rawRecv(sub, _NOBLOCK))
            batch.append(frames)
        return batch

    def _deliver(self, frames: list) -> None:
        if frames[0].startswith(_PROBE):
            event = self._probes.get(frames[0])
            if event is not None:
                event.set()
            return
        if len(frames) != 3:
            return
        route = self._routes.get(frames[0], False)
        if route is False:
            route = self._route(frames[0])
            if len(self._routes) >= _MAX_ROUTES:
                self._routes.clear()
            self._routes[frames[0]] = route
        if route is None:
            return
        exchange, routingKey = route
        try:
            self._onMessage(exchange, routingKey, frames[1], frames[2])
        except Exception:
            log.exception("message handler failed for %s %s", exchange, routingKey)

    def _route(self, frame0: bytes) -> tuple[str, str] | None:
        """``(exchange, routingKey)`` of a routing frame if one of our bindings matches it, else None."""
        if not frame0.startswith(self._topicPrefix):
            return None
        try:
            exchange, routingKey = frame0[len(self._topicPrefix):].decode().split("\0", 1)
        except ValueError:
            log.warning("dropping a message with a malformed routing frame")
            return None
        bindings = self._bindings.get(exchange, {})
        if not any(matchBindingKey(key, routingKey) for key in bindings):
            return None
        return exchange, routingKey
