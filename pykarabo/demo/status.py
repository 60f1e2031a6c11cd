"""What the demo shows while it runs: one ``Status`` snapshot, read from device proxies and the bridge client."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pykarabo.demo import instrument
from pykarabo.demo.instrument import Layout
from pykarabo.demo.probe import BridgeProbe

__all__ = ["Collector", "DeviceRow", "Flow", "Status", "read"]

RATE_WINDOW = 2.0   # seconds over which rates are averaged


def read(proxy: Any, path: str, default: Any = None) -> Any:
    """The plain value of ``path`` of a device proxy (``default`` while it is unknown)."""
    value = proxy
    try:
        for part in path.split("."):
            value = getattr(value, part)
    except AttributeError:
        return default
    value = getattr(value, "value", value)
    return default if value is None else value


@dataclass
class DeviceRow:
    """One device of the dashboard."""

    deviceId: str
    role: str
    state: str
    detail: str


@dataclass
class Flow:
    """One stage of the data path: trains through it so far and per second."""

    stage: str
    trains: int
    rate: float


@dataclass
class Status:
    """Everything the dashboard and the status lines show."""

    elapsed: float
    devices: list[DeviceRow]
    flows: list[Flow]
    bridgeEndpoint: str
    clientReceived: int
    clientShapes: dict[str, tuple]
    daqState: str
    daqTrains: int
    daqMBps: float
    runDirectory: str
    currentFile: str
    notes: list[str] = field(default_factory=list)


class _Rate:
    """Rate of a counter that devices publish in steps (e.g. every ten trains)."""

    def __init__(self) -> None:
        self._samples: list[tuple[float, float]] = []

    def __call__(self, count: float, now: float) -> float:
        # the newest sample older than the window stays as the base: a stalled display still gets a rate
        old = [s for s in self._samples if now - s[0] > RATE_WINDOW][-1:]
        self._samples = old + [s for s in self._samples if now - s[0] <= RATE_WINDOW] + [(now, count)]
        (t0, c0), (t1, c1) = self._samples[0], self._samples[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0


class Collector:
    """Builds ``Status`` snapshots from the proxies of the demo's devices."""

    def __init__(self, layout: Layout, proxies: dict[str, Any], probe: BridgeProbe, bridgeEndpoint: str) -> None:
        self.layout = layout
        self.proxies = proxies
        self.probe = probe
        self.bridgeEndpoint = bridgeEndpoint
        self._start = time.monotonic()
        self._rates: dict[str, _Rate] = {}

    def _rate(self, stage: str, count: float, now: float) -> float:
        return self._rates.setdefault(stage, _Rate())(count, now)

    def status(self) -> Status:
        """A snapshot of now."""
        now = time.monotonic()
        p = self.proxies
        dets = [p[d] for d in instrument.detectorIds(self.layout)]
        cals = [p[c] for c in instrument.calibrationIds(self.layout)]
        stacker, bridge, daq = p[instrument.STACKER], p[instrument.BRIDGE], p[instrument.DAQ]
        motor, xgm = p[instrument.MOTOR], p[instrument.XGM]
        detected = min(int(read(d, "trainsSent", 0)) for d in dets)
        corrected = min(int(read(c, "trainsCorrected", 0)) for c in cals)
        stacked = int(read(stacker, "trainsStacked", 0))
        sent = int(read(bridge, "trainsSent", 0))
        written = int(read(daq, "trainsWritten", 0))
        flows = [Flow("detector modules", detected, self._rate("det", detected, now)),
                 Flow("calibration", corrected, self._rate("cal", corrected, now)),
                 Flow("stacker", stacked, float(read(stacker, "rate", 0.0))),
                 Flow("bridge server", sent, float(read(bridge, "rate", 0.0))),
                 Flow("bridge client", self.probe.received, self.probe.rate()),
                 Flow("DAQ", written, self._rate("daq", written, now))]
        devices = []
        for d in dets:
            devices.append(self._row(d, "detector module (bound)", f"{read(d, 'trainsSent', 0)} trains sent"))
        for c in cals:
            devices.append(self._row(c, "calibration (bound)", f"{read(c, 'trainsCorrected', 0)} trains corrected"))
        devices += [
            self._row(stacker, "module stacker (middlelayer)",
                      f"{stacked} trains, {read(stacker, 'incompleteTrains', 0)} incomplete"),
            self._row(bridge, "bridge PipeToZeroMQ (middlelayer)",
                      f"{sent} trains sent, {float(read(bridge, 'dataRate', 0.0)):.0f} MB/s"),
            self._row(daq, "DAQ writer (middlelayer)",
                      f"{written} trains written, {float(read(daq, 'bytesPerSecond', 0.0)) / 1e6:.0f} MB/s"),
            self._row(motor, "motor (middlelayer)", f"position {float(read(motor, 'position', 0.0)):.3f} m, "
                      f"target {float(read(motor, 'targetPosition', 0.0)):.1f} m"),
            self._row(xgm, "XGM (middlelayer)", f"{float(read(xgm, 'pulseEnergy', 0.0)):.0f} µJ, beam at "
                      f"({float(read(xgm, 'beamPosition.x', 0.0)):+.2f}, "
                      f"{float(read(xgm, 'beamPosition.y', 0.0)):+.2f}) mm"
                      + ("" if read(xgm, "beamPresent", False) else ", no beam")),
        ]
        return Status(elapsed=now - self._start, devices=devices, flows=flows, bridgeEndpoint=self.bridgeEndpoint,
                      clientReceived=self.probe.received, clientShapes=dict(self.probe.lastShapes),
                      daqState=str(read(daq, "state", "UNKNOWN")), daqTrains=written,
                      daqMBps=float(read(daq, "bytesPerSecond", 0.0)) / 1e6,
                      runDirectory=str(read(daq, "runDirectory", "")), currentFile=str(read(daq, "currentFile", "")),
                      notes=[self.probe.error] if self.probe.error else [])

    def _row(self, proxy: Any, role: str, detail: str) -> DeviceRow:
        return DeviceRow(proxy.deviceId, role, str(read(proxy, "state", "UNKNOWN")), detail)
