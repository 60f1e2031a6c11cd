"""Karabo 3 signals and slots: the message model and a sans-I/O SignalSlotable core."""

from pykarabo.signalslot.core import (BROADCAST_SLOTS, Bind, InstanceGone, InstanceNew, InstanceUpdated, Publish,
                                      RemoteError, Reply, ReplyError, ReplyTimeout, SignalSlotable, SlotCall,
                                      Unbind, isValidInstanceId)
from pykarabo.signalslot.message import (EXCHANGES, GLOBAL_SLOTS, MAX_ARGS, SIGNALS, SLOTS, bodyArgs,
                                         decodeMessage, encodeMessage, makeBody, makeHeader)
from pykarabo.signalslot.topology import Topology

__all__ = [
    "BROADCAST_SLOTS", "Bind", "EXCHANGES", "GLOBAL_SLOTS", "InstanceGone", "InstanceNew", "InstanceUpdated",
    "MAX_ARGS", "Publish", "RemoteError", "Reply", "ReplyError", "ReplyTimeout", "SIGNALS", "SLOTS",
    "SignalSlotable", "SlotCall", "Topology", "Unbind", "bodyArgs", "decodeMessage", "encodeMessage",
    "isValidInstanceId", "makeBody", "makeHeader",
]
