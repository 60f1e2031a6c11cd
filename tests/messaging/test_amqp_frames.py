"""PublishFrames writes the bytes aiormq's basic_publish would (less its random message id)."""

import pytest
from aiormq.abc import ChannelFrame
from hypothesis import given
from hypothesis import strategies as st
from pamqp import body, commands, header

from pykarabo.net.broker.amqp_frames import PublishFrames


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
    with pytest.raises((TypeError, ValueError)):
        PublishFrames(1, 1000).encode("t.Slots", "k" * 256, b"", b"", [])
