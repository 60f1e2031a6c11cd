"""Karabo messages as AMQP frames: publishes marshalled from templates, deliveries parsed in place.

aiormq's ``basic_publish`` builds, validates and marshals three frames, draws a random message id, takes
a lock and queues one write per message; at Karabo's message rates that is most of a sender's time.
The frames of a publish differ from message to message only in the names, the body size and the body,
so :class:`PublishFrames` packs the method frame itself (each reply has a routing key of its own), fills
in a content-header template, and a whole batch of messages becomes one write. The bytes on the wire are
those aiormq would send, less the random ``message_id`` property, which Karabo neither sends from C++ nor
reads.

Receiving, aiormq reads every frame in a task of the connection, queues it for a task of the channel and
starts a task per delivered message: three hand-overs, each a round of the event loop, per message.
:class:`DeliveryParser` instead sees the bytes as they arrive and takes the deliveries of the consuming
channel out of the stream (a Karabo message needs only its exchange, routing key and body); all other
frames go on to aiormq unchanged, which keeps handling the connection, its RPCs and heartbeats.
"""

from __future__ import annotations

import struct
from typing import Callable

from pamqp import commands, constants, frame, header

__all__ = ["DeliveryParser", "PublishFrames"]

_BODY_SIZE = struct.Struct(">Q")
# In a marshalled content-header frame: frame type (1), channel (2), frame size (4), class id (2), weight (2).
_BODY_SIZE_OFFSET = 11
_FRAME_HEAD = struct.Struct(">BHI")   # type, channel, payload size; the payload and FRAME_END follow
_METHOD_ID = struct.Struct(">HH")
_DELIVER = (60, 60)   # Basic.Deliver
# Basic.Publish (class 60, method 40), its reserved ticket 0; then exchange and routing key as short
# strings and the mandatory/immediate bits (both clear).
_PUBLISH = struct.pack(">HHH", 60, 40, 0)
_NO_FLAGS = b"\x00"
_SHORT_STRING_MAX = 255


class PublishFrames:
    """Encodes messages for one channel as ready-to-write AMQP frames (method, content header, bodies)."""

    def __init__(self, channel: int, maxBodyFrame: int):
        self._channel = channel
        self._maxBody = maxBodyFrame
        # delivery_mode 1 (transient), as aiormq sends by default and Karabo expects.
        template = frame.marshal(header.ContentHeader(0, 0, commands.Basic.Properties(delivery_mode=1)), channel)
        self._headerStart = template[:_BODY_SIZE_OFFSET]
        self._headerEnd = template[_BODY_SIZE_OFFSET + _BODY_SIZE.size:]

    def encode(self, exchange: str, routingKey: str, header: bytes, body: bytes, out: list) -> None:
        """Append the frames publishing ``header + body`` to ``exchange``/``routingKey`` to ``out``.

        The buffers are referenced, not copied: they must not change until ``out`` is joined. Raises
        ``ValueError`` for a name AMQP cannot carry (longer than 255 bytes).
        """
        exchangeBytes, keyBytes = exchange.encode(), routingKey.encode()
        if len(exchangeBytes) > _SHORT_STRING_MAX or len(keyBytes) > _SHORT_STRING_MAX:
            raise ValueError(f"AMQP names have at most {_SHORT_STRING_MAX} bytes: {exchange[:60]!r}, "
                             f"{routingKey[:60]!r}")
        methodSize = len(_PUBLISH) + 2 + len(exchangeBytes) + len(keyBytes) + len(_NO_FLAGS)
        size = len(header) + len(body)
        out += (_FRAME_HEAD.pack(constants.FRAME_METHOD, self._channel, methodSize), _PUBLISH,
                bytes((len(exchangeBytes),)), exchangeBytes, bytes((len(keyBytes),)), keyBytes, _NO_FLAGS,
                constants.FRAME_END_CHAR, self._headerStart, _BODY_SIZE.pack(size), self._headerEnd)
        if 0 < size <= self._maxBody:   # the usual case: one body frame, header and body side by side
            out += (_FRAME_HEAD.pack(constants.FRAME_BODY, self._channel, size), header, body,
                    constants.FRAME_END_CHAR)
            return
        view = memoryview(bytes(header) + bytes(body))
        for start in range(0, size, self._maxBody):
            chunk = view[start:start + self._maxBody]
            # Written here rather than by pamqp's marshal, which would copy the body once more.
            out += (_FRAME_HEAD.pack(constants.FRAME_BODY, self._channel, len(chunk)), chunk,
                    constants.FRAME_END_CHAR)


class DeliveryParser:
    """Splits received bytes into the deliveries of one channel (handed to ``onDelivery``) and the rest.

    ``onDelivery(exchange, routingKey, body)`` is called for each complete message as soon as its last
    frame is in. Frames are tracked from the first byte, so :attr:`channel` (the channel consuming, None
    until there is one) may be set at any time.
    """

    def __init__(self, onDelivery: Callable[[str, str, bytes], None]):
        self.channel: int | None = None
        self._onDelivery = onDelivery
        self._buffer = b""
        self._passThrough = False   # the server answered with a protocol header: nothing to parse
        self._route: tuple[str, str] | None = None   # of the delivery whose content comes next
        self._size = 0
        self._chunks: list[bytes] = []
        self._received = 0

    def feed(self, data: bytes) -> bytes:
        """Take ``data`` as received; return the bytes of every frame that is not a delivery of ours."""
        if self._passThrough:
            return data
        buffer = self._buffer + data if self._buffer else data
        if buffer.startswith(b"AMQP"):
            self._passThrough = True
            return buffer
        others = []
        start, end = 0, len(buffer)
        while end - start >= 8:
            kind, channel, size = _FRAME_HEAD.unpack_from(buffer, start)
            stop = start + 8 + size
            if stop > end:
                break
            if channel != self.channel or buffer[stop - 1] != constants.FRAME_END \
                    or not self._take(kind, buffer, start + 7, stop - 1):
                others.append(buffer[start:stop])
            start = stop
        self._buffer = buffer[start:]
        return b"".join(others)

    def _take(self, kind: int, buffer: bytes, start: int, stop: int) -> bool:
        """Handle one frame of our channel if it belongs to a delivery (else it goes on to aiormq)."""
        if kind == constants.FRAME_METHOD:
            if _METHOD_ID.unpack_from(buffer, start) != _DELIVER:
                return False
            at = start + 4
            at += 1 + buffer[at] + 8 + 1   # consumer tag, delivery tag, redelivered
            # Names that are not UTF-8 (another client's doing) must not break the connection: they
            # then match no binding of ours and are dropped like any message nobody subscribed to.
            exchange = buffer[at + 1:at + 1 + buffer[at]].decode(errors="replace")
            at += 1 + buffer[at]
            routingKey = buffer[at + 1:at + 1 + buffer[at]].decode(errors="replace")
            self._route = (exchange, routingKey)
            return True
        if self._route is None:
            return False
        if kind == constants.FRAME_HEADER:
            self._size = _BODY_SIZE.unpack_from(buffer, start + 4)[0]
            self._chunks, self._received = [], 0
            if self._size == 0:
                self._deliver(b"")
            return True
        if kind == constants.FRAME_BODY:
            chunk = buffer[start:stop]
            if self._received == 0 and len(chunk) == self._size:   # the usual case: one body frame
                self._deliver(chunk)
                return True
            self._chunks.append(chunk)
            self._received += len(chunk)
            if self._received >= self._size:
                self._deliver(b"".join(self._chunks))
            return True
        return False

    def _deliver(self, body: bytes) -> None:
        (exchange, routingKey), self._route, self._chunks = self._route, None, []
        self._onDelivery(exchange, routingKey, body)
