"""A calibration device written with the bound API: offset and gain correction of detector trains.

Each train arriving on ``input`` is corrected per pixel and memory cell,
``(raw - offset[cell]) * gain[cell]`` as float32, with numpy (which releases the GIL, so handlers of
several devices overlap), and forwarded on ``output`` with the same train id; end-of-stream is
forwarded too.  The constants are simulated from ``offset`` and ``gain`` with a fixed seed.

    python -m examples.bound_calibration [--trains 50] [--frequency 10]

runs detector -> calibration -> a printing sink in this process on the embedded broker.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np

from .bound_detector import MODULE_SHAPE, BoundDetectorModule, trainSchema
from pykarabo.bound import (DOUBLE_ELEMENT, INPUT_CHANNEL, KARABO_CLASSINFO, OUTPUT_CHANNEL, UINT32_ELEMENT,
                            UINT64_ELEMENT, ChannelMetaData, Hash, InputView, PythonDevice, Schema, State, Types,
                            startDevice)

MAX_CELLS = 352   # memory cells of an AGIPD module


def cellIndex(cells: np.ndarray) -> slice | np.ndarray:
    """Index of the constants of ``cells``: a slice (a view, no copy) when the cells are consecutive."""
    first = int(cells[0]) if len(cells) else 0
    if len(cells) and np.array_equal(cells, np.arange(first, first + len(cells), dtype=cells.dtype)):
        return slice(first, first + len(cells))
    return cells


@KARABO_CLASSINFO("BoundCalibration", "1.0")
class BoundCalibration(PythonDevice):
    """Corrects every train of ``input`` and sends it on ``output``."""

    @staticmethod
    def expectedParameters(expected: Schema) -> None:
        (
            DOUBLE_ELEMENT(expected).key("offset").displayedName("Offset")
            .description("Mean dark level of the simulated offset constants (ADU)")
            .assignmentOptional().defaultValue(1000.0).init().commit(),
            DOUBLE_ELEMENT(expected).key("gain").displayedName("Gain")
            .description("Mean of the simulated relative gain constants")
            .assignmentOptional().defaultValue(1.0).minExc(0.0).init().commit(),
            UINT32_ELEMENT(expected).key("memoryCells").displayedName("Memory cells")
            .description("Memory cells the constants cover (the constants take 2 x 4 bytes per pixel and cell)")
            .assignmentOptional().defaultValue(MAX_CELLS).minInc(1).maxInc(MAX_CELLS).init().commit(),
            UINT64_ELEMENT(expected).key("trainsCorrected").displayedName("Trains corrected").readOnly().commit(),
            UINT32_ELEMENT(expected).key("streamsEnded").displayedName("Streams ended").readOnly().commit(),
            INPUT_CHANNEL(expected).key("input").displayedName("Input").commit(),
            OUTPUT_CHANNEL(expected).key("output").displayedName("Output")
            .dataSchema(trainSchema(Types.FLOAT)).commit(),
        )

    def __init__(self, configuration: Hash) -> None:
        super().__init__(configuration)
        rng = np.random.default_rng(1)
        shape = (self["memoryCells"], *MODULE_SHAPE)
        self._offset = (self["offset"] + rng.normal(0, 10, shape)).astype(np.float32)
        self._gain = (self["gain"] * rng.normal(1, 0.02, shape)).astype(np.float32)
        self._corrected = 0
        self.KARABO_ON_DATA("input", self.onData)
        self.KARABO_ON_EOS("input", self.onEndOfStream)
        self.registerInitialFunction(lambda: self.updateState(State.ON))

    def onData(self, data: Hash, meta: ChannelMetaData) -> None:
        raw = data["image.data"]
        cells = data["image.cellId"]
        index = cellIndex(cells)
        corrected = np.subtract(raw, self._offset[index], dtype=np.float32)
        np.multiply(corrected, self._gain[index], out=corrected)
        out = Hash()
        out["image.data"] = corrected
        out["image.cellId"] = cells
        out["image.pulseId"] = data["image.pulseId"]
        out.setAs("trainId", data["trainId"], Types.UINT64)
        self.writeChannel("output", out, meta.getTimestamp(), safeNDArray=True)   # a fresh array per train
        self._corrected += 1   # handlers of one input run one at a time: no lock needed
        if self._corrected % 10 == 0:
            self.set("trainsCorrected", self._corrected)

    def onEndOfStream(self, input: InputView) -> None:
        self.set(Hash("trainsCorrected", self._corrected, "streamsEnded", self["streamsEnded"] + 1))
        self.signalEndOfStream("output")


@KARABO_CLASSINFO("BoundTrainSink", "1.0")
class BoundTrainSink(PythonDevice):
    """Counts the trains arriving on ``input`` and remembers the last train id and mean value."""

    @staticmethod
    def expectedParameters(expected: Schema) -> None:
        (
            UINT64_ELEMENT(expected).key("trainsReceived").displayedName("Trains received").readOnly().commit(),
            UINT64_ELEMENT(expected).key("lastTrainId").displayedName("Last train id").readOnly().commit(),
            DOUBLE_ELEMENT(expected).key("lastMean").displayedName("Mean of the last train").readOnly().commit(),
            INPUT_CHANNEL(expected).key("input").displayedName("Input").commit(),
        )

    def __init__(self, configuration: Hash) -> None:
        super().__init__(configuration)
        self.ended = threading.Event()
        self._received = 0
        self.KARABO_ON_DATA("input", self.onData)
        self.KARABO_ON_EOS("input", lambda input: self.ended.set())

    def onData(self, data: Hash, meta: ChannelMetaData) -> None:
        self._received += 1
        self.set(Hash("trainsReceived", self._received, "lastTrainId", meta.getTimestamp().getTid(),
                      "lastMean", float(data["image.data"][0, :8, :8].mean())))


def main() -> None:
    p = argparse.ArgumentParser(description="detector -> calibration -> sink, in one process")
    p.add_argument("--trains", type=int, default=50)
    p.add_argument("--frequency", type=float, default=10.0)
    p.add_argument("--broker", default=None, help="broker URL (default: $KARABO_BROKER or the embedded one)")
    args = p.parse_args()
    topic = f"boundexample{os.getpid()}"
    sink = startDevice(BoundTrainSink, Hash("deviceId", "EXAMPLE/SINK/1",
                                            "input.connectedOutputChannels", ["EXAMPLE/CAL/1:output"],
                                            "input.onSlowness", "wait"), broker=args.broker, topic=topic)
    cal = startDevice(BoundCalibration, Hash("deviceId", "EXAMPLE/CAL/1",
                                             "input.connectedOutputChannels", ["EXAMPLE/DET/1:output"],
                                             "input.onSlowness", "wait"), broker=args.broker, topic=topic)
    det = startDevice(BoundDetectorModule, Hash("deviceId", "EXAMPLE/DET/1", "frequency", args.frequency,
                                                "numTrains", args.trains), broker=args.broker, topic=topic)
    try:
        sink.waitInputsConnected()
        cal.waitInputsConnected()
        cal.waitForInputs("output")
        det.waitForInputs("output")
        t0 = time.monotonic()
        det.execute("start")
        sink.ended.wait()
        elapsed = time.monotonic() - t0
        print(f"{sink['trainsReceived']} corrected trains in {elapsed:.2f} s "
              f"({sink['trainsReceived'] / elapsed:.1f} trains/s), last train {sink['lastTrainId']}, "
              f"mean of its first pixels {sink['lastMean']:.1f}")
    finally:
        for device in (det, cal, sink):
            device.slotKillDevice()


if __name__ == "__main__":
    main()
