"""asyncio Karabo Bridge client built on ``zmq.asyncio``."""

from collections.abc import AsyncIterator
from types import TracebackType

import zmq
import zmq.asyncio

from .client import REQUEST, ClientBase, Key, Train
from .serializer import deserialize

__all__ = ["AsyncClient"]


class AsyncClient(ClientBase):
    """asyncio counterpart of :class:`~pykarabo_bridge.Client`: ``await next()`` and ``async for``.

    Timeouts and REQ recovery behave as in ``Client``; a cancelled ``next()``
    leaves its REQ request outstanding, like a timeout.
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
        if context is None:
            ctx, own = zmq.asyncio.Context(), True
        elif isinstance(context, zmq.asyncio.Context):
            ctx, own = context, False
        else:
            # A plain context is wrapped so its sockets get awaitable methods.
            ctx, own = zmq.asyncio.Context.shadow(context), False
        super().__init__(
            endpoint,
            sock,
            ser,
            timeout,
            ctx,
            own,
            server_public_key,
            public_key,
            secret_key,
            reuse_memory,
        )

    async def next(self) -> Train:
        """Return the next train as ``(data, metadata)``, both keyed by source name."""
        if self._must_send_request():
            await self._socket.send(REQUEST)
        try:
            frames = await self._socket.recv_multipart(copy=False)
        except zmq.Again:
            # zmq.asyncio applies RCVTIMEO itself and reports it as Again.
            raise self._timeout_error() from None
        self._pending = False
        return deserialize(frames)

    def __aiter__(self) -> AsyncIterator[Train]:
        """Iterate over trains forever."""
        return self

    async def __anext__(self) -> Train:
        """Return the next train, like ``next()``."""
        return await self.next()

    async def __aenter__(self) -> "AsyncClient":
        """Return the client itself."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the client."""
        self.close()
