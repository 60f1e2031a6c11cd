"""Blocking Karabo Bridge client, a drop-in for ``karabo_bridge.Client``."""

import itertools
import logging
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import zmq

from .memory import keep_freed_blocks
from .serializer import deserialize

__all__ = ["Client"]

logger = logging.getLogger(__name__)

REQUEST = b"next"
SOCKET_TYPES = {"REQ": zmq.REQ, "SUB": zmq.SUB, "PULL": zmq.PULL}

Train = tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]
Key = str | bytes | None

_monitor_ids = itertools.count()


def _z85(key: str | bytes) -> bytes:
    """Accept a Z85 CURVE key given as str or bytes."""
    return key.encode("ascii") if isinstance(key, str) else key


class ClientBase:
    """Socket set-up and REQ bookkeeping shared by the blocking and asyncio clients."""

    def __init__(
        self,
        endpoint: str,
        sock: str,
        ser: str,
        timeout: float | None,
        context: zmq.Context,
        own_context: bool,
        server_public_key: Key,
        public_key: Key,
        secret_key: Key,
        reuse_memory: bool,
    ) -> None:
        if ser != "msgpack":
            raise NotImplementedError(f"Unsupported serialization: {ser} (only msgpack)")
        if sock not in SOCKET_TYPES:
            raise NotImplementedError(f"Unsupported socket: {sock}")
        self.endpoint = endpoint
        self._socket_type = SOCKET_TYPES[sock]
        self._timeout_ms = None if timeout is None else int(timeout * 1000)
        self._context = context
        self._own_context = own_context
        self._curve = self._curve_keys(server_public_key, public_key, secret_key)
        self._pending = False  # a REQ request is waiting for its reply
        if reuse_memory:
            # before the socket starts ZeroMQ's I/O thread, so that the thread shares the main heap
            keep_freed_blocks(any_size=True)
        try:
            self._socket = self._open_socket()
        except zmq.ZMQError:
            if own_context:
                context.destroy(linger=0)
            raise

    @staticmethod
    def _curve_keys(server: Key, public: Key, secret: Key) -> tuple[bytes, bytes, bytes] | None:
        """Validate CURVE parameters, generating a client keypair when none is given."""
        if server is None:
            if public is not None or secret is not None:
                raise ValueError("a CURVE client keypair needs server_public_key too")
            return None
        if (public is None) != (secret is None):
            raise ValueError("give both public_key and secret_key, or neither")
        if public is None:
            public, secret = zmq.curve_keypair()
        return _z85(server), _z85(public), _z85(secret)

    def _open_socket(self) -> zmq.Socket:
        """Create and connect a socket with the reference client's options."""
        socket = self._context.socket(self._socket_type)
        try:
            socket.linger = 0  # never hang on close because of an unsent request
            socket.sndhwm = socket.rcvhwm = 1  # queue at most one (large) train
            if self._socket_type == zmq.SUB:
                socket.subscribe(b"")
            if self._timeout_ms is not None:
                socket.rcvtimeo = self._timeout_ms
            if self._curve is not None:
                socket.curve_serverkey, socket.curve_publickey, socket.curve_secretkey = self._curve
            socket.connect(self.endpoint)
            if self._socket_type == zmq.REQ:
                self._monitor = self._watch_disconnects(socket)
        except zmq.ZMQError:
            socket.close(linger=0)
            raise
        return socket

    def _watch_disconnects(self, socket: zmq.Socket) -> zmq.Socket:
        """Return a (blocking, poll-only) socket receiving the REQ socket's disconnect events."""
        address = f"inproc://pykarabo-bridge-monitor-{next(_monitor_ids)}"
        socket.monitor(address, zmq.EVENT_DISCONNECTED)
        # A plain shadow lets the asyncio client poll it without awaiting.
        monitor = zmq.Context.shadow(self._context.underlying).socket(zmq.PAIR)
        monitor.linger = 0
        monitor.connect(address)
        return monitor

    def _close_socket(self) -> None:
        """Close the data socket and its monitor."""
        if self._socket_type == zmq.REQ:
            self._socket.disable_monitor()
            self._monitor.close(linger=0)
        self._socket.close(linger=0)

    def _must_send_request(self) -> bool:
        """Tell whether a REQ socket has to send ``next`` now, reconnecting if a request was lost.

        Like the reference client, an outstanding request is kept after a
        timeout, so a slow server's reply is not thrown away. But a REQ
        socket waits forever for a reply on a connection that has dropped
        (e.g. the server restarted), so then the socket is replaced and the
        request sent again.
        """
        if self._socket_type != zmq.REQ:
            return False
        if self._pending and self._monitor.poll(0):
            logger.info(
                "connection to %s dropped with a request pending; asking again", self.endpoint
            )
            self._close_socket()
            self._socket = self._open_socket()
            self._pending = False
        if self._pending:
            return False
        while self._monitor.poll(0):  # disconnects before this request don't matter
            self._monitor.recv_multipart()
        self._pending = True
        return True

    def _timeout_error(self) -> TimeoutError:
        """Build the error raised when no train arrived in time."""
        return TimeoutError(
            f"No data received from {self._socket.last_endpoint.decode()} "
            f"in the last {self._timeout_ms} ms"
        )

    def close(self) -> None:
        """Close the socket, and the ZeroMQ context if the client created it."""
        self._close_socket()
        if self._own_context:
            self._context.destroy(linger=0)


class Client(ClientBase):
    """Receive trains from a Karabo Bridge server over REQ, SUB or PULL sockets.

    ``next()`` blocks for the next train (up to ``timeout`` seconds, then
    raises ``TimeoutError``); ``poll()`` checks without blocking. Passing
    ``server_public_key`` enables ZeroMQ CURVE encryption.

    ``reuse_memory`` (default on) lets every received train reuse the memory
    of the trains before it instead of fresh pages from the kernel, which
    doubles the rate at which a process can take AGIPD 1M trains; it changes
    glibc malloc settings for the whole process, see
    :mod:`pykarabo_bridge.memory` for what it costs and how to opt out.

    Differences from ``karabo_bridge.Client``: a REQ request whose connection
    dropped is sent again on a fresh socket by the next call (the reference
    waits forever for its reply); leaving a ``with`` block does not
    destroy a context passed in by the caller; an unknown ``ser`` raises
    ``NotImplementedError`` (a subclass of the reference's ``Exception``).
    """

    def __init__(
        self,
        endpoint: str,
        sock: str = "REQ",
        ser: str = "msgpack",
        timeout: float | None = None,
        context: zmq.Context | None = None,
        *,
        server_public_key: Key = None,
        public_key: Key = None,
        secret_key: Key = None,
        reuse_memory: bool = True,
    ) -> None:
        super().__init__(
            endpoint,
            sock,
            ser,
            timeout,
            context or zmq.Context(),
            context is None,
            server_public_key,
            public_key,
            secret_key,
            reuse_memory,
        )

    def _request(self) -> None:
        """Ask a REP server for a train unless a request is already outstanding."""
        if self._must_send_request():
            self._socket.send(REQUEST)

    def poll(self, timeout: float | None = 0) -> bool:
        """Wait up to ``timeout`` s (None: forever); True if ``next()`` would not block."""
        self._request()
        wait_ms = None if timeout is None else int(timeout * 1000)
        return bool(self._socket.poll(wait_ms, zmq.POLLIN))

    def next(self) -> Train:
        """Return the next train as ``(data, metadata)``, both keyed by source name."""
        self._request()
        try:
            frames = self._socket.recv_multipart(copy=False)
        except zmq.Again:
            raise self._timeout_error() from None
        self._pending = False
        return deserialize(frames)

    def __iter__(self) -> Iterator[Train]:
        """Iterate over trains forever."""
        return self

    def __next__(self) -> Train:
        """Return the next train, like ``next()``."""
        return self.next()

    def __enter__(self) -> "Client":
        """Return the client itself."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the client."""
        self.close()
