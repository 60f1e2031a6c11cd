"""``ModuleStacker``: a middlelayer device combining the modules of a detector into one stream.

Its input is connected to the outputs of the per-module devices (``input.connectedOutputChannels``,
in module order); their items are matched by train ID (the bridge's ``TrainMatcher``) and each
train goes out on ``output`` as one item::

    image.data       float32 (pulses, modules, 512, 128)   the modules stacked on axis 1
    image.cellId     uint16  (pulses,)                     taken from the first module present
    image.pulseId    uint64  (pulses,)
    modulesPresent   uint8   (modules,)                    1 where the module's data arrived
    trainId          uint64

This is the layout ``extra_data.stack_detector_data`` gives; a bridge device with ``layout=online``
serves it as (modules, fs, ss, pulses).  A train still missing modules after ``maxWait`` seconds
goes out with zeros in their place (``incompleteTrains`` counts them).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from pykarabo import Hash, Types
from pykarabo.bridge.matcher import TrainMatcher
from pykarabo.middlelayer import (AccessMode, Configurable, Device, Double, Float, InputChannel, NDArray, Node,
                                  OutputChannel, State, UInt8, UInt16, UInt64, Unit)
from pykarabo.timestamp import Epochstamp, Timestamp

__all__ = ["ModuleStacker"]

_RO = AccessMode.READONLY
TICK = 0.1   # seconds between checks for trains that waited long enough


class StackedImage(Configurable):
    """The stacked detector data of one train."""

    data = NDArray(dtype=Float, shape=(0, 0, 512, 128), displayedName="Data",
                   description="Corrected frames, (pulses, modules, slow scan, fast scan)")
    cellId = NDArray(dtype=UInt16, shape=(0,), displayedName="Memory cells")
    pulseId = NDArray(dtype=UInt64, shape=(0,), displayedName="Pulse ids")


class StackedTrain(Configurable):
    """One item of ``output``."""

    image = Node(StackedImage, displayedName="Image")
    modulesPresent = NDArray(dtype=UInt8, shape=(0,), displayedName="Modules present")
    trainId = UInt64(displayedName="Train id", accessMode=_RO)


class ModuleStacker(Device):
    """Matches the trains of detector modules and sends them on stacked into one array."""

    __version__ = "1.0"

    maxWait = Double(displayedName="Max wait", unitSymbol=Unit.SECOND, defaultValue=0.5, minInc=0.0,
                     accessMode=AccessMode.INITONLY, description="How long a train waits for all its modules")
    trainsStacked = UInt64(displayedName="Trains stacked", accessMode=_RO, defaultValue=0)
    incompleteTrains = UInt64(displayedName="Incomplete trains", accessMode=_RO, defaultValue=0)
    rate = Double(displayedName="Rate", unitSymbol=Unit.HERTZ, accessMode=_RO, defaultValue=0.0,
                  description="Trains sent per second")

    output = OutputChannel(StackedTrain, displayedName="Output")

    @InputChannel(raw=True, displayedName="Input")
    async def input(self, data: Hash, meta: Any) -> None:
        ts = meta.timestamp.toDict()
        self._matcher.add(data, meta.source, ts["sec"], ts["frac"], ts["tid"])
        await self._sendReady()

    @input.endOfStream
    async def input(self, name: str) -> None:
        self._matcher.end_of_stream()
        await self._sendReady()

    async def onInitialization(self) -> None:
        # self.input is the channel runner here, so the module order is read from the configuration
        self._modules = list(self.configurationAsHash().get("input.connectedOutputChannels", []))
        self._ready: list[tuple[dict, dict]] = []
        self._matcher = TrainMatcher(lambda train, meta: self._ready.append((train, meta)), sources=self._modules,
                                     wait_time=float(self.maxWait.value), incomplete="send")
        self._sent: list[float] = []
        self.state = State.ON if self._modules else State.ERROR
        self.status = f"Stacking {len(self._modules)} modules" if self._modules else "No modules connected"
        self._background(self._expire())

    async def _expire(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            self._matcher.expire()
            await self._sendReady()
            self._publish()

    async def _sendReady(self) -> None:
        ready, self._ready = self._ready, []
        for train, meta in ready:
            data, timestamp = self._stack(train, meta)
            await self.output.writeRawData(data, timestamp)
            self._sent.append(time.monotonic())

    def _stack(self, train: dict, meta: dict) -> tuple[Hash, Timestamp]:
        first = train[next(s for s in self._modules if s in train)]
        frames = first["image.data"]
        stacked = np.zeros((frames.shape[0], len(self._modules), *frames.shape[1:]), dtype=np.float32)
        present = []
        for index, source in enumerate(self._modules):
            module = train.get(source, {}).get("image.data")
            if module is not None and module.shape != frames.shape:
                self.logger.warning("train %s: frames of %s have shape %s, not %s: left out",
                                    meta[source]["timestamp.tid"], source, module.shape, frames.shape)
                module = None
            if module is not None:
                stacked[:, index] = module
            present.append(module is not None)
        out = Hash()
        out["image.data"] = stacked
        out["image.cellId"] = first["image.cellId"]
        out["image.pulseId"] = first["image.pulseId"]
        out["modulesPresent"] = np.array(present, dtype=np.uint8)
        origin = meta[next(iter(train))]
        tid = int(origin["timestamp.tid"])
        out.setAs("trainId", tid, Types.UINT64)
        return out, Timestamp(Epochstamp(int(origin["timestamp.sec"]), int(origin["timestamp.frac"])), tid)

    def _publish(self) -> None:
        now = time.monotonic()
        self._sent = [t for t in self._sent if now - t < 2.0]
        figures = {"trainsStacked": self._matcher.trains_complete + self._matcher.trains_incomplete,
                   "incompleteTrains": self._matcher.trains_incomplete,
                   "rate": round(len(self._sent) / 2.0, 1)}
        for key, value in figures.items():
            if getattr(self, key).value != value:
                setattr(self, key, value)
