"""RabbitMQ over TLS (``amqps://``): the CA is given in the URL's ``cafile`` query parameter."""

import asyncio
import logging

import pytest

from pykarabo.errors import KaraboTimeoutError
from pykarabo.net.broker.aio import AsyncSignalSlotable
from pykarabo.net.broker.threads import ThreadedSignalSlotable

T = 10.0


@pytest.fixture
def tls(rabbitmq):
    """The session's RabbitMQ, if it has a TLS listener."""
    if rabbitmq.tlsPort is None:
        pytest.skip("no TLS listener: the openssl command is needed to make its certificates")
    return rabbitmq


def test_request_reply_over_tls(tls):
    url = f"{tls.tlsUrl()}?cafile={tls.caFile}"
    server = ThreadedSignalSlotable("tls/server", broker=url, topic="tls")
    server.registerSlot(lambda a, b: a * b, "slotMultiply")
    server.start(timeout=T, pingTimeout=0.3)

    async def client():
        me = AsyncSignalSlotable("tls/client", broker=url, topic="tls")
        await me.start(timeout=T, pingTimeout=0.3)
        try:
            return await me.request("tls/server", "slotMultiply", 6, 7, timeout=T)
        finally:
            await me.stop()
    try:
        assert asyncio.run(client()) == (42,)
        assert server.backend.url.startswith("amqps://guest:***@localhost:")   # the query stays, the password not
    finally:
        server.stop()


def test_unknown_ca_is_refused(tls, caplog):
    # Without cafile the system's CAs must verify the server: our throw-away CA is not among them.
    me = ThreadedSignalSlotable("tls/untrusted", broker=tls.tlsUrl(), topic="tls")
    # DEBUG: only the first failure is a warning, and on a busy machine the first attempt may fail otherwise
    # (e.g. the handshake timing out) before the certificate is checked.
    with caplog.at_level(logging.DEBUG, logger="pykarabo.net.broker.amqp"):
        with pytest.raises(KaraboTimeoutError):
            me.start(timeout=3, pingTimeout=0.3)
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text, caplog.text[-2000:]
    assert "guest:guest" not in caplog.text
