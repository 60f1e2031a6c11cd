"""AMQP topic matching (what RabbitMQ does for bindings) and the embedded broker's subscription prefixes."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykarabo.net.broker import matchBindingKey
from pykarabo.net.broker.embedded import parseEmbeddedUrl, subscriptionPrefix
from pykarabo.errors import KaraboError


@pytest.mark.parametrize("binding, key, expected", [
    ("dev/A.#", "dev/A.slotReconfigure", True),
    ("dev/A.#", "dev/A.node.slot", True),      # slot names may contain dots
    ("dev/A.#", "dev/AB.slot", False),
    ("*.slotInstanceNew", "srv.slotInstanceNew", True),
    ("*.slotInstanceNew", "srv.slotInstanceGone", False),
    ("*.slotInstanceNew", "a.b.slotInstanceNew", False),
    ("B.signalX", "B.signalX", True),
    ("B.signalX", "B.signalXY", False),
    ("#", "anything.at.all", True),
])
def test_amqp_patterns(binding, key, expected):
    assert matchBindingKey(binding, key) is expected


words = st.lists(st.from_regex(r"[A-Za-z0-9_/-]{1,6}", fullmatch=True), min_size=1, max_size=4)


@given(words, words)
def test_subscription_prefix_never_filters_out_a_match(bindingWords, keyWords):
    """The ZeroMQ prefix must let through everything the full pattern matches (the rest is checked locally)."""
    for binding in (".".join(bindingWords), ".".join(bindingWords[:1] + ["#"]), "*." + ".".join(bindingWords)):
        key = ".".join(keyWords)
        if matchBindingKey(binding, key):
            frame = b"t\0Slots\0" + key.encode()
            assert frame.startswith(subscriptionPrefix(b"t\0", "Slots", binding))


def test_urls():
    assert parseEmbeddedUrl("embedded://127.0.0.1:47770") == ("127.0.0.1", 47770)
    for bad in ("embedded://127.0.0.1", "amqp://h:1", "embedded://:5"):
        with pytest.raises(KaraboError):
            parseEmbeddedUrl(bad)
