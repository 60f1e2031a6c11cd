"""The core after a broker outage: an online instance announces itself again, a tracker rediscovers."""

from pykarabo.signalslot import SignalSlotable

from .bus import Bus


def broadcasts(core: SignalSlotable) -> list[str]:
    return [action.routingKey for action in core.takeActions() if action.exchange == "Global_Slots"]


def test_reconnection_reannounces_an_online_instance():
    bus = Bus()
    a = bus.add(SignalSlotable("A", trackTopology=True))
    b = bus.add(SignalSlotable("B"))
    assert b.setBrokerConnected(True) == [] and broadcasts(b) == []    # first connection: not online yet
    for core in (a, b):
        core.bind()
        core.goOnline(0.0)
        core.takeActions()
    assert b.setBrokerConnected(True) == [] and broadcasts(b) == []    # no outage, nothing to repeat
    b.setBrokerConnected(False)
    assert broadcasts(b) == []
    b.setBrokerConnected(True)
    assert broadcasts(b) == ["B.slotInstanceNew"]
    a.setBrokerConnected(False)
    a.setBrokerConnected(True)
    assert broadcasts(a) == ["A.slotInstanceNew", "A.slotDiscover"]
    b.shutDown()
    b.takeActions()
    b.setBrokerConnected(False)
    b.setBrokerConnected(True)
    assert broadcasts(b) == []                                          # gone for good: stays silent
