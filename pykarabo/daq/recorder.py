"""Train matching for the DAQ: pipeline items and property updates in, whole trains out to a RunWriter.

Sans-I/O: no thread, loop or socket; the caller passes the time (``time.monotonic()`` seconds) and
serialises the calls.  The middlelayer ``DaqWriter`` drives it from one executor thread, the bound
``BoundDaqWriter`` under a lock, ``pykarabo daq record`` from its receive loop.

Rules (see the EXDF spec, §16, and the module docstring of :mod:`pykarabo.daq.runwriter`):

* A train is written once every *expected* source (the configured outputs and every source seen in
  the run) has delivered items for it, or has already moved on to a later train (outputs send in
  train order), or when ``maxWait`` seconds passed since its first item: then it is written without
  the missing sources and counted in ``incompleteTrains``.  Outputs known only by address (the CLI)
  are counted in ``minSources``: until that many sources were seen, trains wait for ``maxWait``.
  Trains are written in train-ID order; at most ``maxPending`` trains wait at a time (the oldest is
  written early beyond that).
* Items for a train already written (late, duplicated or older train IDs) are dropped, counted in
  ``droppedItems`` and logged: nothing is written twice for a train.  Items without a train ID
  (0: the sender has no time server) cannot be placed and are dropped the same way.
* Property updates of control sources apply from the train given by their ``tid`` attribute on
  (0: from the next train written).  An update stamped for a train already written applies from the
  next train (``lateUpdates``); updates older than the value held are dropped by the RunWriter.
* Sources appearing mid-run are registered when they first send (RunWriter counts them).
* Without any instrument source to follow (``clock=True``), trains are generated every 0.1 s so that
  control-only runs are recorded; their IDs count tenths of seconds since the epoch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pykarabo import Hash
from pykarabo.daq.runwriter import RunWriter

log = logging.getLogger(__name__)

TRAIN_PERIOD = 0.1          # seconds between trains (10 Hz), for the clock of control-only runs
RATE_WINDOW = 1.0           # seconds over which bytesPerSecond is averaged


@dataclass
class _Train:
    timestamp: int                   # ns since the epoch (the first item's)
    since: float                     # monotonic time of its first item
    sources: dict[str, list[Hash]] = field(default_factory=dict)


def _updateTrain(changes: Hash) -> int:
    """The train ID an update belongs to: the largest ``tid`` attribute of its leaves (0 if none)."""
    tid = 0
    for node in changes.nodes():
        value = node.getValue()
        if type(value) is Hash:
            tid = max(tid, _updateTrain(value))
        else:
            tid = max(tid, int(node.getAttributes().get("tid", 0) or 0))
    return tid


def timestampNs(sec: int, frac: int) -> int:
    """Nanoseconds since the epoch from Karabo seconds and attoseconds."""
    return int(sec) * 1_000_000_000 + int(frac) // 1_000_000_000


class Recorder:
    """Matches the trains of one run and writes them through ``writer``."""

    def __init__(self, writer: RunWriter, *, maxWait: float = 1.0, expected: Iterable[str] = (),
                 pulseGroups: Iterable[str] = ("image",), maxPending: int = 100, clock: bool = False,
                 trainLimit: int | None = None, minSources: int = 0):
        self.writer = writer
        self.maxWait = float(maxWait)
        self.expected = set(expected)
        self.pulseGroups = tuple(pulseGroups)
        self.maxPending = max(1, int(maxPending))
        self.clock = clock
        self.trainLimit = trainLimit
        self.minSources = minSources   # sources to wait for whose names are not known in advance
        self.droppedItems = 0
        self.incompleteTrains = 0
        self.lateUpdates = 0
        self.items = 0
        self.bytesPerSecond = 0.0
        self._pending: dict[int, _Train] = {}
        self._lastTid: dict[str, int] = {}          # per instrument source: newest train ID received
        self._updates: list[tuple[int, str, Hash]] = []   # (tid, source, changes) waiting for their train
        self._rateMark: tuple[float, int] | None = None
        self._warnedNoTid: set[str] = set()
        self._controls: set[str] = set()
        self._finished = False
        self._clockAt: float | None = None   # when the clock last made a train

    # -- input ------------------------------------------------------------------------------------

    def addControl(self, source: str, configuration: Hash, schema: Any = None, classId: str | None = None) -> None:
        """Record the properties of ``source``: ``configuration`` gives its RUN values and keys."""
        self.writer.add_control_source(source, configuration, schema, classId)
        self._controls.add(source)

    def addItem(self, source: str, trainId: int, timestamp: int, data: Hash, now: float) -> None:
        """One pipeline item of ``source`` for ``trainId`` (``timestamp`` in ns since the epoch)."""
        if self._finished:
            return   # queued behind finish(): the run is closed
        self.items += 1
        trainId = int(trainId)
        if trainId <= 0 or trainId <= self.writer.lastTrainId:
            self.droppedItems += 1
            if trainId <= 0:
                if source not in self._warnedNoTid:
                    self._warnedNoTid.add(source)
                    log.warning("%s sends items without a train ID: they cannot be recorded", source)
            else:
                log.info("item of %s for train %d dropped: train %d is already written", source, trainId,
                         self.writer.lastTrainId)
            return
        if source not in self._lastTid:
            self.writer.add_instrument_source(source, pulse_groups=self.pulseGroups)
            self.expected.add(source)
        self._lastTid[source] = max(self._lastTid.get(source, 0), trainId)
        train = self._pending.get(trainId)
        if train is None:
            train = self._pending[trainId] = _Train(timestamp or time.time_ns(), now)
        train.sources.setdefault(source, []).append(data)
        self._writeReady(now)

    def addUpdate(self, source: str, changes: Hash) -> None:
        """Property updates of control source ``source`` (leaves stamped with ``sec``/``frac``/``tid``)."""
        if source not in self._controls or self._finished:
            return   # not recorded (e.g. a device that answered nothing at run start)
        tid = _updateTrain(changes)
        if tid and tid <= self.writer.lastTrainId:
            self.lateUpdates += 1
            log.debug("update of %s for train %d arrived after train %d was written", source, tid,
                      self.writer.lastTrainId)
        self._updates.append((tid, source, changes))

    def poll(self, now: float) -> None:
        """Write the trains whose wait is over (or the clock's train), flush when due, update the rate."""
        if self._finished:
            return
        if self.clock and not self._lastTid and not self._limitReached() and (
                self._clockAt is None or now - self._clockAt >= TRAIN_PERIOD * 0.999):
            self._clockAt = now
            self._write(max(self.writer.lastTrainId + 1, time.time_ns() // int(TRAIN_PERIOD * 1e9)),
                        _Train(time.time_ns(), now))
        self._writeReady(now)
        self.writer.flush_if_due()
        self._rate(now)

    def finish(self) -> list[Path]:
        """Write every pending train (however incomplete) and close the run; returns its files."""
        self._finished = True
        try:
            while self._pending and not self.writer.failed:
                self._writeOldest()
        finally:
            files = self.writer.close()
        return files

    # -- state ------------------------------------------------------------------------------------

    @property
    def trainsWritten(self) -> int:
        """Trains recorded so far."""
        return self.writer.stats.trains

    @property
    def droppedTrains(self) -> int:
        """Trains that could not be recorded: late or duplicate items (per item), rejected train IDs."""
        return self.droppedItems + self.writer.stats.rejectedTrains

    @property
    def currentFile(self) -> str:
        """Name of the sequence file written last (empty before the first train)."""
        files = self.writer.currentFiles
        return files[-1].name if files else (self.writer.closedFiles[-1].name if self.writer.closedFiles else "")

    @property
    def pendingTrains(self) -> int:
        """Trains waiting for sources."""
        return len(self._pending)

    # -- writing ----------------------------------------------------------------------------------

    def _complete(self, trainId: int, train: _Train) -> bool:
        if len(self._lastTid) < self.minSources:
            return False
        return all(s in train.sources or self._lastTid.get(s, 0) > trainId for s in self.expected)

    def _writeReady(self, now: float) -> None:
        while self._pending:
            oldest = min(self._pending)
            train = self._pending[oldest]
            if not (self._complete(oldest, train) or now - train.since >= self.maxWait
                    or len(self._pending) > self.maxPending):
                return
            self._writeOldest()

    def _writeOldest(self) -> None:
        tid = min(self._pending)
        train = self._pending.pop(tid)
        if self._limitReached():
            return
        if not self._complete(tid, train):
            self.incompleteTrains += 1
            missing = sorted(s for s in self.expected if s not in train.sources and self._lastTid.get(s, 0) <= tid)
            log.info("train %d written without %s", tid, ", ".join(missing))
        self._write(tid, train)

    def _limitReached(self) -> bool:
        return self.trainLimit is not None and self.writer.stats.trains >= self.trainLimit

    def _write(self, tid: int, train: _Train) -> None:
        due = [u for u in self._updates if u[0] <= tid]
        if due:
            self._updates = [u for u in self._updates if u[0] > tid]
            for _, source, changes in sorted(due, key=lambda u: u[0]):   # stable: arrival order per train
                self.writer.update_control(source, changes, train.timestamp)
        self.writer.write_train(tid, train.timestamp, train.sources)

    def _rate(self, now: float) -> None:
        nbytes = self.writer.stats.bytes
        if self._rateMark is None:
            self._rateMark = (now, nbytes)
        elif now - self._rateMark[0] >= RATE_WINDOW:
            self.bytesPerSecond = (nbytes - self._rateMark[1]) / (now - self._rateMark[0])
            self._rateMark = (now, nbytes)
