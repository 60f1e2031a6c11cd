"""``BoundDaqWriter``: the DAQ as a bound (threaded) device, with the properties of the middlelayer ``DaqWriter``.

Same configuration, slots, states and live values as :class:`pykarabo.daq.mdl_device.DaqWriter`;
pipeline handlers, slots and a poll thread share the recorder under one lock, so a slow disk slows
the input (its ``onSlowness`` decides what the senders do) and nothing else.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from pykarabo import Hash
from pykarabo.bound import (DOUBLE_ELEMENT, INPUT_CHANNEL, KARABO_CLASSINFO, SLOT_ELEMENT, STRING_ELEMENT,
                            UINT32_ELEMENT, UINT64_ELEMENT, VECTOR_STRING_ELEMENT, PythonDevice, Schema, State,
                            Unit)
from pykarabo.daq.recorder import Recorder, timestampNs
from pykarabo.daq.runwriter import DaqError
from pykarabo.daq.session import POLL_INTERVAL, REQUEST_TIMEOUT, DaqSettings, controlSource, liveValues, openRun
from pykarabo.errors import KaraboError

__all__ = ["BoundDaqWriter"]


@KARABO_CLASSINFO("BoundDaqWriter", "1.0")
class BoundDaqWriter(PythonDevice):
    """Records trains of pipeline data and device properties into European XFEL run directories."""

    @staticmethod
    def expectedParameters(expected: Schema) -> None:
        (
            VECTOR_STRING_ELEMENT(expected).key("controlDevices").displayedName("Control devices")
            .description("Devices whose properties are recorded as CONTROL sources")
            .assignmentOptional().defaultValue([]).reconfigurable().allowedStates(State.ON).commit(),
            STRING_ELEMENT(expected).key("directory").displayedName("Directory")
            .description("Base directory: runs are written to <directory>/r<runNumber>")
            .assignmentOptional().defaultValue("daq").reconfigurable().allowedStates(State.ON).commit(),
            UINT32_ELEMENT(expected).key("runNumber").displayedName("Run number")
            .description("Number of the next run (advanced when a run stops)")
            .assignmentOptional().defaultValue(1).minInc(1).reconfigurable().allowedStates(State.ON).commit(),
            UINT32_ELEMENT(expected).key("proposal").displayedName("Proposal")
            .assignmentOptional().defaultValue(0).reconfigurable().allowedStates(State.ON).commit(),
            DOUBLE_ELEMENT(expected).key("maxWait").displayedName("Max. wait")
            .description("How long a train waits for missing sources").unit(Unit.SECOND)
            .assignmentOptional().defaultValue(1.0).minInc(0.0).reconfigurable().allowedStates(State.ON).commit(),
            DOUBLE_ELEMENT(expected).key("flushInterval").displayedName("Flush interval")
            .description("A crash loses at most this much of the open file").unit(Unit.SECOND)
            .assignmentOptional().defaultValue(10.0).minExc(0.0).reconfigurable().allowedStates(State.ON).commit(),
            UINT32_ELEMENT(expected).key("trainsPerFile").displayedName("Trains per file")
            .assignmentOptional().defaultValue(500).minInc(1).reconfigurable().allowedStates(State.ON).commit(),
            STRING_ELEMENT(expected).key("formatVersion").displayedName("Format version").options("1.3,1.0")
            .assignmentOptional().defaultValue("1.3").reconfigurable().allowedStates(State.ON).commit(),
            VECTOR_STRING_ELEMENT(expected).key("pulseGroups").displayedName("Pulse groups")
            .description("Index groups whose arrays hold one row per frame (leading axis)")
            .assignmentOptional().defaultValue(["image"]).reconfigurable().allowedStates(State.ON).commit(),
            VECTOR_STRING_ELEMENT(expected).key("compressKeys").displayedName("Compressed keys")
            .description("Keys written with deflate (level 1), e.g. masks")
            .assignmentOptional().defaultValue(["image.mask", "image.gain"]).reconfigurable().allowedStates(State.ON)
            .commit(),
            UINT64_ELEMENT(expected).key("trainsWritten").displayedName("Trains written")
            .readOnly().initialValue(0).commit(),
            DOUBLE_ELEMENT(expected).key("bytesPerSecond").displayedName("Bytes per second").unit(Unit.BYTE)
            .readOnly().initialValue(0.0).commit(),
            UINT64_ELEMENT(expected).key("droppedTrains").displayedName("Dropped trains")
            .description("Items for trains already written, without train ID, or rejected")
            .readOnly().initialValue(0).commit(),
            UINT64_ELEMENT(expected).key("incompleteTrains").displayedName("Incomplete trains")
            .description("Trains written after maxWait without every source").readOnly().initialValue(0).commit(),
            STRING_ELEMENT(expected).key("currentFile").displayedName("Current file").readOnly().initialValue("")
            .commit(),
            STRING_ELEMENT(expected).key("runDirectory").displayedName("Run directory").readOnly().initialValue("")
            .commit(),
            INPUT_CHANNEL(expected).key("input").displayedName("Input").commit(),
            SLOT_ELEMENT(expected).key("startRun").displayedName("Start run").allowedStates(State.ON).commit(),
            SLOT_ELEMENT(expected).key("stopRun").displayedName("Stop run").allowedStates(State.ACQUIRING).commit(),
            SLOT_ELEMENT(expected).key("reset").displayedName("Reset").allowedStates(State.ERROR).commit(),
        )

    def __init__(self, configuration: Hash) -> None:
        super().__init__(configuration)
        self._daqLock = threading.RLock()   # the recorder is not thread-safe: handlers, slots and poller share it
        self._recorder: Recorder | None = None
        self._lastFailed: Recorder | None = None
        self._watched: list[str] = []
        self._stopPolling = threading.Event()
        self._poller = threading.Thread(target=self._poll, daemon=True, name=f"daq poll {self.getInstanceId()}")
        self.KARABO_SLOT(self.startRun)
        self.KARABO_SLOT(self.stopRun)
        self.KARABO_SLOT(self.reset)
        self.KARABO_SLOT(self.slotDaqControlChanged, numArgs=2)
        self.KARABO_ON_DATA("input", self._onData)
        self.registerInitialFunction(self._initialize)

    def _initialize(self) -> None:
        self.updateState(State.ON)
        self._poller.start()

    def preDestruction(self) -> None:
        if self._recorder is not None:
            self.stopRun()
        self._stopPolling.set()
        self._poller.join(5)

    # -- slots ------------------------------------------------------------------------------------

    def startRun(self) -> None:
        """Open the next run and record into it."""
        settings = DaqSettings.fromGetter(self.get)
        for deviceId in settings.controlDevices:   # subscribed first: no update between the reply and now is lost
            self.connect(deviceId, "signalChanged", "slotDaqControlChanged")
            self._watched.append(deviceId)
        try:
            controls = [self._controlSource(d) for d in settings.controlDevices]
            recorder = openRun(settings, controls)
        except (DaqError, KaraboError) as e:
            self._unwatch()
            self.logger.error("run %d not started: %s", settings.runNumber, e)
            self.set("status", f"Run {settings.runNumber} not started: {e}")
            raise
        with self._daqLock:
            self._recorder = recorder
        self.set(Hash("runDirectory", str(recorder.writer.directory), "trainsWritten", 0, "droppedTrains", 0,
                      "incompleteTrains", 0, "bytesPerSecond", 0.0, "currentFile", "",
                      "status", f"Recording run {settings.runNumber}"))
        self.updateState(State.ACQUIRING)

    def stopRun(self) -> None:
        """Write what is pending, close the run's files and advance ``runNumber``."""
        with self._daqLock:
            recorder, self._recorder = self._recorder, None
            if recorder is None:
                return
            self._unwatch()
            try:
                files = recorder.finish()
            except DaqError as e:
                self._failed(recorder, e)
                return
        live = liveValues(recorder)
        live["currentFile"] = files[-1].name if files else ""
        status = f"Run {recorder.writer.run} recorded: {recorder.trainsWritten} trains in {len(files)} files"
        self.logger.info("%s (%s)", status, recorder.writer.directory)
        self.updateState(State.ON, Hash(*(x for kv in live.items() for x in kv), "status", status,
                                        "runNumber", recorder.writer.run + 1))

    def reset(self) -> None:
        """Leave ERROR after a failed run."""
        self.updateState(State.ON, Hash("status", ""))

    def slotDaqControlChanged(self, changes: Hash, deviceId: str) -> None:
        """Property updates of a recorded control device (connected to its ``signalChanged``)."""
        self._withRecorder(lambda r: r.addUpdate(deviceId, changes))

    # -- recording --------------------------------------------------------------------------------

    def _controlSource(self, deviceId: str) -> tuple:
        ms = int(REQUEST_TIMEOUT * 1000)
        try:
            schema = self.request(deviceId, "slotGetSchema", False).waitForReply(ms)
            config = self.request(deviceId, "slotGetConfiguration").waitForReply(ms)
        except TimeoutError:
            raise KaraboError(f"control device {deviceId} did not answer within {REQUEST_TIMEOUT} s") from None
        return controlSource(deviceId, schema, config)

    def _onData(self, data: Hash, meta: Any) -> None:
        ts = meta.getTimestamp()
        self._withRecorder(lambda r: r.addItem(meta.getSource(), ts.getTid(),
                                               timestampNs(ts.getSeconds(), ts.getFractionalSeconds()), data,
                                               time.monotonic()))

    def _withRecorder(self, fn: Callable[[Recorder], Any]) -> None:
        with self._daqLock:
            recorder = self._recorder
            if recorder is None:
                return   # not recording
            try:
                fn(recorder)
            except DaqError as e:
                self._failed(recorder, e)

    def _poll(self) -> None:
        while not self._stopPolling.wait(POLL_INTERVAL):
            live = None
            with self._daqLock:
                recorder = self._recorder
                if recorder is not None:
                    try:
                        recorder.poll(time.monotonic())
                        live = liveValues(recorder)
                    except DaqError as e:
                        self._failed(recorder, e)
            if live is not None:
                changed = Hash()
                for key, value in live.items():
                    if self.get(key) != value:
                        changed[key] = value
                if not changed.empty():
                    self.set(changed)

    def _unwatch(self) -> None:
        ss = self._ss   # None once the device left the bus
        for deviceId in self._watched if ss is not None else ():
            ss.disconnect(deviceId, "signalChanged", "slotDaqControlChanged")
        self._watched = []

    def _failed(self, recorder: Recorder, error: DaqError) -> None:
        """Called with the lock held: stop the run, keep closed files, report in state, status and log."""
        if recorder is self._lastFailed:
            return
        self._lastFailed = recorder
        self._recorder = None
        self._unwatch()
        recorder.writer.close()   # abandons the failed file, closed files stay as they are
        self.logger.error("run %d stopped: %s", recorder.writer.run, error)
        live = liveValues(recorder)
        self.updateState(State.ERROR, Hash(*(x for kv in live.items() for x in kv),
                                           "status", f"Run {recorder.writer.run} stopped: {error}"))
