"""Feed a BridgeServer from Karabo pipeline outputs, matching items of several sources by train ID.

Each pipeline item (a Hash whose arrays are NDArrays) becomes the bridge's ``{key: value}`` dict
with flattened paths; NDArrays become numpy views of the received buffers (no copy).  Items are
collected per train ID; a train is sent once every expected source arrived, or after
``wait_time`` seconds as an incomplete train (``incomplete='send'``) or not at all
(``incomplete='drop'``).  The expected sources are ``sources`` when given, otherwise every source
seen so far.
"""

from __future__ import annotations

import collections
import fnmatch
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from pykarabo import Hash
from pykarabo.bridge.server import BridgeServer
from pykarabo.errors import KaraboTimeoutError
from pykarabo.pipeline import END_OF_STREAM, InputChannel, MetaData

__all__ = ["PipelineBridge", "hash_to_dict", "karabo_metadata", "relayout"]

log = logging.getLogger(__name__)

LAYOUTS = ("online", "file")
# file (pulses, [modules,] ss, fs)  <->  online ([modules,] fs, ss, pulses), see spec §5.3
_TO_ONLINE = {3: (2, 1, 0), 4: (1, 3, 2, 0)}
_TO_FILE = {3: (2, 1, 0), 4: (3, 0, 2, 1)}


def hash_to_dict(h: Hash, keys: Sequence[str] | None = None) -> dict[str, Any]:
    """Flatten a Hash into bridge form: dotted paths, NDArray → numpy view, other values as they are."""
    out: dict[str, Any] = {}
    _flatten(h, "", out)
    if keys:
        out = {k: v for k, v in out.items() if any(fnmatch.fnmatchcase(k, g) for g in keys)}
    return out


def _flatten(h: Hash, prefix: str, out: dict[str, Any]) -> None:
    for key in h.getKeys():
        value = h[key]   # an NDArray node reads as a numpy view of its data already
        path = prefix + key
        if isinstance(value, Hash):
            _flatten(value, path + ".", out)   # ImageData too: 'x.pixels' is its NDArray
        elif isinstance(value, np.ndarray) and value.dtype.kind in "OV":
            out[path] = value.tolist()        # the bridge cannot carry object/structured arrays
        elif isinstance(value, list) and value and isinstance(value[0], Hash):
            out[path] = [hash_to_dict(x) for x in value]
        else:
            out[path] = value


def karabo_metadata(meta: MetaData) -> dict[str, Any]:
    """The bridge metadata map of a pipeline item (source, timestamp as float/sec/frac, train ID)."""
    return {
        "source": meta.source,
        "timestamp": meta.sec + meta.frac / 1e18,
        "timestamp.sec": str(meta.sec),
        "timestamp.frac": str(meta.frac).zfill(18),
        "timestamp.tid": meta.tid,
    }


def relayout(array: np.ndarray, layout: str) -> np.ndarray:
    """Transpose a detector array between file and online layout (a view; 3-d module or 4-d stack)."""
    axes = (_TO_ONLINE if layout == "online" else _TO_FILE).get(array.ndim)
    return array if axes is None else array.transpose(axes)


class PipelineBridge:
    """Connect to pipeline outputs and serve their trains through a ``BridgeServer``.

    ``outputs`` are anything ``InputChannel`` accepts (connection-info Hashes, ``host:port``).
    ``layout`` ('online' or 'file') converts the ``layout_keys`` arrays from ``input_layout``.
    """

    def __init__(self, outputs: Iterable, server: BridgeServer, *, sources: Sequence[str] | None = None,
                 keys: Sequence[str] | None = None, wait_time: float = 0.5, incomplete: str = "send",
                 layout: str | None = None, input_layout: str = "file",
                 layout_keys: Sequence[str] = ("image.data",), onSlowness: str = "drop",
                 dataDistribution: str = "copy", maxQueueLength: int = 2) -> None:
        if incomplete not in ("send", "drop"):
            raise ValueError("incomplete must be 'send' or 'drop'")
        for name, value in (("layout", layout), ("input_layout", input_layout)):
            if value is not None and value not in LAYOUTS:
                raise ValueError(f"{name} must be one of {LAYOUTS}")
        self.server = server
        self.sources = list(sources) if sources else None
        self.keys = list(keys) if keys else None
        self.wait_time = wait_time
        self.incomplete = incomplete
        self.layout = None if layout == input_layout else layout
        self.layout_keys = tuple(layout_keys)
        self.trains_complete = 0
        self.trains_incomplete = 0
        self.trains_discarded = 0       # incomplete trains not sent (incomplete='drop')
        self.items_late = 0             # items of a train that was already sent or discarded
        self.end_of_streams = 0
        self._known: set[str] = set(self.sources or ())
        self._pending: collections.OrderedDict[int, tuple[float, dict, dict]] = collections.OrderedDict()
        self._last_tid = -1
        self._closing = False
        # 'drop' by default: a slow bridge client must not slow down the pipeline.
        self.input = InputChannel(outputs, onSlowness=onSlowness, dataDistribution=dataDistribution,
                                  maxQueueLength=maxQueueLength)
        self._thread = threading.Thread(target=self._run, name="pipeline-bridge", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._closing:
            try:
                item = self.input.get(timeout=min(self.wait_time, 0.1) or 0.05)
            except KaraboTimeoutError:
                self._expire(time.monotonic())
                continue
            except EOFError:
                return
            if item is END_OF_STREAM:
                self.end_of_streams += 1
                self._flush_older(None)
                continue
            self._add(*item)
            self._expire(time.monotonic())

    def _add(self, data: Hash, meta: MetaData) -> None:
        source = meta.source
        if self.sources is not None and source not in self.sources:
            return
        tid = meta.tid
        if tid <= self._last_tid:
            self.items_late += 1
            log.debug("late item of train %d from %s", tid, source)
            return
        props = hash_to_dict(data, self.keys)
        if self.layout is not None:
            for key in self.layout_keys:
                if isinstance(props.get(key), np.ndarray):
                    props[key] = relayout(props[key], self.layout)
        self._known.add(source)
        _, train, metadata = self._pending.setdefault(tid, (time.monotonic(), {}, {}))
        train[source] = props
        metadata[source] = karabo_metadata(meta)
        if self._known.issubset(train):
            self._flush_older(tid)
            self._emit(tid, complete=True)

    def _flush_older(self, tid: int | None) -> None:
        """Send or discard pending trains before ``tid`` (all of them for None) to keep ID order."""
        for older in [t for t in self._pending if tid is None or t < tid]:
            self._emit(older, complete=self._known.issubset(self._pending[older][1]))

    def _expire(self, now: float) -> None:
        for tid in [t for t, (first, _, _) in self._pending.items() if now - first >= self.wait_time]:
            if tid in self._pending:   # an earlier iteration may have flushed it already
                self._flush_older(tid)
                self._emit(tid, complete=False)

    def _emit(self, tid: int, complete: bool) -> None:
        _, train, metadata = self._pending.pop(tid)
        self._last_tid = max(self._last_tid, tid)
        if complete:
            self.trains_complete += 1
        else:
            self.trains_incomplete += 1
            if self.incomplete == "drop":
                self.trains_discarded += 1
                log.debug("train %d incomplete (%s), dropped", tid, sorted(train))
                return
        self.server.put(train, metadata)

    def close(self) -> None:
        """Disconnect from the outputs (the server is left running)."""
        self._closing = True
        self.input.close()
        self._thread.join(timeout=2)

    def __enter__(self) -> "PipelineBridge":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
