"""A Karabo Bridge client in a thread, as a user's online analysis would run it during the demo."""

from __future__ import annotations

import logging
import threading
import time

import zmq
from pykarabo_bridge import Client

__all__ = ["BridgeProbe"]

log = logging.getLogger(__name__)

POLL = 0.5   # seconds a request waits before the thread checks whether it should stop


class BridgeProbe:
    """Requests trains from a bridge endpoint until stopped; counts them and keeps what the last one held."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.received = 0
        self.lastTrainId = 0
        self.lastShapes: dict[str, tuple] = {}   # "source image.data" → shape of the last train's array
        self.error = ""
        self._times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo bridge client", daemon=True)

    def start(self) -> BridgeProbe:
        """Connect and start receiving."""
        self._thread.start()
        return self

    def rate(self) -> float:
        """Trains received per second over the last two seconds."""
        now = time.monotonic()
        return sum(1 for t in self._times if now - t < 2.0) / 2.0

    def stop(self) -> None:
        """Stop receiving and close the connection."""
        self._stop.set()
        self._thread.join(2 * POLL + 1)

    def _run(self) -> None:
        try:
            with Client(self.endpoint, sock="REQ", timeout=POLL) as client:
                while not self._stop.is_set():
                    try:
                        data, meta = client.next()
                    except TimeoutError:
                        continue   # no train within POLL: the stream pauses (start-up, end of run)
                    self._count(data, meta)
        except (zmq.ZMQError, ValueError) as exc:   # a dead or garbled server ends the probe, not the demo
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("bridge client on %s stopped: %s", self.endpoint, self.error)

    def _count(self, data: dict, meta: dict) -> None:
        now = time.monotonic()
        self._times = [t for t in self._times if now - t < 2.0] + [now]
        self.received += 1
        self.lastTrainId = max((int(m.get("timestamp.tid", 0)) for m in meta.values()), default=0)
        self.lastShapes = {f"{source} {key}": value.shape for source, values in data.items()
                           for key, value in values.items() if hasattr(value, "shape") and value.ndim > 1}
