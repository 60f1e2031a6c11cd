"""The RabbitMQ backend with both transports, on a private RabbitMQ started for the session (conftest.py)."""

import asyncio
import logging
import threading
import time

import pytest

from pykarabo import Hash
from pykarabo.errors import KaraboError, KaraboTimeoutError
from pykarabo.net.broker import createBackend, redactUrl
from pykarabo.net.broker.aio import AsyncSignalSlotable
from pykarabo.net.broker.amqp import QUEUE_ARGUMENTS, AmqpBackend
from pykarabo.net.broker.threads import ThreadedSignalSlotable
from pykarabo.signalslot import (GLOBAL_SLOTS, SIGNALS, SLOTS, InstanceNew, InstanceUpdated, RemoteError,
                                 decodeMessage)
from tests.messaging.test_embedded import Peer, until

T = 10.0


def started(instanceId: str, url: str, topic: str = "t", **kwargs) -> ThreadedSignalSlotable:
    me = ThreadedSignalSlotable(instanceId, broker=url, topic=topic, **kwargs)
    me.start(timeout=T, pingTimeout=0.3)
    return me


class Sniffer:
    """A bare backend bound with '#' to the three exchanges of a topic: records (exchange, key, header, body)."""

    def __init__(self, url: str, topic: str):
        self.messages = []
        self.backend = AmqpBackend(url, topic)
        self.backend.start(lambda ex, key, data, _: self.messages.append((ex, key, *decodeMessage(data))),
                           lambda up: None)
        for exchange in (SLOTS, GLOBAL_SLOTS, SIGNALS):
            self.backend.subscribe(exchange, "#")
        assert self.backend.sync(T)

    def find(self, exchange: str, key: str) -> list:
        return [m for m in list(self.messages) if m[0] == exchange and m[1] == key]


def test_url_selection_and_redaction():
    backend = createBackend("amqp://karabo:s3cret@broker.example:5672,amqps://k:s3cret@other:5671", "topicA",
                            instanceId="dev/1")
    assert isinstance(backend, AmqpBackend)
    assert backend.queueName == "topicA.dev/1"
    assert "s3cret" not in backend.url and backend.url.startswith("amqp://karabo:***@broker.example:5672")
    assert redactUrl("amqp://host:1") == "amqp://host:1"
    with pytest.raises(KaraboError, match="unsupported") as info:
        createBackend("tcp://user:s3cret@h:1", "t")
    assert "s3cret" not in str(info.value)
    with pytest.raises(KaraboError, match="all broker URLs"):
        createBackend("amqp://a:b@h:1,embedded://127.0.0.1:4000", "t")
    with pytest.raises(KaraboError, match="expected amqp") as info:
        AmqpBackend("amqp://user:s3cret@", "t")
    assert "s3cret" not in str(info.value)


def test_request_reply_across_processes(rabbitmq):
    p1 = Peer(rabbitmq.url, "P1")
    p2 = Peer(rabbitmq.url, "P2")
    me = started("tester", rabbitmq.url, topic="test")
    try:
        assert me.request("P1", "slotPid").waitForReply(int(T * 1000)) == (p1.proc.pid,)
        assert me.request("P1", "slotRelay", "P2", 20, 22).waitForReply(int(T * 1000)) == (42,)
        with pytest.raises(RemoteError, match="has no slot"):
            me.request("P2", "slotMissing").waitForReply(int(T * 1000))
        with pytest.raises(RemoteError, match="TypeError"):
            me.request("P2", "slotAdd", 1, "x").waitForReply(int(T * 1000))
        with pytest.raises(KaraboTimeoutError):
            me.request("nobody", "slotAdd", 1, 2).waitForReply(300)
        with pytest.raises(KaraboError, match="already in use"):
            started("P2", rabbitmq.url, topic="test")
        # Another topic is another installation.
        other = started("P1", rabbitmq.url, topic="elsewhere")
        with pytest.raises(KaraboTimeoutError):
            other.request("P2", "slotAdd", 1, 1).waitForReply(300)
        other.stop()
    finally:
        me.stop()
        p1.stop()
        p2.stop()


def test_karabo_layout_on_the_wire(rabbitmq):
    sniffer = Sniffer(rabbitmq.url, "wire")
    a = started("A", rabbitmq.url, topic="wire", trackTopology=True)
    b = started("B", rabbitmq.url, topic="wire", heartbeatInterval=1)
    try:
        b.registerSlot(lambda x: x * 2, "slotDouble")
        b.registerSignal("signalChanged", Hash, str)
        got = []
        a.registerSlot(lambda *args: got.append(args), "onChanged")
        a.connect("B", "signalChanged", "onChanged")
        assert a.syncBroker(T)
        assert a.request("B", "slotDouble", 21).waitForReply(int(T * 1000)) == (42,)
        b.emit("signalChanged", Hash("value", 1), "B")
        assert until(lambda: got)
        assert until(lambda: sniffer.find(GLOBAL_SLOTS, "B.slotHeartbeat"), 3)

        (_, _, header, body), = sniffer.find(SLOTS, "B.slotDouble")
        assert header["signalInstanceId"] == "A" and header["replyTo"].startswith("A-") and body["a1"] == 21
        replyKey = f"A.{header['replyTo']}"
        (_, _, header, body), = sniffer.find(SLOTS, replyKey)
        assert header["replyFrom"] == replyKey[2:] and header["error"] is False and body["a1"] == 42
        (_, _, header, body), = sniffer.find(SIGNALS, "B.signalChanged")
        assert body["a1"]["value"] == 1 and body["a2"] == "B"
        (_, _, header, body), *_ = sniffer.find(GLOBAL_SLOTS, "B.slotInstanceNew")
        assert body["a1"] == "B" and body["a2"]["heartbeatInterval"] == 1
        (_, _, _, body), *_ = sniffer.find(GLOBAL_SLOTS, "B.slotHeartbeat")
        assert body["a1"] == "B" and body["a2"]["heartbeatInterval"] == 1
        assert sniffer.find(GLOBAL_SLOTS, "A.slotDiscover")
        assert "B" in a.systemTopology()["unknown"]

        queues = rabbitmq.ctl("list_queues", "name", "arguments", "exclusive", "auto_delete")
        line = next(row for row in queues.splitlines() if row.startswith("wire.B\t"))
        for key, value in QUEUE_ARGUMENTS.items():
            assert f'{{"{key}",{value}}}' in line or f'{{"{key}","{value}"}}' in line, line
        assert line.endswith("true\ttrue")
        exchanges = rabbitmq.ctl("list_exchanges", "name", "type", "auto_delete", "durable").splitlines()
        for suffix in ("Slots", "Global_Slots", "Signals"):
            assert f"wire.{suffix}\ttopic\ttrue\tfalse" in exchanges
        bindings = rabbitmq.ctl("list_bindings", "source_name", "destination_name", "routing_key").splitlines()
        assert "wire.Slots\twire.B\tB.#" in bindings
        assert "wire.Signals\twire.A\tB.signalChanged" in bindings
        assert "wire.Global_Slots\twire.A\t*.slotHeartbeat" in bindings
        a.disconnect("B", "signalChanged", "onChanged")
        assert a.syncBroker(T)
        bindings = rabbitmq.ctl("list_bindings", "source_name", "destination_name", "routing_key").splitlines()
        assert "wire.Signals\twire.A\tB.signalChanged" not in bindings
    finally:
        b.stop()
        a.stop()
        sniffer.backend.close()


def test_asyncio_transport_signals_broadcasts_and_requests(rabbitmq):
    async def main():
        a = AsyncSignalSlotable("A", broker=rabbitmq.url, topic="aio", trackTopology=True)
        b = AsyncSignalSlotable("B", Hash("type", "device"), broker=rabbitmq.url, topic="aio")
        seen = []
        a.addTopologyListener(seen.append)
        await a.start(timeout=T, pingTimeout=0.2)
        await b.start(timeout=T, pingTimeout=0.2)
        try:
            async def slotMul(x, y):
                await asyncio.sleep(0.01)
                return x * y, "done"
            b.registerSlot(slotMul)
            assert await a.request("B", "slotMul", 6, 7, timeout=T) == (42, "done")
            got = []
            a.registerSlot(lambda *args: got.append(args), "onX")
            b.registerSignal("signalX", int)
            a.connect("B", "signalX", "onX")
            assert await a.syncBroker(T)
            for i in range(100):
                b.emit("signalX", i)
            answers = []
            a.registerSlot(lambda *values: answers.append(values), "onAnswer")
            a.requestNoWait("B", "slotMul", "onAnswer", 2, 2)
            for _ in range(200):
                if len(got) == 100 and answers:
                    break
                await asyncio.sleep(0.02)
            assert [args[0] for args in got] == list(range(100))   # in order
            assert answers == [(4, "done")]
            assert any(isinstance(e, InstanceNew) and e.instanceId == "B" for e in seen)
            assert "B" in a.systemTopology()["device"]
        finally:
            await b.stop()
            await a.stop()
    asyncio.run(asyncio.wait_for(main(), 3 * T))


def test_broker_restart_during_calls(rabbitmq):
    """Calls fail with a clear timeout while RabbitMQ is down; afterwards all reconnect and re-announce."""
    a = started("A", rabbitmq.url, topic="restart")
    b = started("B", rabbitmq.url, topic="restart", heartbeatInterval=1)
    tracker = started("tracker", rabbitmq.url, topic="restart", trackTopology=True)
    seen = []
    tracker.addTopologyListener(seen.append)
    loop = asyncio.new_event_loop()
    loopThread = threading.Thread(target=loop.run_forever, daemon=True)
    loopThread.start()
    c = AsyncSignalSlotable("C", broker=rabbitmq.url, topic="restart")

    def inLoop(coro, timeout=2 * T):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)
    try:
        inLoop(c.start(timeout=T, pingTimeout=0.2))
        b.registerSlot(lambda: time.sleep(1) or "slow", "slotSlow")
        b.registerSlot(lambda: "fast", "slotFast")
        assert a.request("B", "slotFast").waitForReply(int(T * 1000)) == ("fast",)
        pending = a.request("B", "slotSlow")                          # no timeout given: must still end
        pendingAsync = asyncio.run_coroutine_threadsafe(c.request("B", "slotSlow"), loop)
        time.sleep(0.2)
        seen.clear()
        stopper = threading.Thread(target=rabbitmq.stop)
        stopper.start()
        start = time.monotonic()
        with pytest.raises(KaraboTimeoutError, match="broker"):
            pending.waitForReply(int(3 * T * 1000))
        with pytest.raises(KaraboTimeoutError, match="broker"):
            pendingAsync.result(3 * T)
        assert time.monotonic() - start < T
        stopper.join()
        with pytest.raises(KaraboTimeoutError, match="not reachable"):
            a.request("B", "slotFast").waitForReply(1000)
        with pytest.raises(KaraboTimeoutError, match="not reachable"):
            inLoop(c.request("B", "slotFast", timeout=1))
        rabbitmq.start()
        assert until(lambda: all(x.backend.connected for x in (a, b, c, tracker)), 3 * T)

        def recovered():
            try:
                return (a.request("B", "slotFast").waitForReply(500) == ("fast",)
                        and inLoop(c.request("B", "slotFast", timeout=0.5)) == ("fast",))
            except KaraboTimeoutError:
                return False
        assert until(recovered)
        # The broker forgot everybody: each instance announced itself again, and the tracker rediscovered
        # them (whichever of the two reached it first, depending on who reconnected first).
        assert until(lambda: {e.instanceId for e in seen if isinstance(e, (InstanceNew, InstanceUpdated))}
                     >= {"A", "B", "C"})
    finally:
        for x in (a, b, tracker):
            x.stop()
        inLoop(c.stop())
        loop.call_soon_threadsafe(loop.stop)
        loopThread.join(2)
        if rabbitmq.proc is None:
            rabbitmq.start()


def test_credentials_never_logged(rabbitmq, caplog):
    secret = "pw-never-shown-7f3a"
    caplog.set_level(logging.DEBUG)
    wrongPassword = f"amqp://guest:{secret}@127.0.0.1:{rabbitmq.port}"
    noBroker = f"amqp://guest:{secret}@127.0.0.1:1"
    messages = []
    for url in (wrongPassword, f"{noBroker},{wrongPassword}"):
        me = ThreadedSignalSlotable("lonely", broker=url, topic="creds")
        with pytest.raises(KaraboTimeoutError) as info:
            me.start(timeout=1.5)
        messages.append(str(info.value))
        assert "***" in messages[-1]
    assert caplog.records, "the failed connections were expected to be logged"
    assert "cannot connect to RabbitMQ" in caplog.text
    for text in [caplog.text, *messages, *(str(r.args) for r in caplog.records)]:
        assert secret not in text
