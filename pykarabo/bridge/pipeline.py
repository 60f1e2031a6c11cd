"""Feed a BridgeServer from Karabo pipeline outputs, matching items of several sources by train ID.

``PipelineBridge`` is the standalone (thread-based) form of the bridge devices: a threaded
``InputChannel`` feeds a ``TrainMatcher`` (``pykarabo.bridge.matcher``, where conversion,
selection and matching live), whose trains go to a ``BridgeServer``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from pykarabo.bridge.matcher import LAYOUTS, TrainMatcher, hash_to_dict, karabo_metadata, relayout
from pykarabo.bridge.server import BridgeServer
from pykarabo.errors import KaraboTimeoutError
from pykarabo.pipeline import END_OF_STREAM, InputChannel

__all__ = ["LAYOUTS", "PipelineBridge", "hash_to_dict", "karabo_metadata", "relayout"]


class PipelineBridge:
    """Connect to pipeline outputs and serve their trains through a ``BridgeServer``.

    ``outputs`` are anything ``InputChannel`` accepts (connection-info Hashes, ``host:port``).
    The matching options are those of ``TrainMatcher``; the counters (``trains_complete``,
    ``trains_incomplete``, ``trains_discarded``, ``items_late``, ``end_of_streams``) are the
    matcher's.
    """

    def __init__(self, outputs: Iterable, server: BridgeServer, *, sources: Sequence[str] | None = None,
                 keys: Sequence[str] | None = None, wait_time: float = 0.5, incomplete: str = "send",
                 layout: str | None = None, input_layout: str = "file",
                 layout_keys: Sequence[str] = ("image.data",), onSlowness: str = "drop",
                 dataDistribution: str = "copy", maxQueueLength: int = 2) -> None:
        self.server = server
        self.matcher = TrainMatcher(server.put, sources=sources, keys=keys, wait_time=wait_time,
                                    incomplete=incomplete, layout=layout, input_layout=input_layout,
                                    layout_keys=layout_keys)
        self._closing = False
        # 'drop' by default: a slow bridge client must not slow down the pipeline.
        self.input = InputChannel(outputs, onSlowness=onSlowness, dataDistribution=dataDistribution,
                                  maxQueueLength=maxQueueLength)
        self._thread = threading.Thread(target=self._run, name="pipeline-bridge", daemon=True)
        self._thread.start()

    def __getattr__(self, name: str) -> int:
        if name in ("trains_complete", "trains_incomplete", "trains_discarded", "items_late", "end_of_streams"):
            return getattr(self.matcher, name)
        raise AttributeError(name)

    def _run(self) -> None:
        matcher = self.matcher
        while not self._closing:
            try:
                item = self.input.get(timeout=min(matcher.wait_time, 0.1) or 0.05)
            except KaraboTimeoutError:
                matcher.expire()
                continue
            except EOFError:
                return
            if item is END_OF_STREAM:
                matcher.end_of_stream()
                continue
            data, meta = item
            matcher.add(data, meta.source, meta.sec, meta.frac, meta.tid)
            matcher.expire()

    def close(self) -> None:
        """Disconnect from the outputs (the server is left running)."""
        self._closing = True
        self.input.close()
        self._thread.join(timeout=2)

    def __enter__(self) -> "PipelineBridge":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
