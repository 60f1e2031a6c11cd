"""What both DAQ devices share: their settings, opening a run, control sources and the live values.

The middlelayer ``DaqWriter`` and the bound ``BoundDaqWriter`` only differ in how they move
messages (asyncio or threads); everything about runs is here and in :mod:`pykarabo.daq.recorder`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pykarabo import Hash
from pykarabo.daq.recorder import Recorder
from pykarabo.daq.runwriter import RunWriter
from pykarabo.schema import Schema

REQUEST_TIMEOUT = 5.0   # seconds a control device has to send its schema and configuration at run start
POLL_INTERVAL = 0.1     # seconds between polls of the recorder (train waits, flushes, live values)


@dataclass
class DaqSettings:
    """The device properties a run is opened with."""

    directory: str
    runNumber: int
    proposal: int
    maxWait: float
    flushInterval: float
    trainsPerFile: int
    formatVersion: str
    pulseGroups: list[str]
    compressKeys: list[str]
    outputs: list[str]          # input.connectedOutputChannels, "deviceId:channel"
    controlDevices: list[str]

    @classmethod
    def fromGetter(cls, get: Any) -> DaqSettings:
        """Settings from ``get(key)`` returning plain values (the devices unwrap theirs)."""
        return cls(directory=str(get("directory")), runNumber=int(get("runNumber")), proposal=int(get("proposal")),
                   maxWait=float(get("maxWait")), flushInterval=float(get("flushInterval")),
                   trainsPerFile=int(get("trainsPerFile")), formatVersion=str(get("formatVersion")),
                   pulseGroups=[str(g) for g in get("pulseGroups")],
                   compressKeys=[str(k) for k in get("compressKeys")],
                   outputs=[str(o) for o in get("input.connectedOutputChannels")],
                   controlDevices=[str(d) for d in get("controlDevices")])


def openRun(settings: DaqSettings, controls: list[tuple[str, Hash, Schema | None]]) -> Recorder:
    """Create ``<directory>/r<runNumber>`` and a recorder for the configured sources (DaqError if impossible)."""
    writer = RunWriter(settings.directory, settings.runNumber, proposal=settings.proposal,
                       max_trains=settings.trainsPerFile, format_version=settings.formatVersion,
                       flush_interval=settings.flushInterval, compress_keys=settings.compressKeys)
    recorder = Recorder(writer, maxWait=settings.maxWait, expected=settings.outputs,
                        pulseGroups=settings.pulseGroups, clock=not settings.outputs)
    try:
        for deviceId, configuration, schema in controls:
            recorder.addControl(deviceId, configuration, schema)
    except BaseException:
        writer.close()
        raise
    return recorder


def controlSource(deviceId: str, schemaReply: tuple, configurationReply: tuple) -> tuple[str, Hash, Schema]:
    """A control source from the replies of ``slotGetSchema`` and ``slotGetConfiguration``."""
    schema = Schema.fromCore(schemaReply[0])
    return deviceId, configurationReply[0], schema


def liveValues(recorder: Recorder) -> dict[str, Any]:
    """The read-only live properties of a device recording with ``recorder``."""
    return {"trainsWritten": recorder.trainsWritten, "bytesPerSecond": float(recorder.bytesPerSecond),
            "droppedTrains": recorder.droppedTrains, "incompleteTrains": recorder.incompleteTrains,
            "currentFile": recorder.currentFile}
