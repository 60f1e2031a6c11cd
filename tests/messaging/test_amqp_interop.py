"""Our instances and a real Karabo 3 middlelayer instance on the same RabbitMQ and topic (mdl_peer.py)."""

import os
from pathlib import Path

import pytest

from pykarabo import Hash
from pykarabo.net.broker.aio import AsyncSignalSlotable
from pykarabo.net.broker.threads import ThreadedSignalSlotable
from pykarabo.signalslot import InstanceNew, RemoteError
from tests.karabo_env import PeerProcess, require_karabo_python
from tests.messaging.test_embedded import until

pytestmark = pytest.mark.karabo

MDL_PEER = Path(__file__).with_name("mdl_peer.py")
T = 10.0


def startMdl(python: str, url: str, topic: str, deviceId: str) -> PeerProcess:
    """The middlelayer peer, or a skip when this Karabo installation has no middlelayer."""
    probe = os.popen(f"{python} -c 'import karabo.middlelayer' 2>&1").read()
    if probe.strip():
        pytest.skip(f"karabo.middlelayer not importable by {python} (pip install karabo): {probe.splitlines()[-1]}")
    return PeerProcess(python, MDL_PEER, deviceId, env=dict(os.environ, KARABO_BROKER=url, KARABO_BROKER_TOPIC=topic))


def test_middlelayer_and_our_threaded_instance(rabbitmq):
    python = require_karabo_python()
    me = ThreadedSignalSlotable("pykarabo/threads", Hash("type", "device", "classId", "Ours"), broker=rabbitmq.url,
                                topic="interop", trackTopology=True)
    me.registerSlot(lambda a, b: a * b, "slotMul")
    me.registerSlot(lambda: 1 / 0, "slotFail")
    seen = []
    me.addTopologyListener(seen.append)
    me.start(timeout=T, pingTimeout=0.5)
    mdl = startMdl(python, rabbitmq.url, "interop", "mdl/peer")
    try:
        # It sees us in its topology (our slotDiscover answer or instanceNew) and calls our slots.
        assert until(lambda: "pykarabo/threads" in mdl.ask(op="topology")["topology"]["device"])
        assert mdl.ask(op="call", target="pykarabo/threads", slot="slotMul", args=[6, 7]) == {"reply": 42}
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            mdl.ask(op="call", target="pykarabo/threads", slot="slotFail", args=[])
        info = mdl.ask(op="call", target="pykarabo/threads", slot="slotPing", args=[7])["reply"]
        assert info["classId"] == "Ours" and info["type"] == "device"
        # We see it and call its slots.
        assert until(lambda: any(isinstance(e, InstanceNew) and e.instanceId == "mdl/peer" for e in seen))
        assert "mdl/peer" in me.systemTopology()["device"]
        assert me.request("mdl/peer", "slotAdd", 20, 22).waitForReply(int(T * 1000)) == (42,)
        with pytest.raises(RemoteError):
            me.request("mdl/peer", "slotAdd", 1, "x").waitForReply(int(T * 1000))
        # Its signals reach our slots, ours reach its slots.
        got = []
        me.registerSlot(lambda *args: got.append(args), "onChanged")
        me.connect("mdl/peer", "signalChanged", "onChanged")
        assert me.syncBroker(T)
        mdl.ask(op="burst", n=3)
        assert until(lambda: len(got) == 3)
        assert got[0][0]["value"] == 0 and got[0][1] == "mdl/peer"
        me.registerSignal("signalChanged", Hash, str)
        mdl.ask(op="watch", emitter="pykarabo/threads", signal="signalChanged")
        for i in range(5):
            me.emit("signalChanged", Hash("value", i), "pykarabo/threads")
        assert mdl.ask(op="counted", n=5, timeout=T)["counted"] == 5
    finally:
        mdl.close()
        me.stop()


def test_middlelayer_and_our_asyncio_instance(rabbitmq):
    import asyncio
    python = require_karabo_python()
    mdl = startMdl(python, rabbitmq.url, "interop2", "mdl/peer2")

    async def main():
        me = AsyncSignalSlotable("pykarabo/aio", broker=rabbitmq.url, topic="interop2")

        async def slotConcat(a, b):
            await asyncio.sleep(0)
            return f"{a}{b}"
        me.registerSlot(slotConcat)
        await me.start(timeout=T, pingTimeout=0.5)
        try:
            assert await me.request("mdl/peer2", "slotAdd", 1.5, 2, timeout=T) == (3.5,)
            reply = await asyncio.to_thread(mdl.ask, op="call", target="pykarabo/aio", slot="slotConcat",
                                            args=["a", "b"])
            assert reply == {"reply": "ab"}
            for _ in range(int(T / 0.1)):
                topology = (await asyncio.to_thread(mdl.ask, op="topology"))["topology"]
                if "pykarabo/aio" in topology["unknown"]:
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail(f"the middlelayer does not see us: {topology}")
        finally:
            await me.stop()
    try:
        asyncio.run(asyncio.wait_for(main(), 3 * T))
    finally:
        mdl.close()
