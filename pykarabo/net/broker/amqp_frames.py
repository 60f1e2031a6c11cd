"""Karabo messages as AMQP ``Basic.Publish`` frames, marshalled by pamqp once per destination and reused.

aiormq's ``basic_publish`` builds, validates and marshals three frames, draws a random message id, takes
a lock and queues one write per message; at Karabo's message rates that is most of a sender's time.
The frames of a publish differ from message to message only in the body size and the body, so
:class:`PublishFrames` keeps the marshalled method frame per (exchange, routing key) and a content-header
template, and a whole batch of messages becomes one write. The bytes on the wire are those aiormq would
send, less the random ``message_id`` property, which Karabo neither sends from C++ nor reads.
"""

from __future__ import annotations

import struct

from pamqp import commands, constants, frame, header

__all__ = ["PublishFrames"]

_BODY_SIZE = struct.Struct(">Q")
# In a marshalled content-header frame: frame type (1), channel (2), frame size (4), class id (2), weight (2).
_BODY_SIZE_OFFSET = 11
_BODY_FRAME_HEAD = struct.Struct(">BHI")
_CACHE_LIMIT = 4096   # reply routing keys are unique per request: start afresh rather than grow forever


class PublishFrames:
    """Encodes messages for one channel as ready-to-write AMQP frames (method, content header, bodies)."""

    def __init__(self, channel: int, maxBodyFrame: int):
        self._channel = channel
        self._maxBody = maxBodyFrame
        self._methods: dict[tuple[str, str], bytes] = {}
        # delivery_mode 1 (transient), as aiormq sends by default and Karabo expects.
        template = frame.marshal(header.ContentHeader(0, 0, commands.Basic.Properties(delivery_mode=1)), channel)
        self._headerStart = template[:_BODY_SIZE_OFFSET]
        self._headerEnd = template[_BODY_SIZE_OFFSET + _BODY_SIZE.size:]

    def encode(self, exchange: str, routingKey: str, header: bytes, body: bytes, out: list) -> None:
        """Append the frames publishing ``header + body`` to ``exchange``/``routingKey`` to ``out``.

        The buffers are referenced, not copied: they must not change until ``out`` is joined. Raises
        ``TypeError`` or ``ValueError`` (from pamqp) for a name AMQP cannot carry.
        """
        method = self._methods.get((exchange, routingKey))
        if method is None:
            if len(self._methods) >= _CACHE_LIMIT:
                self._methods.clear()
            method = frame.marshal(commands.Basic.Publish(exchange=exchange, routing_key=routingKey), self._channel)
            self._methods[(exchange, routingKey)] = method
        size = len(header) + len(body)
        out += (method, self._headerStart, _BODY_SIZE.pack(size), self._headerEnd)
        if 0 < size <= self._maxBody:   # the usual case: one body frame, header and body side by side
            out += (_BODY_FRAME_HEAD.pack(constants.FRAME_BODY, self._channel, size), header, body,
                    constants.FRAME_END_CHAR)
            return
        view = memoryview(bytes(header) + bytes(body))
        for start in range(0, size, self._maxBody):
            chunk = view[start:start + self._maxBody]
            # Written here rather than by pamqp's marshal, which would copy the body once more.
            out += (_BODY_FRAME_HEAD.pack(constants.FRAME_BODY, self._channel, len(chunk)), chunk,
                    constants.FRAME_END_CHAR)
