"""Blocking Karabo Bridge client, a drop-in for ``karabo_bridge.Client``."""

import logging
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import zmq

from .serializer import deserialize

__all__ = ["Client"]

logger = logging.getLogger(__name__)

REQUEST = b"next"
SOCKET_TYPES = {"REQ": zmq.REQ, "SUB": zmq.SUB, "PULL": zmq.PULL}

Train = tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]
Key = str | bytes | None


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
        except zmq.ZMQError:
            socket.close(linger=0)
            raise
        return socket

    def _timed_out(self) -> TimeoutError:
        """Build the timeout error and get a REQ socket ready to ask again."""
        error = TimeoutError(
            f"No data received from {self._socket.last_endpoint.decode()} "
            f"in the last {self._timeout_ms} ms"
        )
        if self._socket_type == zmq.REQ:
            # A REQ socket may not send again before its reply arrives, and
            # that reply may never come (e.g. the server restarted). Start a
            # fresh socket; a late reply to the abandoned request is dropped.
            logger.debug("REQ timed out; reconnecting to %s", self.endpoint)
            self._socket.close(linger=0)
            self._socket = self._open_socket()
            self._pending = False
        return error

    def close(self) -> None:
        """Close the socket, and the ZeroMQ context if the client created it."""
        self._socket.close(linger=0)
        if self._own_context:
            self._context.destroy(linger=0)


class Client(ClientBase):
    """Receive trains from a Karabo Bridge server over REQ, SUB or PULL sockets.

    ``next()`` blocks for the next train (up to ``timeout`` seconds, then
    raises ``TimeoutError``); ``poll()`` checks without blocking. Passing
    ``server_public_key`` enables ZeroMQ CURVE encryption.

    Differences from ``karabo_bridge.Client``: after a REQ timeout the socket
    is recreated and the next call sends a fresh request (the reference keeps
    waiting for the old reply forever); leaving a ``with`` block does not
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
        )

    def _request(self) -> None:
        """Ask a REP server for a train unless a request is already outstanding."""
        if self._socket_type == zmq.REQ and not self._pending:
            self._socket.send(REQUEST)
            self._pending = True

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
            raise self._timed_out() from None
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
