"""A simulated AGIPD-like detector module written with the bound API: trains of (pulses, 512, 128) uint16.

``start`` sends trains on ``output`` at ``frequency`` trains/s (0: as fast as the consumers take them)
until ``numTrains`` were sent (0: endless) or ``stop``; every train carries ``image.data``,
``image.cellId``, ``image.pulseId`` and ``trainId``, time-stamped with its train id.

Try it with a calibration device and a printing sink: ``python -m examples.bound_calibration``.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from pykarabo.bound import (DOUBLE_ELEMENT, KARABO_CLASSINFO, NDARRAY_ELEMENT, NODE_ELEMENT, OUTPUT_CHANNEL,
                            SLOT_ELEMENT, UINT32_ELEMENT, UINT64_ELEMENT, DaqDataType, Epochstamp, Hash,
                            PythonDevice, Schema, State, Timestamp, Types, Unit, Worker)

MODULE_SHAPE = (512, 128)   # pixels of one AGIPD module
FIRST_TRAIN = 10_000_000
_FRAMES = 4                 # distinct raw frames cycled through (generating noise per train would dominate)


def trainSchema(dtype: Types = Types.UINT16) -> Schema:
    """The data of one train: the image stack and its per-pulse ids."""
    data = Schema("Train")
    (
        NODE_ELEMENT(data).key("image").displayedName("Image").setDaqDataType(DaqDataType.TRAIN).commit(),
        NDARRAY_ELEMENT(data).key("image.data").displayedName("Data").dtype(dtype)
        .shape([0, *MODULE_SHAPE]).commit(),
        NDARRAY_ELEMENT(data).key("image.cellId").displayedName("Memory cells").dtype(Types.UINT16)
        .shape([0]).commit(),
        NDARRAY_ELEMENT(data).key("image.pulseId").displayedName("Pulse ids").dtype(Types.UINT64)
        .shape([0]).commit(),
        UINT64_ELEMENT(data).key("trainId").displayedName("Train id").readOnly().commit(),
    )
    return data


@KARABO_CLASSINFO("BoundDetectorModule", "1.0")
class BoundDetectorModule(PythonDevice):
    """Sends simulated detector trains while ON."""

    @staticmethod
    def expectedParameters(expected: Schema) -> None:
        (
            DOUBLE_ELEMENT(expected).key("frequency").displayedName("Frequency")
            .description("Trains per second (0: as fast as possible)").unit(Unit.HERTZ)
            .assignmentOptional().defaultValue(10.0).minInc(0.0).reconfigurable().commit(),
            UINT32_ELEMENT(expected).key("pulses").displayedName("Pulses per train")
            .assignmentOptional().defaultValue(64).minInc(1).maxInc(352).init().commit(),
            UINT64_ELEMENT(expected).key("numTrains").displayedName("Trains to send")
            .description("Trains sent by one start (0: until stopped); end-of-stream follows")
            .assignmentOptional().defaultValue(0).reconfigurable().allowedStates(State.OFF).commit(),
            UINT64_ELEMENT(expected).key("trainsSent").displayedName("Trains sent").readOnly().commit(),
            SLOT_ELEMENT(expected).key("start").displayedName("Start").allowedStates(State.OFF).commit(),
            SLOT_ELEMENT(expected).key("stop").displayedName("Stop").allowedStates(State.ON).commit(),
            OUTPUT_CHANNEL(expected).key("output").displayedName("Output").dataSchema(trainSchema()).commit(),
        )

    def __init__(self, configuration: Hash) -> None:
        super().__init__(configuration)
        self.KARABO_SLOT(self.start)
        self.KARABO_SLOT(self.stop)
        self.registerInitialFunction(self.initialization)
        self._worker: Worker | None = None
        self._stopRequested = threading.Event()

    def initialization(self) -> None:
        pulses = self["pulses"]
        rng = np.random.default_rng(0)
        self._frames = [rng.integers(0, 16384, size=(pulses, *MODULE_SHAPE), dtype=np.uint16)
                        for _ in range(_FRAMES)]
        self._cellId = np.arange(pulses, dtype=np.uint16)
        self._train = FIRST_TRAIN
        self.updateState(State.OFF)

    def start(self) -> None:
        self._stopRequested.clear()
        self.updateState(State.ON)
        # Worker pauses between calls; the pacing to ``frequency`` is done in _run itself.
        self._worker = Worker(self._run, timeout=-1, single_shot=True).start()

    def stop(self) -> None:
        self._stopRequested.set()

    def preDestruction(self) -> None:
        self._stopRequested.set()
        if self._worker is not None:
            self._worker.join(5)

    def _run(self) -> None:
        limit = self["numTrains"]
        sent = 0
        next_ = time.monotonic()
        while not self._stopRequested.is_set() and (limit == 0 or sent < limit):
            frequency = self["frequency"]
            if frequency > 0:
                next_ += 1 / frequency
                time.sleep(max(0.0, next_ - time.monotonic()))
            self._sendTrain()
            sent += 1
            if sent % 10 == 0 or sent == limit:
                self.set("trainsSent", sent)
        self.signalEndOfStream("output")
        self.set("trainsSent", sent)
        self.updateState(State.OFF)

    def _sendTrain(self) -> None:
        train = self._train
        self._train += 1
        data = Hash()
        data["image.data"] = self._frames[train % _FRAMES]
        data["image.cellId"] = self._cellId
        data["image.pulseId"] = np.arange(train * 1000, train * 1000 + len(self._cellId), dtype=np.uint64)
        data.setAs("trainId", train, Types.UINT64)
        # The frames are never changed: no copy needed.
        self.writeChannel("output", data, Timestamp(Epochstamp(), train), safeNDArray=True)
