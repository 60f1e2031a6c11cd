"""What the asyncio and threaded messaging transports share: backend set-up and carrying out core actions."""

from __future__ import annotations

import logging
import traceback
from typing import Callable

from pykarabo import Hash
from pykarabo.errors import KaraboError
from pykarabo.net.broker import Backend, createBackend
from pykarabo.signalslot import Bind, Publish, Reply, SignalSlotable, Unbind, encodeMessage

log = logging.getLogger(__name__)

DEFAULT_PING_TIMEOUT = 1.0   # Karabo waits 1 s for an answer to the uniqueness ping


class TransportBase:
    """Owns a sans-I/O :class:`SignalSlotable` and a broker backend; subclasses add threads or a loop."""

    def __init__(self, instanceId: str, instanceInfo: Hash | None = None, *, broker: "str | Backend | None" = None,
                 topic: str | None = None, heartbeatInterval: float = 20, broadcast: bool = True,
                 trackTopology: bool = False):
        self.core = SignalSlotable(instanceId, instanceInfo, heartbeatInterval=heartbeatInterval,
                                   broadcast=broadcast, trackTopology=trackTopology)
        self.backend: Backend = broker if broker is not None and not isinstance(broker, str) \
            else createBackend(broker, topic, instanceId=instanceId)
        self._handlers: dict[str, Callable] = {}
        self._topologyListeners: list[Callable] = []

    @property
    def instanceId(self) -> str:
        """Our id on the bus."""
        return self.core.instanceId

    def registerSlot(self, handler: Callable, name: str | None = None, numArgs: int | None = None) -> None:
        """Make ``handler`` callable from the bus as slot ``name`` (default: the function's name)."""
        name = name or handler.__name__
        self.core.registerSlot(name, numArgs)
        self._handlers[name] = handler

    def registerSignal(self, name: str, *types) -> None:
        """Declare signal ``name``."""
        self.core.registerSignal(name, *types)

    def addTopologyListener(self, listener: Callable) -> None:
        """Call ``listener(event)`` for every InstanceNew/InstanceUpdated/InstanceGone event."""
        self._topologyListeners.append(listener)

    def systemTopology(self) -> Hash:
        """The tracked topology (needs ``trackTopology=True``)."""
        return self.core.topology.systemTopology()

    def _carryOut(self, actions: list) -> None:
        for action in actions:
            if isinstance(action, Publish):
                header, body = encodeMessage(action.header, action.body)
                try:
                    self.backend.publish(action.exchange, action.routingKey, header, body)
                except KaraboError as exc:
                    log.warning("%s: cannot publish to %s: %s", self.instanceId, action.routingKey, exc)
            elif isinstance(action, Bind):
                self.backend.subscribe(action.exchange, action.bindingKey)
            elif isinstance(action, Unbind):
                self.backend.unsubscribe(action.exchange, action.bindingKey)

    def _notifyTopology(self, event) -> None:
        """Tell every topology listener about an instance change; a failing listener is only logged."""
        for listener in self._topologyListeners:
            try:
                listener(event)
            except Exception:
                log.exception("topology listener failed")

    @staticmethod
    def _settle(future, event) -> None:
        """Complete a request's future (asyncio or concurrent) with its reply, error or timeout."""
        if future is None or future.done():
            return
        if isinstance(event, Reply):
            future.set_result(event.values)
        else:
            future.set_exception(event.exception())


def replyValues(result) -> tuple:
    """The reply arguments for a slot's return value: None → none, tuple → several, else one."""
    if result is None:
        return ()
    return result if isinstance(result, tuple) else (result,)


def errorDetails(exc: BaseException) -> tuple[str, str]:
    """Message and details (traceback) of an exception raised by a slot, for an error reply."""
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return f"{type(exc).__name__}: {exc}", details
