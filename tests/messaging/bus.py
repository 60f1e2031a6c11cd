"""An in-memory broker for sans-I/O tests: routes core actions by AMQP bindings, with optional message loss."""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

from pykarabo.net.broker import matchBindingKey
from pykarabo.signalslot import Bind, Publish, SignalSlotable, SlotCall, Unbind, encodeMessage


class Bus:
    """Cores, their bindings, handlers for their slots, and the events they produced."""

    def __init__(self):
        self.cores: dict[str, SignalSlotable] = {}
        self.bindings: dict[str, set] = defaultdict(set)
        self.handlers: dict[str, dict[str, Callable]] = defaultdict(dict)
        self.events: dict[str, list] = defaultdict(list)
        self.wire: list = []            # (exchange, routingKey, header Hash) of every published message
        self.drop: Callable[[Publish], bool] = lambda pub: False
        self.now = 0.0

    def add(self, core: SignalSlotable) -> SignalSlotable:
        # Keyed by object id: two cores may share an instanceId (uniqueness tests).
        self.cores[f"{core.instanceId}#{id(core)}"] = core
        return core

    def slot(self, core: SignalSlotable, name: str, fn: Callable, numArgs: int | None = None) -> None:
        core.registerSlot(name, numArgs)
        self.handlers[id(core)][name] = fn

    def run(self, limit: int = 10_000) -> None:
        """Deliver until no core has anything left to send."""
        for _ in range(limit):
            moved = False
            for key, core in list(self.cores.items()):
                for action in core.takeActions():
                    moved = True
                    self._carry(key, core, action)
            if not moved:
                return
        raise AssertionError("message storm: the bus did not settle")

    def advance(self, seconds: float, step: float = 0.05) -> None:
        """Let time pass, ticking every core."""
        end = self.now + seconds
        while self.now < end:
            self.now = min(end, self.now + step)
            for core in list(self.cores.values()):
                self._handle(core, core.tick(self.now))
            self.run()

    def _carry(self, key: str, core: SignalSlotable, action) -> None:
        if isinstance(action, Bind):
            self.bindings[key].add((action.exchange, action.bindingKey))
        elif isinstance(action, Unbind):
            self.bindings[key].discard((action.exchange, action.bindingKey))
        elif isinstance(action, Publish):
            self.wire.append((action.exchange, action.routingKey, action.header))
            if self.drop(action):
                return
            header, body = encodeMessage(action.header, action.body)
            for otherKey, other in list(self.cores.items()):
                if any(ex == action.exchange and matchBindingKey(bk, action.routingKey)
                       for ex, bk in self.bindings[otherKey]):
                    self._handle(other, other.receive(action.exchange, action.routingKey, header + body,
                                                      now=self.now))

    def _handle(self, core: SignalSlotable, events: list) -> None:
        for event in events:
            self.events[core.instanceId].append(event)
            if isinstance(event, SlotCall):
                fn = self.handlers[id(core)].get(event.slot)
                if fn is None:
                    continue
                try:
                    result = fn(*event.args)
                except Exception as exc:
                    core.replyError(event, str(exc), "details")
                else:
                    core.reply(event, *(() if result is None else result if isinstance(result, tuple) else (result,)))

    def of(self, instanceId: str, kind: type) -> list:
        return [e for e in self.events[instanceId] if isinstance(e, kind)]
