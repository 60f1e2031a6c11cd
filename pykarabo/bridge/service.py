"""What both bridge devices (middlelayer ``PipeToZeroMQ``, bound ``BoundPipeToZeroMQ``) run.

A ``BridgeService`` binds a ``BridgeServer`` and puts a ``TrainMatcher`` in front of it; the
devices only map their properties onto it, hand it the items of their input channel and call
``tick`` regularly (expiry of waiting trains, the figures they publish).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

from pykarabo import Hash
from pykarabo.bridge.matcher import TrainMatcher
from pykarabo.bridge.server import BridgeServer

__all__ = ["BridgeService", "DEFAULT_ADDRESS", "bind_address", "TICK"]

DEFAULT_ADDRESS = "tcp://127.0.0.1:4545"
TICK = 0.1            # seconds between expiry checks of the devices
PUBLISH_EVERY = 1.0   # seconds between updates of the figures
QUEUE_LENGTH = 10     # trains the server buffers for slow clients before it drops the oldest


def bind_address(address: str) -> str:
    """The ZeroMQ endpoint to bind for a device ``address``: a TCP port ``0`` becomes ``*`` (any free port)."""
    return re.sub(r"^(tcp://.+):0$", r"\1:*", address.strip())


class BridgeService:
    """A bound bridge server fed through a train matcher; raises ``zmq.ZMQError`` if it cannot bind."""

    def __init__(self, address: str = DEFAULT_ADDRESS, pattern: str = "REP", protocol: str = "2.2", *,
                 sources: Sequence[str] = (), keys: Sequence[str] = (), max_wait: float = 0.5,
                 send_incomplete: bool = True, layout: str = "file", maxlen: int = QUEUE_LENGTH) -> None:
        self.server = BridgeServer(bind_address(address), pattern, protocol_version=protocol, maxlen=maxlen)
        try:
            self.matcher = TrainMatcher(self._put, sources=list(sources) or None,
                                        keys=list(keys) or None, wait_time=max_wait,
                                        incomplete="send" if send_incomplete else "drop", layout=layout)
        except ValueError:
            self.server.stop()
            raise
        self.server.start()
        self._published: dict[str, Any] = {}
        self._next_publish = 0.0

    def _put(self, data: dict, metadata: dict) -> None:
        try:
            self.server.put(data, metadata)
        except RuntimeError:    # the server was stopped: items still arriving while the device shuts down
            pass

    @property
    def endpoint(self) -> str:
        """The endpoint actually bound (with the port chosen for ``*``)."""
        return self.server.endpoint

    def add(self, data: Hash, source: str, timestamp: Any) -> None:
        """Take one item; ``timestamp`` is a Karabo ``Timestamp`` (seconds, fraction and train ID)."""
        t = timestamp.toDict()
        self.matcher.add(data, source, t["sec"], t["frac"], t["tid"])

    def end_of_stream(self) -> None:
        """An output ended its stream: send what is pending."""
        self.matcher.end_of_stream()

    def configure(self, *, max_wait: float | None = None, send_incomplete: bool | None = None) -> None:
        """Apply a reconfiguration of ``maxWait``/``sendIncomplete``."""
        self.matcher.configure(wait_time=max_wait,
                               incomplete=None if send_incomplete is None else ("send" if send_incomplete else "drop"))

    def figures(self) -> dict[str, Any]:
        """The live figures as device properties (drops: full queue or incomplete trains not sent)."""
        server, matcher = self.server, self.matcher
        return {"trainsSent": server.trains_sent,
                "trainsDropped": server.trains_dropped + matcher.trains_discarded,
                "incompleteTrains": matcher.trains_incomplete,
                "rate": round(server.rate, 3),
                "dataRate": round(server.data_rate / 1e6, 3)}

    @property
    def active(self) -> bool:
        """Whether trains are going out to clients (some were sent in the last couple of seconds)."""
        return self.server.rate > 0

    def tick(self, now: float | None = None) -> dict[str, Any] | None:
        """Expire waiting trains; about once a second return the figures that changed (else None)."""
        now = time.monotonic() if now is None else now
        self.matcher.expire(now)
        if now < self._next_publish:
            return None
        self._next_publish = now + PUBLISH_EVERY
        figures = self.figures()
        changed = {k: v for k, v in figures.items() if self._published.get(k) != v}
        self._published = figures
        return changed

    def close(self) -> None:
        """Stop serving and release the endpoint."""
        self.server.stop()
