"""PublishFrames writes the bytes aiormq's basic_publish would (less its random message id); DeliveryParser
takes exactly the deliveries of its channel out of a received stream, however it is split."""

import asyncio

import pytest
from aiormq.abc import ChannelFrame
from hypothesis import given
from hypothesis import strategies as st
from pamqp import body, commands, frame, header, heartbeat

from pykarabo.net.broker.amqp_frames import DeliveryParser, PublishFrames


def aiormqBytes(channel: int, maxBody: int, exchange: str, key: str, data: bytes) -> bytes:
    """What aiormq marshals for one publish (delivery mode 1, no message id), split like aiormq splits."""
    chunks = [body.ContentBody(data[i:i + maxBody]) for i in range(0, len(data), maxBody)]
    frames = [commands.Basic.Publish(exchange=exchange, routing_key=key),
              header.ContentHeader(0, len(data), commands.Basic.Properties(delivery_mode=1)), *chunks]
    return ChannelFrame.marshall(channel, frames).payload


@given(channel=st.integers(1, 65535), maxBody=st.integers(1, 64), head=st.binary(max_size=100),
       tail=st.binary(max_size=100), key=st.text("abc.#*", max_size=40))
def test_same_bytes_as_aiormq(channel, maxBody, head, tail, key):
    frames = PublishFrames(channel, maxBody)
    for _ in range(2):   # the second time from the cached method frame
        out = []
        frames.encode("topic.Slots", key, head, tail, out)
        assert b"".join(out) == aiormqBytes(channel, maxBody, "topic.Slots", key, head + tail)


def test_several_messages_in_one_write():
    frames = PublishFrames(3, 1000)
    out = []
    frames.encode("t.Signals", "a.signalChanged", b"h1", b"b1", out)
    frames.encode("t.Slots", "b.slotPing", b"h2", b"b2", out)
    assert b"".join(out) == (aiormqBytes(3, 1000, "t.Signals", "a.signalChanged", b"h1b1")
                             + aiormqBytes(3, 1000, "t.Slots", "b.slotPing", b"h2b2"))


def test_routing_key_too_long_is_refused():
    with pytest.raises(ValueError):
        PublishFrames(1, 1000).encode("t.Slots", "k" * 256, b"", b"", [])


def deliveryBytes(channel: int, maxBody: int, exchange: str, key: str, data: bytes) -> bytes:
    """What RabbitMQ sends for one message to a consumer (properties as Karabo's C++ sets some)."""
    chunks = [body.ContentBody(data[i:i + maxBody]) for i in range(0, len(data), maxBody)]
    frames = [commands.Basic.Deliver(consumer_tag="ctag1.x", delivery_tag=7, redelivered=True, exchange=exchange,
                                     routing_key=key),
              header.ContentHeader(0, len(data), commands.Basic.Properties(delivery_mode=1, app_id="cpp")),
              *chunks]
    return ChannelFrame.marshall(channel, frames).payload


@given(bodies=st.lists(st.binary(max_size=50), max_size=4), maxBody=st.integers(1, 20),
       cuts=st.lists(st.integers(0, 400), max_size=10))
def test_parser_takes_deliveries_of_its_channel_only(bodies, maxBody, cuts):
    others = [frame.marshal(heartbeat.Heartbeat(), 0), frame.marshal(commands.Basic.ConsumeOk("ctag1.x"), 2),
              deliveryBytes(3, maxBody, "t.Slots", "other.slot", b"not ours")]
    stream = b""
    for i, data in enumerate(bodies):
        stream += others[i % len(others)] + deliveryBytes(2, maxBody, "t.Signals", f"dev/{i}.signalChanged", data)
    stream += b"".join(others)
    received = []
    parser = DeliveryParser(lambda *message: received.append(message))
    parser.channel = 2
    bounds = [0, *sorted(min(cut, len(stream)) for cut in cuts), len(stream)]
    passed = b"".join(parser.feed(stream[start:stop]) for start, stop in zip(bounds, bounds[1:]))
    assert received == [("t.Signals", f"dev/{i}.signalChanged", data) for i, data in enumerate(bodies)]
    assert passed == b"".join(others[i % len(others)] for i in range(len(bodies))) + b"".join(others)


def test_parser_survives_names_that_are_not_utf8():
    received = []
    parser = DeliveryParser(lambda *message: received.append(message))
    parser.channel = 1
    bad = deliveryBytes(1, 100, "t.Slots", "dev/X", b"1").replace(b"dev/X", b"dev/\xff")
    assert parser.feed(bad + deliveryBytes(1, 100, "t.Slots", "dev/Y", b"2")) == b""
    assert received == [("t.Slots", "dev/\ufffd", b"1"), ("t.Slots", "dev/Y", b"2")]


def test_parser_without_a_channel_passes_everything_on():
    parser = DeliveryParser(lambda *message: pytest.fail("nothing is ours yet"))
    stream = deliveryBytes(1, 100, "t.Slots", "a.b", b"x" * 150)
    assert parser.feed(stream[:10]) + parser.feed(stream[10:]) == stream


def test_aiormq_is_shown_a_heartbeat_while_only_deliveries_arrive():
    """aiormq would declare the connection dead if it saw no frame for long: it gets a heartbeat now and then."""
    from pykarabo.net.broker.amqp import _HEARTBEAT_FRAME, _LIVENESS_INTERVAL, _ParsingProtocol

    async def run():
        received = []
        parser = DeliveryParser(lambda *message: received.append(message))
        parser.channel = 1
        reader = asyncio.StreamReader()
        protocol = _ParsingProtocol(reader, parser)
        delivery = deliveryBytes(1, 100, "t.Slots", "a.b", b"x")
        protocol.data_received(delivery)   # a frame was passed on lately (at start): nothing for aiormq
        protocol._lastPassed -= _LIVENESS_INTERVAL + 1
        protocol.data_received(delivery)   # none for too long: a heartbeat
        protocol.data_received(frame.marshal(heartbeat.Heartbeat(), 0))   # the server's own
        reader.feed_eof()
        assert await reader.read() == _HEARTBEAT_FRAME * 2 and len(received) == 2
    asyncio.run(run())
