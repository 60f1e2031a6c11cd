"""The miniature instrument of ``pykarabo demo``: which devices run, with which ids, and how they are wired.

::

    DEMO/DET/<m> (bound) ──output──► DEMO/CAL/<m> (bound) ──output──► DEMO/CAL/STACK (middlelayer)
          │                                                                 │ output
          │                                                                 ▼
          └────────────────────────► DEMO/DAQ/1 (DaqWriter)      DEMO/BRIDGE/1 (PipeToZeroMQ) ──► bridge clients
                                          ▲ CONTROL sources
                          DEMO/MOTOR/1, DEMO/XGM/1 (middlelayer)

The DAQ records the raw module outputs (as European XFEL's DAQ does) and the motor and XGM as
CONTROL sources; the bridge serves the corrected, stacked stream.  Every device runs on one
device server; this module is the only place that chooses device classes and configures them
(the bridge and DAQ devices included).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pykarabo.bridge.mdl_device import PipeToZeroMQ
from pykarabo.daq.mdl_device import DaqWriter
from pykarabo.demo.stacker import ModuleStacker
from pykarabo.demo.xgm import SimulatedXgm
from pykarabo.examples.bound_calibration import BoundCalibration
from pykarabo.examples.bound_detector import BoundDetectorModule
from pykarabo.examples.motor import SimulatedMotor
from pykarabo.server.plugins import classId

__all__ = ["BRIDGE", "DAQ", "MOTOR", "SERVER", "STACKER", "XGM", "Layout", "calibrationIds", "deviceClasses",
           "detectorIds", "initConfiguration", "shutdownOrder"]

SERVER = "DEMO_SERVER"
STACKER = "DEMO/CAL/STACK"
BRIDGE = "DEMO/BRIDGE/1"
DAQ = "DEMO/DAQ/1"
MOTOR = "DEMO/MOTOR/1"
XGM = "DEMO/XGM/1"


@dataclass(frozen=True)
class Layout:
    """What the user chose: detector size and rate, where the bridge serves and the DAQ writes."""

    modules: int = 4
    pulses: int = 16
    frequency: float = 10.0
    bridgeAddress: str = "tcp://127.0.0.1:0"
    bridgeLayout: str = "online"
    directory: Path = Path(".")


def detectorIds(layout: Layout) -> list[str]:
    """The detector module devices, in module order."""
    return [f"DEMO/DET/{m}" for m in range(layout.modules)]


def calibrationIds(layout: Layout) -> list[str]:
    """The calibration devices, one per module."""
    return [f"DEMO/CAL/{m}" for m in range(layout.modules)]


def shutdownOrder(layout: Layout) -> list[list[str]]:
    """The devices in the order they are killed, consumers before producers: no input sees its output vanish."""
    return [[BRIDGE, DAQ], [STACKER], calibrationIds(layout), detectorIds(layout), [MOTOR, XGM]]


def deviceClasses() -> dict[str, type]:
    """classId → class of every device the demo server hosts."""
    classes = (BoundDetectorModule, BoundCalibration, ModuleStacker, SimulatedMotor, SimulatedXgm, PipeToZeroMQ,
               DaqWriter)
    return {classId(cls): cls for cls in classes}


def initConfiguration(layout: Layout) -> dict[str, dict]:
    """The server's ``init``: deviceId → configuration with ``classId``."""
    init: dict[str, dict] = {}
    for det, cal in zip(detectorIds(layout), calibrationIds(layout)):
        init[det] = {"classId": "BoundDetectorModule", "frequency": layout.frequency, "pulses": layout.pulses}
        # Constants for the cells the modules send only: 352 cells would cost ~185 MB per device.
        init[cal] = {"classId": "BoundCalibration", "memoryCells": layout.pulses,
                     "input.connectedOutputChannels": [f"{det}:output"]}
    init[STACKER] = {"classId": "ModuleStacker",
                     "input.connectedOutputChannels": [f"{cal}:output" for cal in calibrationIds(layout)]}
    init[BRIDGE] = {"classId": "PipeToZeroMQ", "address": layout.bridgeAddress, "pattern": "REP",
                    "layout": layout.bridgeLayout, "input.connectedOutputChannels": [f"{STACKER}:output"]}
    # A slow disk must not stall the online path: the DAQ's input queues a few trains, then drops.
    init[DAQ] = {"classId": "DaqWriter", "directory": str(layout.directory), "runNumber": 1,
                 "controlDevices": [MOTOR, XGM], "input.onSlowness": "queueDrop", "input.maxQueueLength": 10,
                 "input.connectedOutputChannels": [f"{det}:output" for det in detectorIds(layout)]}
    init[MOTOR] = {"classId": "SimulatedMotor", "velocity": 0.5}
    init[XGM] = {"classId": "SimulatedXgm"}
    return init
