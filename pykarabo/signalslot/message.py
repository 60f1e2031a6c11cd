"""The Karabo 3 broker message: a header Hash and a body Hash, both in Karabo's binary format.

Routing (exchange and routing key) is not part of the message: it is given to the broker
backend beside the bytes, exactly as AMQP carries it beside the message body.
"""

from __future__ import annotations

import time
from typing import Iterable

from pykarabo import Hash, Types, decodeBinary, decodeBinaryPos, encodeBinary
from pykarabo.errors import DeserializationError

__all__ = [
    "SLOTS", "GLOBAL_SLOTS", "SIGNALS", "EXCHANGES", "MAX_ARGS",
    "makeHeader", "makeBody", "bodyArgs", "encodeMessage", "decodeMessage",
]

# Exchange suffixes; the full exchange name is "<topic>.<suffix>".
SLOTS = "Slots"
GLOBAL_SLOTS = "Global_Slots"
SIGNALS = "Signals"
EXCHANGES = (SLOTS, GLOBAL_SLOTS, SIGNALS)

MAX_ARGS = 4   # typed slots take at most a1..a4; more data travels in a Hash
_ARG_KEYS = tuple(f"a{i}" for i in range(1, MAX_ARGS + 1))


def makeHeader(signalInstanceId: str, *, replyTo: str | None = None, replyFunction: str | None = None,
               replyFrom: str | None = None, error: bool | None = None,
               timestampMs: int | None = None) -> Hash:
    """The Karabo 3 header Hash of a message sent by ``signalInstanceId``."""
    header = Hash()
    header["signalInstanceId"] = signalInstanceId
    if replyTo is not None:
        header["replyTo"] = replyTo
    if replyFunction is not None:
        header["replyFunction"] = replyFunction
    if replyFrom is not None:
        header["replyFrom"] = replyFrom
    if error is not None:
        header.setAs("error", bool(error), Types.BOOL)
    # Epoch milliseconds, INT64 on the wire (receivers use it for latency statistics).
    header.setAs("MQTimestamp", int(time.time() * 1000) if timestampMs is None else timestampMs, Types.INT64)
    return header


def makeBody(args: Iterable) -> Hash:
    """The body Hash ``a1``..``a4`` of a call with ``args``."""
    args = tuple(args)
    if len(args) > MAX_ARGS:
        raise ValueError(f"at most {MAX_ARGS} arguments can be sent, pack more into a Hash")
    body = Hash()
    for key, arg in zip(_ARG_KEYS, args):
        body[key] = arg
    return body


def bodyArgs(body: Hash) -> tuple:
    """The positional arguments ``a1``, ``a2``, ... of a body Hash (stops at the first gap)."""
    keys = body.keys()
    if tuple(keys) == _ARG_KEYS[:len(keys)]:
        return tuple(body.values())   # the usual body, as every Karabo sends it: a1..an in order
    args = []
    for key in _ARG_KEYS:
        if not body.has(key):
            break
        args.append(body[key])
    return tuple(args)


def encodeMessage(header: Hash, body: Hash) -> tuple[bytes, bytes]:
    """The binary header and body of a message (AMQP sends them concatenated)."""
    return encodeBinary(header), encodeBinary(body)


def decodeMessage(header, body=None) -> tuple[Hash, Hash]:
    """``(header, body)`` Hashes from separate buffers, or from one concatenated buffer if ``body`` is None."""
    if body is None:
        headerHash, end = decodeBinaryPos(header, 0)
        view = memoryview(header)
        if end >= len(view):
            raise DeserializationError(f"message ends after its header at offset {end}: no body Hash")
        return headerHash, decodeBinary(view[end:])
    return decodeBinary(header), decodeBinary(body)
