"""The sans-I/O SignalSlotable core: Karabo 3 signal/slot protocol logic, free of sockets, threads and loops.

Inputs are method calls (``call``, ``request``, ``emit``, ``receive(...)``, ``tick(now)``); outputs are
actions the transport carries out (:class:`Publish`, :class:`Bind`, :class:`Unbind`, collected in
:meth:`SignalSlotable.takeActions`) and events it dispatches (:class:`SlotCall`, :class:`Reply`, ...).
Times are monotonic seconds supplied by the caller, so every behaviour is reproducible in tests.
"""

from __future__ import annotations

import logging
import random
import re
import uuid
from dataclasses import dataclass

from pykarabo import Hash
from pykarabo.errors import KaraboError, KaraboTimeoutError
from pykarabo.signalslot.message import (GLOBAL_SLOTS, SIGNALS, SLOTS, bodyArgs, decodeMessage, makeBody,
                                         makeHeader)
from pykarabo.signalslot.topology import Topology

log = logging.getLogger(__name__)

__all__ = [
    "SignalSlotable", "Publish", "Bind", "Unbind", "SlotCall", "Reply", "ReplyError", "ReplyTimeout",
    "InstanceNew", "InstanceUpdated", "InstanceGone", "BROADCAST_SLOTS", "isValidInstanceId",
]

BROADCAST_SLOTS = ("slotInstanceNew", "slotInstanceUpdated", "slotInstanceGone", "slotDiscover")
_INSTANCE_ID = re.compile(r"[A-Za-z0-9_/:-]+\Z")   # ':' for the ids of MDL-style clients


def isValidInstanceId(instanceId: str) -> bool:
    """Whether ``instanceId`` may be used on the bus (no dots: they separate routing-key words)."""
    return bool(_INSTANCE_ID.match(instanceId))


# ---- actions (for the transport to carry out) --------------------------------------------------------

@dataclass(slots=True)   # not frozen: a frozen dataclass's __init__ costs ~2 µs, paid for every message
class Publish:
    """Send a message: exchange suffix, routing key, header and body Hashes."""

    exchange: str
    routingKey: str
    header: Hash
    body: Hash


@dataclass(frozen=True)
class Bind:
    """Receive messages of ``exchange`` whose routing key matches the AMQP pattern ``bindingKey``."""

    exchange: str
    bindingKey: str


@dataclass(frozen=True)
class Unbind:
    """Stop receiving what an earlier :class:`Bind` asked for."""

    exchange: str
    bindingKey: str


# ---- events (for the transport to dispatch) ----------------------------------------------------------

@dataclass
class SlotCall:
    """Run local slot ``slot`` with ``args``; answer with :meth:`SignalSlotable.reply` if ``replyId`` is set."""

    slot: str
    args: tuple
    sender: str
    header: Hash
    replyId: str | None = None          # request: reply to <sender>.<replyId>
    replyFunction: str | None = None    # requestNoWait: call <sender>.<replyFunction> with the result

    @property
    def wantsReply(self) -> bool:
        """Whether the caller expects an answer."""
        return self.replyId is not None or self.replyFunction is not None


@dataclass
class Reply:
    """The successful answer to request ``replyId``."""

    replyId: str
    values: tuple


@dataclass
class ReplyError:
    """A remote exception answering request ``replyId``: message and details (traceback)."""

    replyId: str
    message: str
    details: str

    def exception(self) -> KaraboError:
        """The exception a waiting caller should raise."""
        return RemoteError(self.message, self.details)


@dataclass
class ReplyTimeout:
    """Request ``replyId`` got no answer in time (or could not be sent)."""

    replyId: str
    reason: str

    def exception(self) -> KaraboTimeoutError:
        """The exception a waiting caller should raise."""
        return KaraboTimeoutError(self.reason)


@dataclass
class InstanceNew:
    """An instance appeared (slotInstanceNew, or first seen by a topology tracker)."""

    instanceId: str
    info: Hash


@dataclass
class InstanceUpdated:
    """An instance changed its instanceInfo."""

    instanceId: str
    info: Hash


@dataclass
class InstanceGone:
    """An instance left, or a tracker stopped hearing its heartbeats."""

    instanceId: str
    info: Hash


class RemoteError(KaraboError):
    """An exception raised by a remote slot; ``details`` carries the remote traceback."""

    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.message = message
        self.details = details


@dataclass
class _Pending:
    target: str
    slot: str
    deadline: float | None


@dataclass
class _Slot:
    numArgs: int | None   # None: any number (0..4)


class SignalSlotable:
    """One instance on the bus: its slots, signals, connections, pending requests and heartbeats."""

    def __init__(self, instanceId: str, instanceInfo: Hash | None = None, *, heartbeatInterval: float = 20,
                 broadcast: bool = True, trackTopology: bool = False):
        if not isValidInstanceId(instanceId):
            raise KaraboError(f"invalid instanceId {instanceId!r}: use letters, digits and _ / - :")
        self.instanceId = instanceId
        self.heartbeatInterval = heartbeatInterval
        self.broadcast = broadcast
        self.trackTopology = trackTopology
        self.instanceInfo = instanceInfo.copy() if instanceInfo is not None else Hash()
        if not self.instanceInfo.has("type"):
            self.instanceInfo["type"] = "unknown"
        self.instanceInfo["heartbeatInterval"] = int(heartbeatInterval)
        self.topology = Topology()
        self.brokerConnected = True
        self.online = False
        self._actions: list = []
        self._slots: dict[str, _Slot] = {}
        self._signals: dict[str, tuple] = {}
        self._connections: dict[str, dict[str, set[str]]] = {}   # emitterId -> signal -> local slots
        self._pending: dict[str, _Pending] = {}
        self._pingValue: int | None = None
        self._nextBeat: float | None = None
        self._nextTopologyCheck: float | None = None
        self._bound = False

    # ---- declarations -------------------------------------------------------------------------------

    def registerSlot(self, name: str, numArgs: int | None = None) -> None:
        """Declare local slot ``name`` taking ``numArgs`` arguments (None: any)."""
        self._slots[name] = _Slot(numArgs)

    def registerSignal(self, name: str, *types) -> None:
        """Declare signal ``name`` with the given argument types (informational)."""
        self._signals[name] = types

    def hasSlot(self, name: str) -> bool:
        """Whether ``name`` is a registered (user-visible) slot."""
        return name in self._slots

    @property
    def slots(self) -> list[str]:
        """Names of the registered slots."""
        return sorted(self._slots)

    @property
    def signals(self) -> list[str]:
        """Names of the registered signals."""
        return sorted(self._signals)

    # ---- life on the bus ----------------------------------------------------------------------------

    def bindings(self) -> list[Bind]:
        """What this instance must receive: its own slots, broadcasts, heartbeats if tracking, connections."""
        binds = [Bind(SLOTS, f"{self.instanceId}.#")]
        if self.broadcast:
            binds += [Bind(GLOBAL_SLOTS, f"*.{slot}") for slot in BROADCAST_SLOTS]
        if self.trackTopology:
            binds.append(Bind(GLOBAL_SLOTS, "*.slotHeartbeat"))
        for emitter, signals in self._connections.items():
            binds += [Bind(SIGNALS, f"{emitter}.{signal}") for signal in signals]
        return binds

    def bind(self) -> None:
        """Ask the transport for our subscriptions (once; later connections bind as they are made)."""
        if not self._bound:
            self._actions.extend(self.bindings())
            self._bound = True

    def startUp(self, now: float, pingTimeout: float = 1.0) -> str:
        """Bind and ping our own id; returns the reply id whose :class:`Reply` means "id already in use"."""
        self.bind()
        # Values 0 and 1 are excluded so an own ping is never confused with an older protocol's flags.
        self._pingValue = random.randint(2, 2**31 - 1)
        return self.request(self.instanceId, "slotPing", self._pingValue, now=now, timeout=pingTimeout)

    def goOnline(self, now: float) -> None:
        """Announce ourselves (slotInstanceNew), start heartbeats and, if tracking, discover the others."""
        self.online = True
        self._broadcast("slotInstanceNew", self.instanceId, self.instanceInfo)
        self._nextBeat = now + self.heartbeatInterval
        if self.trackTopology:
            self._broadcast("slotDiscover", self.instanceId)
            self._nextTopologyCheck = now + self.topology.checkInterval

    def updateInstanceInfo(self, changes: Hash) -> None:
        """Merge ``changes`` into our instanceInfo and broadcast slotInstanceUpdated."""
        self.instanceInfo.merge(changes)
        if self.online:
            self._broadcast("slotInstanceUpdated", self.instanceId, self.instanceInfo)

    def shutDown(self) -> list:
        """Say goodbye (slotInstanceGone); returns timeouts for every request still waiting."""
        if self.online:
            self._broadcast("slotInstanceGone", self.instanceId, self.instanceInfo)
            self.online = False
        self._nextBeat = None
        return self._failAll(f"instance {self.instanceId} is shutting down")

    def setBrokerConnected(self, connected: bool) -> list:
        """Record broker loss/recovery; on loss every waiting request fails at once (nothing waits forever).

        On recovery an online instance announces itself again (and a tracker rediscovers the others):
        a restarted broker forgot everybody, and the others may have declared us gone meanwhile.
        """
        wasConnected, self.brokerConnected = self.brokerConnected, connected
        if not connected:
            return self._failAll("connection to the broker lost")
        if not wasConnected and self.online:
            self._broadcast("slotInstanceNew", self.instanceId, self.instanceInfo)
            if self.trackTopology:
                self._broadcast("slotDiscover", self.instanceId)
        return []

    # ---- outgoing -----------------------------------------------------------------------------------

    def takeActions(self) -> list:
        """The actions accumulated since the last call, in order."""
        actions, self._actions = self._actions, []
        return actions

    def call(self, target: str, slot: str, *args) -> None:
        """Fire-and-forget call of ``slot`` on ``target`` (``"*"``: broadcast)."""
        if target == "*":
            self._broadcast(slot, *args)
        else:
            self._send(SLOTS, f"{target}.{slot}", makeHeader(self.instanceId), args)

    def request(self, target: str, slot: str, *args, now: float, timeout: float | None = None) -> str:
        """Send a request; returns its reply id. The answer comes as Reply, ReplyError or ReplyTimeout."""
        if target == "*":
            raise KaraboError("a request cannot be broadcast: nobody would be allowed to reply")
        if not self.brokerConnected:
            raise KaraboTimeoutError(f"cannot request {target}.{slot}: the broker is not reachable")
        replyId = f"{self.instanceId}-{uuid.uuid4().hex}"
        self._pending[replyId] = _Pending(target, slot, None if timeout is None else now + timeout)
        self._send(SLOTS, f"{target}.{slot}", makeHeader(self.instanceId, replyTo=replyId), args)
        return replyId

    def requestNoWait(self, target: str, slot: str, replySlot: str, *args) -> None:
        """Send a request whose answer arrives as an ordinary call of our slot ``replySlot``."""
        self._send(SLOTS, f"{target}.{slot}", makeHeader(self.instanceId, replyFunction=replySlot), args)

    def setRequestTimeout(self, replyId: str, now: float, timeout: float | None) -> None:
        """Give a pending request a (new) deadline; None waits until the broker is lost or we shut down."""
        pending = self._pending.get(replyId)
        if pending is not None:
            pending.deadline = None if timeout is None else now + timeout

    def cancelRequest(self, replyId: str) -> None:
        """Forget a request (its answer, if any, will be ignored)."""
        self._pending.pop(replyId, None)

    def emit(self, signal: str, *args) -> None:
        """Emit ``signal``: published once, delivered to every connected slot."""
        if signal not in self._signals:
            raise KaraboError(f"{self.instanceId} has no signal {signal!r}")
        self._send(SIGNALS, f"{self.instanceId}.{signal}", makeHeader(self.instanceId), args)

    def connect(self, emitterId: str, signal: str, slot: str) -> None:
        """Connect ``emitterId``'s ``signal`` to our own ``slot`` (only a slot's owner may connect it)."""
        slots = self._connections.setdefault(emitterId, {}).setdefault(signal, set())
        if not slots and self._bound:
            self._actions.append(Bind(SIGNALS, f"{emitterId}.{signal}"))
        slots.add(slot)

    def disconnect(self, emitterId: str, signal: str, slot: str) -> bool:
        """Undo :meth:`connect`; returns whether the connection existed."""
        slots = self._connections.get(emitterId, {}).get(signal)
        if not slots or slot not in slots:
            return False
        slots.discard(slot)
        if not slots:
            del self._connections[emitterId][signal]
            if not self._connections[emitterId]:
                del self._connections[emitterId]
            if self._bound:
                self._actions.append(Unbind(SIGNALS, f"{emitterId}.{signal}"))
        return True

    def reply(self, call: SlotCall, *values) -> None:
        """Answer ``call`` with ``values`` (nothing is sent for a plain call)."""
        if call.replyId is not None:
            header = makeHeader(self.instanceId, replyFrom=call.replyId, error=False)
            self._send(SLOTS, f"{call.sender}.{call.replyId}", header, values)
        elif call.replyFunction is not None:
            self._send(SLOTS, f"{call.sender}.{call.replyFunction}", makeHeader(self.instanceId), values)

    def replyError(self, call: SlotCall, message: str, details: str = "") -> None:
        """Answer ``call`` with a remote exception (``a1`` message, ``a2`` details)."""
        if call.replyId is not None:
            header = makeHeader(self.instanceId, replyFrom=call.replyId, error=True)
            self._send(SLOTS, f"{call.sender}.{call.replyId}", header, (message, details))
        else:
            log.warning("%s: slot %s called by %s failed: %s", self.instanceId, call.slot, call.sender, message)

    # ---- incoming -----------------------------------------------------------------------------------

    def receive(self, exchange: str, routingKey: str, header, body=None, *, now: float) -> list:
        """Process one message (bytes as from the broker, or Hashes); returns the resulting events."""
        if not isinstance(header, Hash):
            header, body = decodeMessage(header, body)
        sender = header.get("signalInstanceId", "")
        if not isinstance(sender, str) or not sender:
            log.warning("%s: dropping a message without signalInstanceId", self.instanceId)
            return []
        if exchange == SLOTS:
            own = self.instanceId + "."
            if not routingKey.startswith(own):
                return []
            name = routingKey[len(own):]
            if header.has("replyFrom"):
                return self._onReply(header, body)
            return self._onSlot(name, header, body, sender, broadcast=False, now=now)
        prefix = sender + "."
        if not routingKey.startswith(prefix):
            log.warning("%s: routing key %r does not start with sender %r", self.instanceId, routingKey, sender)
            return []
        name = routingKey[len(prefix):]
        if exchange == GLOBAL_SLOTS:
            return self._onSlot(name, header, body, sender, broadcast=True, now=now)
        if exchange == SIGNALS:
            args = bodyArgs(body)
            return [SlotCall(slot, args, sender, header)
                    for slot in sorted(self._connections.get(sender, {}).get(name, ()))]
        return []

    def tick(self, now: float) -> list:
        """Advance time: heartbeats, request timeouts, dead instances; returns the resulting events."""
        events = []
        if self._nextBeat is not None and now >= self._nextBeat:
            beat = Hash()
            beat["type"] = self.instanceInfo["type"]
            beat["heartbeatInterval"] = int(self.heartbeatInterval)
            self._broadcast("slotHeartbeat", self.instanceId, beat)
            # Schedule from the due time, not from now, so a late tick does not drift the beat.
            self._nextBeat = max(self._nextBeat + self.heartbeatInterval, now)
        for replyId, pending in list(self._pending.items()):
            if pending.deadline is not None and now >= pending.deadline:
                del self._pending[replyId]
                events.append(ReplyTimeout(replyId, f"no reply from {pending.target}.{pending.slot} in time"))
        if self._nextTopologyCheck is not None and now >= self._nextTopologyCheck:
            self._nextTopologyCheck = now + self.topology.checkInterval
            events += [InstanceGone(i, info) for i, info in self.topology.expire(now)]
        return events

    def nextDeadline(self) -> float | None:
        """The earliest time :meth:`tick` has something to do (None: nothing scheduled)."""
        times = [p.deadline for p in self._pending.values() if p.deadline is not None]
        times += [t for t in (self._nextBeat, self._nextTopologyCheck) if t is not None]
        return min(times, default=None)

    # ---- internals ----------------------------------------------------------------------------------

    def _send(self, exchange: str, routingKey: str, header: Hash, args) -> None:
        self._actions.append(Publish(exchange, routingKey, header, makeBody(args)))

    def _broadcast(self, slot: str, *args) -> None:
        self._send(GLOBAL_SLOTS, f"{self.instanceId}.{slot}", makeHeader(self.instanceId), args)

    def _failAll(self, reason: str) -> list:
        events = [ReplyTimeout(r, f"{reason}: no reply from {p.target}.{p.slot}") for r, p in self._pending.items()]
        self._pending.clear()
        return events

    def _onReply(self, header: Hash, body: Hash) -> list:
        replyId = header["replyFrom"]
        if self._pending.pop(replyId, None) is None:
            return []   # late, cancelled, or the answer to a namesake's request
        args = bodyArgs(body)
        if header.get("error", False):
            message = str(args[0]) if args else "remote error"
            details = str(args[1]) if len(args) > 1 else ""
            return [ReplyError(replyId, message, details)]
        return [Reply(replyId, args)]

    def _onSlot(self, name: str, header: Hash, body: Hash, sender: str, *, broadcast: bool, now: float) -> list:
        # Replies to broadcasts are refused: every receiver would answer the same request.
        replyId = None if broadcast else header.get("replyTo", None)
        replyFunction = None if broadcast else header.get("replyFunction", None)
        args = bodyArgs(body)
        call = SlotCall(name, args, sender, header, replyId, replyFunction)
        intrinsic = getattr(self, f"_intrinsic_{name}", None)
        if intrinsic is not None:
            return intrinsic(call, now)
        slot = self._slots.get(name)
        if slot is None:
            if broadcast or name == "slotHeartbeat":
                return []
            message = f"'{self.instanceId}' has no slot '{name}'"
            if call.wantsReply:
                self.replyError(call, message)
            else:
                log.info("%s (called by %s)", message, sender)
            return []
        if slot.numArgs is not None and slot.numArgs != len(args):
            self.replyError(call, f"slot '{name}' of '{self.instanceId}' takes {slot.numArgs} argument(s), "
                                  f"{len(args)} given")
            return []
        return [call]

    # Intrinsic slots: answered by the core itself, never shown as user slots.

    def _intrinsic_slotPing(self, call: SlotCall, now: float) -> list:
        if call.sender == self.instanceId and self._pingValue in call.args:
            return []   # our own uniqueness ping
        self.reply(call, self.instanceInfo)
        return []

    def _intrinsic_slotHasSlot(self, call: SlotCall, now: float) -> list:
        self.reply(call, bool(call.args) and call.args[0] in self._slots)
        return []

    def _intrinsic_slotDiscover(self, call: SlotCall, now: float) -> list:
        requestor = call.args[0] if call.args else call.sender
        if self.online and requestor != self.instanceId:
            self.call(requestor, "slotDiscoverAnswer", self.instanceId, self.instanceInfo)
        return []

    def _topologyEvent(self, call: SlotCall, now: float, kind: str) -> list:
        if len(call.args) < 2 or call.args[0] == self.instanceId or not isinstance(call.args[1], Hash):
            return []
        instanceId, info = call.args[0], call.args[1]
        events = []
        if kind == "gone":
            gone = self.topology.remove(instanceId) if self.trackTopology else [(instanceId, info)]
            events = [InstanceGone(i, inf) for i, inf in gone] or [InstanceGone(instanceId, info)]
        else:
            isNew = self.topology.update(instanceId, info, now) if self.trackTopology else True
            events = [(InstanceNew if kind == "new" or isNew else InstanceUpdated)(instanceId, info)]
        # A call of one of these slots as a *user* slot (e.g. an API hook) is forwarded as well.
        if call.slot in self._slots:
            events.append(call)
        return events

    def _intrinsic_slotInstanceNew(self, call: SlotCall, now: float) -> list:
        return self._topologyEvent(call, now, "new")

    def _intrinsic_slotInstanceUpdated(self, call: SlotCall, now: float) -> list:
        return self._topologyEvent(call, now, "updated")

    def _intrinsic_slotInstanceGone(self, call: SlotCall, now: float) -> list:
        return self._topologyEvent(call, now, "gone")

    def _intrinsic_slotDiscoverAnswer(self, call: SlotCall, now: float) -> list:
        if not self.trackTopology:
            return []
        return self._topologyEvent(call, now, "updated")

    def _intrinsic_slotHeartbeat(self, call: SlotCall, now: float) -> list:
        if not self.trackTopology or len(call.args) < 2 or call.args[0] == self.instanceId:
            return []
        instanceId, beat = call.args[0], call.args[1]
        if self.topology.beat(instanceId, beat, now):
            return []
        # A beat from an instance we never heard of (we started after it and missed its answer to
        # slotDiscover): track it with what the beat tells (type, heartbeatInterval).
        info = beat.copy() if isinstance(beat, Hash) else Hash()
        self.topology.update(instanceId, info, now)
        return [InstanceNew(instanceId, info)]
