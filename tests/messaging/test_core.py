"""The sans-I/O SignalSlotable core on an in-memory bus: patterns, intrinsic slots, topology, faults."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pykarabo import Hash
from pykarabo.errors import DeserializationError, KaraboError, KaraboTimeoutError
from pykarabo.signalslot import (InstanceGone, InstanceNew, InstanceUpdated, Reply, ReplyError, ReplyTimeout,
                                 SignalSlotable, SlotCall, isValidInstanceId)

from .bus import Bus


def online(bus: Bus, core: SignalSlotable) -> SignalSlotable:
    bus.add(core)
    core.bind()
    bus.run()
    core.goOnline(bus.now)
    bus.run()
    return core


@pytest.fixture
def bus():
    return Bus()


def test_request_reply_with_correlation(bus):
    a, b = online(bus, SignalSlotable("A")), online(bus, SignalSlotable("B"))
    bus.slot(b, "slotAdd", lambda x, y: x + y, numArgs=2)
    r1 = a.request("B", "slotAdd", 1, 2, now=0.0)
    r2 = a.request("B", "slotAdd", 10, 20, now=0.0)
    bus.run()
    replies = {e.replyId: e.values for e in bus.of("A", Reply)}
    assert replies == {r1: (3,), r2: (30,)}
    exchange, key, header = next(w for w in bus.wire if w[1] == f"A.{r1}")
    assert exchange == "Slots" and header["replyFrom"] == r1 and header["error"] is False


def test_remote_exception_carries_message_and_details(bus):
    a, b = online(bus, SignalSlotable("A")), online(bus, SignalSlotable("B"))
    bus.slot(b, "slotBad", lambda: 1 / 0)
    rid = a.request("B", "slotBad", now=0.0)
    bus.run()
    (err,) = bus.of("A", ReplyError)
    assert err.replyId == rid and "division" in err.message and err.details == "details"
    exc = err.exception()
    assert isinstance(exc, KaraboError) and exc.details == "details"


def test_missing_slot_and_wrong_arity_answer_requests_with_errors(bus):
    a, b = online(bus, SignalSlotable("A")), online(bus, SignalSlotable("B"))
    bus.slot(b, "slotOne", lambda x: x, numArgs=1)
    a.request("B", "nope", now=0.0)
    a.request("B", "slotOne", 1, 2, now=0.0)
    a.call("B", "nope")   # a plain call to a missing slot is only logged
    bus.run()
    messages = sorted(e.message for e in bus.of("A", ReplyError))
    assert "has no slot 'nope'" in messages[0]
    assert "takes 1 argument(s), 2 given" in messages[1]


def test_request_no_wait_delivers_the_reply_as_a_call(bus):
    a, b = online(bus, SignalSlotable("A")), online(bus, SignalSlotable("B"))
    got = []
    bus.slot(b, "slotAdd", lambda x, y: x + y)
    bus.slot(a, "slotGot", lambda v: got.append(v))
    a.requestNoWait("B", "slotAdd", "slotGot", 2, 3)
    bus.run()
    assert got == [5]


def test_timeout_and_late_reply_is_ignored(bus):
    a, b = online(bus, SignalSlotable("A")), online(bus, SignalSlotable("B"))
    bus.slot(b, "slotSlow", lambda: 1)
    bus.drop = lambda pub: pub.routingKey.startswith("A.A-")   # lose the reply
    rid = a.request("B", "slotSlow", now=bus.now, timeout=0.5)
    bus.run()
    bus.advance(0.4)
    assert not bus.of("A", ReplyTimeout)
    bus.advance(0.2)
    (t,) = bus.of("A", ReplyTimeout)
    assert t.replyId == rid and isinstance(t.exception(), KaraboTimeoutError)
    bus.drop = lambda pub: False
    b.reply(SlotCall("slotSlow", (), "A", Hash(), replyId=rid), 1)
    bus.run()
    assert not bus.of("A", Reply)


def test_broker_loss_fails_pending_requests_and_refuses_new_ones(bus):
    a = online(bus, SignalSlotable("A"))
    rid = a.request("B", "slot", now=0.0)   # no timeout: would wait forever
    (t,) = a.setBrokerConnected(False)
    assert t.replyId == rid and "broker" in t.reason
    with pytest.raises(KaraboTimeoutError, match="not reachable"):
        a.request("B", "slot", now=0.0)
    a.setBrokerConnected(True)
    a.request("B", "slot", now=0.0)


def test_signals_reach_connected_slots_only(bus):
    a, b = online(bus, SignalSlotable("A")), online(bus, SignalSlotable("B"))
    b.registerSignal("signalX", int)
    got = []
    bus.slot(a, "onX", lambda v: got.append(("x", v)))
    bus.slot(a, "onX2", lambda v: got.append(("x2", v)))
    a.connect("B", "signalX", "onX")
    a.connect("B", "signalX", "onX2")
    bus.run()
    b.emit("signalX", 1)
    bus.run()
    assert sorted(got) == [("x", 1), ("x2", 1)]
    assert a.disconnect("B", "signalX", "onX") and not a.disconnect("B", "signalX", "onX")
    a.disconnect("B", "signalX", "onX2")
    bus.run()
    b.emit("signalX", 2)
    bus.run()
    assert len(got) == 2
    assert [w[:2] for w in bus.wire if w[0] == "Signals"] == [("Signals", "B.signalX")] * 2
    with pytest.raises(KaraboError):
        b.emit("signalUndeclared")


def test_uniqueness_ping(bus):
    first = online(bus, SignalSlotable("X"))
    second = bus.add(SignalSlotable("X"))
    rid = second.startUp(bus.now, pingTimeout=1.0)
    bus.run()
    assert [e.replyId for e in bus.of("X", Reply)] == [rid]   # the first X answered: id taken
    lone = Bus()
    alone = lone.add(SignalSlotable("Y"))
    rid = alone.startUp(0.0, pingTimeout=1.0)
    lone.run()
    lone.advance(1.1)
    assert [e.replyId for e in lone.of("Y", ReplyTimeout)] == [rid]   # own ping ignored: id free
    assert first.online


def test_heartbeats_every_interval_after_instance_new(bus):
    a = online(bus, SignalSlotable("A", Hash("type", "device"), heartbeatInterval=10))
    bus.advance(9.9)
    assert not [w for w in bus.wire if w[1] == "A.slotHeartbeat"]
    bus.advance(25)
    beats = [w for w in bus.wire if w[1] == "A.slotHeartbeat"]
    assert len(beats) == 3 and all(w[0] == "Global_Slots" for w in beats)
    assert a.nextDeadline() == pytest.approx(40.0)


def test_topology_tracking(bus):
    tracker = online(bus, SignalSlotable("gui", Hash("type", "client"), trackTopology=True))
    server = online(bus, SignalSlotable("srv", Hash("type", "server", "serverId", "srv"), heartbeatInterval=10))
    dev = online(bus, SignalSlotable("dev/1", Hash("type", "device", "serverId", "srv"), heartbeatInterval=10))
    assert [e.instanceId for e in bus.of("gui", InstanceNew)] == ["srv", "dev/1"]
    topo = tracker.topology.systemTopology()
    assert topo["server"].getKeys() == ["srv"] and topo["device"].getKeys() == ["dev/1"]
    assert topo["device"].getAttribute("dev/1", "serverId") == "srv"
    assert topo["device"].getAttribute("dev/1", "heartbeatInterval") == 10
    dev.updateInstanceInfo(Hash("status", "error"))
    bus.run()
    assert bus.of("gui", InstanceUpdated)[-1].info["status"] == "error"
    # The server process dies without a goodbye: after ~3 missed beats it is gone, and its device with it.
    for key in [k for k, c in bus.cores.items() if c in (server, dev)]:
        del bus.cores[key]
    bus.advance(45)
    assert {e.instanceId for e in bus.of("gui", InstanceGone)} == {"srv", "dev/1"}
    assert len(tracker.topology) == 0


def test_late_tracker_discovers_existing_instances(bus):
    online(bus, SignalSlotable("dev/1", Hash("type", "device")))
    tracker = online(bus, SignalSlotable("gui", Hash("type", "client"), trackTopology=True))
    assert tracker.topology.instanceIds() == ["dev/1"]
    b = online(bus, SignalSlotable("B"))
    b.shutDown()
    bus.run()
    assert [e.instanceId for e in bus.of("gui", InstanceGone)] == ["B"]


def test_ping_and_has_slot_are_answered_by_the_core(bus):
    a, b = online(bus, SignalSlotable("A")), online(bus, SignalSlotable("B", Hash("type", "device")))
    b.registerSlot("slotX")
    a.request("B", "slotPing", 7, now=0.0)
    a.request("B", "slotHasSlot", "slotX", now=0.0)
    a.request("B", "slotHasSlot", "slotPing", now=0.0)
    bus.run()
    values = [e.values for e in bus.of("A", Reply)]
    assert values[0][0]["type"] == "device" and values[1:] == [(True,), (False,)]
    assert "slotPing" not in b.slots


def test_broadcast_requests_are_refused():
    with pytest.raises(KaraboError):
        SignalSlotable("A").request("*", "slotX", now=0.0)


def test_instance_ids():
    assert isValidInstanceId("SA1/DET/CAM_1") and isValidInstanceId("ikarabo-vm-15879")
    for bad in ("", "a.b", "a b", "a#"):
        assert not isValidInstanceId(bad)
        with pytest.raises(KaraboError):
            SignalSlotable(bad)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(["Slots", "Global_Slots", "Signals"]))
def test_garbage_never_breaks_the_core(data, exchange):
    core = SignalSlotable("A")
    try:
        core.receive(exchange, "A.slotX", data, now=0.0)
    except DeserializationError:
        pass
    assert core.request("B", "s", now=0.0)


# One step of a random conversation: (op, argument)
_ops = st.one_of(
    st.tuples(st.just("request"), st.integers(0, 3)),
    st.tuples(st.just("call"), st.integers(0, 3)),
    st.tuples(st.just("advance"), st.floats(0.0, 1.5)),
    st.tuples(st.just("drop"), st.booleans()),
    st.tuples(st.just("broker"), st.booleans()),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_ops, max_size=40))
def test_every_request_ends_exactly_once(steps):
    """Whatever is lost or delayed, each request gets one Reply, ReplyError or ReplyTimeout."""
    bus = Bus()
    a = online(bus, SignalSlotable("A"))
    b = online(bus, SignalSlotable("B"))
    bus.slot(b, "slotEcho", lambda *args: args)
    bus.slot(b, "slotFail", lambda *args: 1 / 0)
    sent, lossy = [], False
    bus.drop = lambda pub: lossy and pub.exchange == "Slots"
    for op, arg in steps:
        if op == "request":
            try:
                sent.append(a.request("B", ["slotEcho", "slotFail", "nope", "slotEcho"][arg], arg,
                                      now=bus.now, timeout=1.0))
            except KaraboTimeoutError:
                assert not a.brokerConnected
        elif op == "call":
            a.call("B", "slotEcho", arg)
        elif op == "advance":
            bus.advance(arg)
        elif op == "drop":
            lossy = arg
        else:
            bus._handle(a, a.setBrokerConnected(arg))
        bus.run()
    bus.advance(1.1)
    ended = [e.replyId for e in bus.events["A"] if isinstance(e, (Reply, ReplyError, ReplyTimeout))]
    assert sorted(ended) == sorted(sent)
    assert a.nextDeadline() is None or a.nextDeadline() > bus.now
