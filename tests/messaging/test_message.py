"""The Karabo 3 message model: header keys, types and order (spec §5.3), body a1..a4, framing."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pykarabo import Hash, Types, decodeBinary, encodeBinary
from pykarabo.errors import DeserializationError
from pykarabo.signalslot import SignalSlotable, SlotCall, bodyArgs, decodeMessage, encodeMessage, makeBody, makeHeader
from tests.strategies import hashes

KARABO2_KEYS = {"signalFunction", "slotInstanceIds", "slotFunctions", "hostName", "userName",
                "replyInstanceIds", "replyFunctions"}


def layout(h: Hash) -> list:
    return [(k, h.getType(k)) for k in h.getKeys()]


def test_call_header_has_sender_and_ms_timestamp_only():
    h = makeHeader("dev/A", timestampMs=1_700_000_000_123)
    assert layout(h) == [("signalInstanceId", Types.STRING), ("MQTimestamp", Types.INT64)]
    assert h["MQTimestamp"] == 1_700_000_000_123


def test_default_timestamp_is_epoch_milliseconds():
    import time
    ms = makeHeader("A")["MQTimestamp"]
    assert abs(ms - time.time() * 1000) < 5_000


@pytest.mark.parametrize("kwargs, expected", [
    ({"replyTo": "A-1f"}, [("signalInstanceId", Types.STRING), ("replyTo", Types.STRING),
                           ("MQTimestamp", Types.INT64)]),
    ({"replyFunction": "slotGot"}, [("signalInstanceId", Types.STRING), ("replyFunction", Types.STRING),
                                    ("MQTimestamp", Types.INT64)]),
    ({"replyFrom": "A-1f", "error": False}, [("signalInstanceId", Types.STRING), ("replyFrom", Types.STRING),
                                             ("error", Types.BOOL), ("MQTimestamp", Types.INT64)]),
])
def test_header_layouts(kwargs, expected):
    assert layout(makeHeader("B", timestampMs=1, **kwargs)) == expected


def test_messages_of_the_core_carry_only_karabo3_header_keys():
    a = SignalSlotable("A")
    a.registerSignal("signalX")
    a.call("B", "slot", 1)
    a.request("B", "slot", now=0.0)
    a.requestNoWait("B", "slot", "slotBack")
    a.emit("signalX", 2)
    a.reply(SlotCall("s", (), "B", Hash(), replyId="B-9"), 3)
    a.replyError(SlotCall("s", (), "B", Hash(), replyId="B-8"), "bad", "trace")
    a.goOnline(0.0)
    for action in a.takeActions():
        keys = set(action.header.getKeys())
        assert not keys & KARABO2_KEYS
        assert {"signalInstanceId", "MQTimestamp"} <= keys
        assert action.header.getType("MQTimestamp") == Types.INT64


def test_error_reply_body_is_message_and_details():
    a = SignalSlotable("A")
    a.replyError(SlotCall("s", (), "B", Hash(), replyId="B-8"), "bad", "trace")
    (pub,) = a.takeActions()
    assert (pub.exchange, pub.routingKey) == ("Slots", "B.B-8")
    assert pub.header["error"] is True and pub.header["replyFrom"] == "B-8"
    assert bodyArgs(pub.body) == ("bad", "trace")


def test_body_keys_and_limit():
    body = makeBody([1, "two", Hash("x", 3)])
    assert body.getKeys() == ["a1", "a2", "a3"]
    assert bodyArgs(body)[:2] == (1, "two")
    assert bodyArgs(Hash()) == ()
    with pytest.raises(ValueError):
        makeBody(range(5))


def test_concatenated_framing_roundtrip_and_truncation():
    header, body = encodeMessage(makeHeader("A", replyTo="A-1"), makeBody([1.5, [1, 2]]))
    h, b = decodeMessage(header + body)
    assert h["replyTo"] == "A-1" and bodyArgs(b)[0] == 1.5
    h2, b2 = decodeMessage(header, body)
    assert h2.fullyEqual(h) and b2.fullyEqual(b)
    with pytest.raises(DeserializationError):
        decodeMessage(header)
    with pytest.raises(DeserializationError):
        decodeMessage(header + body[:-1])


@settings(max_examples=60, deadline=None)
@given(args=st.lists(hashes(max_depth=2, max_leaves=8), max_size=4), sender=st.from_regex(r"[A-Za-z0-9_/-]{1,20}", fullmatch=True))
def test_any_arguments_survive_the_wire(args, sender):
    header, body = encodeMessage(makeHeader(sender), makeBody(args))
    h, b = decodeMessage(header + body)
    assert h["signalInstanceId"] == sender
    assert len(bodyArgs(b)) == len(args)
    for got, sent in zip(bodyArgs(b), args):
        assert got.fullyEqual(sent)
    assert decodeBinary(encodeBinary(b)).fullyEqual(b)
