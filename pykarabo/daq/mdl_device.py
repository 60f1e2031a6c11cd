"""``DaqWriter``: the DAQ as a middlelayer device, recording pipeline outputs and device properties into runs.

Connect outputs through ``input.connectedOutputChannels`` (every output becomes the INSTRUMENT source
``deviceId:channel``), list devices in ``controlDevices`` (CONTROL and RUN sources), then call
``startRun``: the run goes to ``<directory>/r<runNumber>``; ``stopRun`` closes it and advances
``runNumber``.  States: ON (idle), ACQUIRING (recording), ERROR (a write failed: disk full,
permission denied, vanished directory — ``status`` says which; files closed before stay valid;
``reset`` returns to ON).  Train matching and file writing run in one worker thread, so a slow
disk slows the input but never the event loop (each item is awaited: handing several to the worker
at once measured slower, the GIL being shared).  The input's ``onSlowness`` decides what the senders
do meanwhile: Karabo's default ``drop`` drops their items (counted by them, not recorded); set
``input.onSlowness`` to ``wait`` when nothing may be lost.  Train matching: see
:mod:`pykarabo.daq.recorder`; the run format: :mod:`pykarabo.daq.runwriter`.
"""

from __future__ import annotations

import asyncio
import functools
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from pykarabo import Hash
from pykarabo.access import AccessMode
from pykarabo.daq.recorder import Recorder, timestampNs
from pykarabo.daq.runwriter import DaqError
from pykarabo.daq.session import (POLL_INTERVAL, REQUEST_TIMEOUT, DaqSettings, controlSource,
                                  liveValues, openRun)
from pykarabo.errors import KaraboError
from pykarabo.middlelayer import (Device, Double, InputChannel, Slot, State, String, UInt32, UInt64, Unit,
                                  VectorString)

__all__ = ["DaqWriter"]

_IDLE = [State.ON]


class DaqWriter(Device):
    """Records trains of pipeline data and device properties into European XFEL run directories."""

    __version__ = "1.0"

    controlDevices = VectorString(displayedName="Control devices", defaultValue=[], allowedStates=_IDLE,
                                  description="Devices whose properties are recorded as CONTROL sources")
    directory = String(displayedName="Directory", defaultValue="daq", allowedStates=_IDLE,
                       description="Base directory: runs are written to <directory>/r<runNumber>")
    runNumber = UInt32(displayedName="Run number", defaultValue=1, minInc=1, allowedStates=_IDLE,
                       description="Number of the next run (advanced when a run stops)")
    proposal = UInt32(displayedName="Proposal", defaultValue=0, allowedStates=_IDLE)
    maxWait = Double(displayedName="Max. wait", defaultValue=1.0, minInc=0.0, unitSymbol=Unit.SECOND,
                     allowedStates=_IDLE, description="How long a train waits for missing sources")
    flushInterval = Double(displayedName="Flush interval", defaultValue=10.0, minExc=0.0, unitSymbol=Unit.SECOND,
                           allowedStates=_IDLE, description="A crash loses at most this much of the open file")
    trainsPerFile = UInt32(displayedName="Trains per file", defaultValue=500, minInc=1, allowedStates=_IDLE)
    formatVersion = String(displayedName="Format version", defaultValue="1.3", options=["1.3", "1.0"],
                           allowedStates=_IDLE)
    pulseGroups = VectorString(displayedName="Pulse groups", defaultValue=["image"], allowedStates=_IDLE,
                               description="Index groups whose arrays hold one row per frame (leading axis)")
    compressKeys = VectorString(displayedName="Compressed keys", defaultValue=["image.mask", "image.gain"],
                                allowedStates=_IDLE, description="Keys written with deflate (level 1), e.g. masks")

    trainsWritten = UInt64(displayedName="Trains written", accessMode=AccessMode.READONLY, defaultValue=0)
    bytesPerSecond = Double(displayedName="Bytes per second", accessMode=AccessMode.READONLY, defaultValue=0.0,
                            unitSymbol=Unit.BYTE)
    droppedTrains = UInt64(displayedName="Dropped trains", accessMode=AccessMode.READONLY, defaultValue=0,
                           description="Items for trains already written, without train ID, or rejected")
    incompleteTrains = UInt64(displayedName="Incomplete trains", accessMode=AccessMode.READONLY, defaultValue=0,
                              description="Trains written after maxWait without every source")
    currentFile = String(displayedName="Current file", accessMode=AccessMode.READONLY, defaultValue="")
    runDirectory = String(displayedName="Run directory", accessMode=AccessMode.READONLY, defaultValue="")

    @InputChannel(raw=True, displayedName="Input")
    async def input(self, data: Hash, meta: Any) -> None:
        recorder = self._recorder
        if recorder is None:
            return   # not recording
        ts = meta.timestamp
        await self._onWorker(recorder, recorder.addItem, meta.source, ts.getTid(),
                             timestampNs(ts.getSeconds(), ts.getFractionalSeconds()), data, time.monotonic())

    async def onInitialization(self) -> None:
        self._recorder: Recorder | None = None
        self._poller: asyncio.Task | None = None
        self._watched: list[str] = []
        self._lastFailed: Recorder | None = None
        self._worker = ThreadPoolExecutor(1, thread_name_prefix=f"daq {self.deviceId.value}")
        self._sigslot.registerSlot(self._onControlChanged, "slotDaqControlChanged")
        self.state = State.ON

    # -- slots ------------------------------------------------------------------------------------

    @Slot(displayedName="Start run", allowedStates=_IDLE)
    async def startRun(self) -> None:
        """Open the next run and record into it."""
        settings = DaqSettings.fromGetter(lambda key: _plain(self._core.parameters[key]))
        for deviceId in settings.controlDevices:   # subscribed first: no update between the reply and now is lost
            self._sigslot.connect(deviceId, "signalChanged", "slotDaqControlChanged")
            self._watched.append(deviceId)
        await self._sigslot.syncBroker()
        try:
            controls = [await self._controlSource(d) for d in settings.controlDevices]
            recorder = await self._loop.run_in_executor(self._worker, openRun, settings, controls)
        except (DaqError, KaraboError) as e:
            self._unwatch()
            self.logger.error("run %d not started: %s", settings.runNumber, e)
            self.status = f"Run {settings.runNumber} not started: {e}"
            raise
        self._recorder = recorder
        self.runDirectory = str(recorder.writer.directory)
        self.trainsWritten = self.droppedTrains = self.incompleteTrains = 0
        self.bytesPerSecond = 0.0
        self.currentFile = ""
        self.status = f"Recording run {settings.runNumber}"
        self.state = State.ACQUIRING
        self._poller = self._background(self._poll(recorder))

    @Slot(displayedName="Stop run", allowedStates=[State.ACQUIRING])
    async def stopRun(self) -> None:
        """Write what is pending, close the run's files and advance ``runNumber``."""
        recorder = await self._detach()
        if recorder is None:
            return
        try:
            files = await self._loop.run_in_executor(self._worker, recorder.finish)
        except DaqError as e:
            self._failed(recorder, e)
            return
        self._publish(recorder)
        self.currentFile = files[-1].name if files else ""
        self.status = f"Run {recorder.writer.run} recorded: {recorder.trainsWritten} trains in {len(files)} files"
        self.logger.info("%s (%s)", self.status.value, recorder.writer.directory)
        self.runNumber = recorder.writer.run + 1
        self.state = State.ON

    @Slot(displayedName="Reset", allowedStates=[State.ERROR])
    async def reset(self) -> None:
        """Leave ERROR after a failed run."""
        self.status = ""
        self.state = State.ON

    async def onDestruction(self) -> None:
        if self._recorder is not None:
            await self.stopRun()
        self._worker.shutdown(wait=False)

    # -- recording --------------------------------------------------------------------------------

    async def _controlSource(self, deviceId: str) -> tuple:
        request = self._sigslot.request
        try:
            schema = await request(deviceId, "slotGetSchema", False, timeout=REQUEST_TIMEOUT)
            config = await request(deviceId, "slotGetConfiguration", timeout=REQUEST_TIMEOUT)
        except TimeoutError:
            raise KaraboError(f"control device {deviceId} did not answer within {REQUEST_TIMEOUT} s") from None
        return controlSource(deviceId, schema, config)

    def _onControlChanged(self, changes: Hash, deviceId: str) -> None:
        recorder = self._recorder
        if recorder is not None:
            # submitted now, not from a task started later: it reaches the worker before a stopRun's finish
            future = self._loop.run_in_executor(self._worker, recorder.addUpdate, deviceId, changes)
            future.add_done_callback(functools.partial(self._workDone, recorder))

    def _workDone(self, recorder: Recorder, future: asyncio.Future) -> None:
        """A recorder call submitted without waiting finished: a write error fails the run."""
        error = None if future.cancelled() else future.exception()
        if isinstance(error, DaqError):
            self._failed(recorder, error)
        elif error is not None:
            self.logger.error("recording failed", exc_info=error)

    async def _onWorker(self, recorder: Recorder, fn: Callable, *args: Any) -> None:
        """Run a recorder call in the worker thread (calls stay in order); a write error fails the run."""
        try:
            await self._loop.run_in_executor(self._worker, fn, *args)
        except DaqError as e:
            self._failed(recorder, e)

    async def _poll(self, recorder: Recorder) -> None:
        while self._recorder is recorder:
            await self._onWorker(recorder, recorder.poll, time.monotonic())
            if self._recorder is recorder:
                self._publish(recorder)
            await asyncio.sleep(POLL_INTERVAL)

    def _publish(self, recorder: Recorder) -> None:
        for key, value in liveValues(recorder).items():
            if getattr(self, key).value != value:
                setattr(self, key, value)

    async def _detach(self) -> Recorder | None:
        """Stop feeding the recorder; returns it (None if not recording)."""
        recorder, self._recorder = self._recorder, None
        poller, self._poller = self._poller, None
        if poller is not None and poller is not asyncio.current_task():
            poller.cancel()
        self._unwatch()
        return recorder

    def _unwatch(self) -> None:
        for deviceId in self._watched:
            self._sigslot.disconnect(deviceId, "signalChanged", "slotDaqControlChanged")
        self._watched = []

    def _failed(self, recorder: Recorder, error: DaqError) -> None:
        if recorder is self._lastFailed:
            return   # already reported (calls queued behind the failed one fail too)
        self._lastFailed = recorder
        self._recorder = None
        if self._poller is not None and self._poller is not asyncio.current_task():
            self._poller.cancel()
        self._poller = None
        self._unwatch()
        self._worker.submit(recorder.writer.close)   # abandons the failed file, closed files stay as they are
        self.logger.error("run %d stopped: %s", recorder.writer.run, error)
        self._publish(recorder)
        self.status = f"Run {recorder.writer.run} stopped: {error}"
        self.state = State.ERROR


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value

