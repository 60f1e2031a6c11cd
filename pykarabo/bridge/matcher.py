"""Pipeline items → bridge trains: conversion, source/key selection, layout and matching by train ID.

This is the part of a pipeline-fed bridge that owns no socket, thread or event loop: the
``PipelineBridge`` (threads) and both bridge devices (middlelayer, bound) feed it the items
their input channels receive and call ``expire`` now and then; complete trains, and incomplete
ones after ``wait_time`` seconds if configured so, go to ``sink(data, metadata)`` in train ID
order.  Arrays stay views of the received pipeline buffers (no copy).
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pykarabo import Hash

__all__ = ["LAYOUTS", "TrainMatcher", "hash_to_dict", "karabo_metadata", "relayout"]

log = logging.getLogger(__name__)

LAYOUTS = ("online", "file")
# file (pulses, [modules,] ss, fs)  <->  online ([modules,] fs, ss, pulses), see spec §5.3
_TO_ONLINE = {3: (2, 1, 0), 4: (1, 3, 2, 0)}
_TO_FILE = {3: (2, 1, 0), 4: (3, 0, 2, 1)}

Sink = Callable[[dict, dict], Any]


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


def karabo_metadata(source: Any, sec: int | None = None, frac: int | None = None,
                    tid: int | None = None) -> dict[str, Any]:
    """The bridge metadata map of an item (source, timestamp as float/sec/frac, train ID).

    Takes the four values, or one object with ``source``, ``sec``, ``frac`` and ``tid``
    (a pipeline ``MetaData``).
    """
    if sec is None:
        source, sec, frac, tid = source.source, source.sec, source.frac, source.tid
    return {
        "source": source,
        "timestamp": sec + frac / 1e18,
        "timestamp.sec": str(sec),
        "timestamp.frac": str(frac).zfill(18),
        "timestamp.tid": tid,
    }


def relayout(array: np.ndarray, layout: str) -> np.ndarray:
    """Transpose a detector array between file and online layout (a view; 3-d module or 4-d stack)."""
    axes = (_TO_ONLINE if layout == "online" else _TO_FILE).get(array.ndim)
    return array if axes is None else array.transpose(axes)


class TrainMatcher:
    """Collect items per train ID and hand whole trains to ``sink`` (thread-safe, no I/O).

    A train goes out once every expected source delivered, or ``wait_time`` seconds after its
    first item as an incomplete train (``incomplete='send'``) or not at all (``'drop'``).
    The expected sources are ``sources`` when given (others are ignored), else every source
    seen so far.  ``keys`` are globs selecting keys; the metadata of a source whose keys were
    filtered lists the rest under ``ignored_keys``, as Karabo's PipeToZeroMQ does.  ``layout``
    ('online'/'file') transposes the ``layout_keys`` arrays, taken to be in ``input_layout``.
    """

    def __init__(self, sink: Sink, *, sources: Sequence[str] | None = None, keys: Sequence[str] | None = None,
                 wait_time: float = 0.5, incomplete: str = "send", layout: str | None = None,
                 input_layout: str = "file", layout_keys: Sequence[str] = ("image.data",)) -> None:
        for name, value in (("layout", layout), ("input_layout", input_layout)):
            if value is not None and value not in LAYOUTS:
                raise ValueError(f"{name} must be one of {LAYOUTS}, not {value!r}")
        self.sink = sink
        self.sources = list(sources) if sources else None
        self.keys = list(keys) if keys else None
        self.layout = None if layout == input_layout else layout
        self.layout_keys = tuple(layout_keys)
        self.configure(wait_time=wait_time, incomplete=incomplete)
        self.trains_complete = 0
        self.trains_incomplete = 0
        self.trains_discarded = 0       # incomplete trains not sent (incomplete='drop')
        self.items_late = 0             # items of a train that was already sent or discarded
        self.items_ignored = 0          # items of a source not selected
        self.end_of_streams = 0
        self._known: set[str] = set(self.sources or ())
        self._pending: dict[int, tuple[float, dict, dict]] = {}
        self._last_tid = -1
        self._lock = threading.Lock()

    def configure(self, *, wait_time: float | None = None, incomplete: str | None = None) -> None:
        """Change the wait time or the incomplete-train policy while running."""
        if incomplete is not None:
            if incomplete not in ("send", "drop"):
                raise ValueError(f"incomplete must be 'send' or 'drop', not {incomplete!r}")
            self.incomplete = incomplete
        if wait_time is not None:
            if wait_time < 0:
                raise ValueError(f"wait_time must not be negative, not {wait_time}")
            self.wait_time = float(wait_time)

    @property
    def pending(self) -> int:
        """Trains waiting for sources."""
        return len(self._pending)

    def add(self, data: Hash, source: str, sec: int, frac: int, tid: int, now: float | None = None) -> None:
        """Take one pipeline item of ``source`` for train ``tid`` (its arrays are not copied)."""
        if self.sources is not None and source not in self.sources:
            self.items_ignored += 1
            return
        props = hash_to_dict(data)
        meta = karabo_metadata(source, sec, frac, tid)
        if self.keys:
            ignored = [k for k in props if not any(fnmatch.fnmatchcase(k, g) for g in self.keys)]
            for key in ignored:
                del props[key]
            if ignored:
                meta["ignored_keys"] = ignored
        if self.layout is not None:
            for key in self.layout_keys:
                if isinstance(props.get(key), np.ndarray):
                    props[key] = relayout(props[key], self.layout)
        now = time.monotonic() if now is None else now
        with self._lock:
            if tid <= self._last_tid:
                self.items_late += 1
                log.debug("late item of train %d from %s", tid, source)
                return
            self._known.add(source)
            _, train, metadata = self._pending.setdefault(tid, (now, {}, {}))
            train[source] = props
            metadata[source] = meta
            if self._known.issubset(train):
                self._flush_older(tid)
                self._emit(tid, complete=True)

    def expire(self, now: float | None = None) -> None:
        """Send or drop the trains that waited ``wait_time`` seconds (call this regularly)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            for tid in sorted(t for t, (first, _, _) in self._pending.items() if now - first >= self.wait_time):
                if tid in self._pending:   # an earlier iteration may have flushed it already
                    self._flush_older(tid)
                    self._emit(tid, complete=False)

    def end_of_stream(self) -> None:
        """An output ended its stream: whatever is pending goes out now."""
        with self._lock:
            self.end_of_streams += 1
            self._flush_older(None)

    def _flush_older(self, tid: int | None) -> None:
        """Send or discard pending trains before ``tid`` (all of them for None) to keep ID order."""
        # sorted: items of a later train may have arrived first
        for older in sorted(t for t in self._pending if tid is None or t < tid):
            self._emit(older, complete=self._known.issubset(self._pending[older][1]))

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
        self.sink(train, metadata)
