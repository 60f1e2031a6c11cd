"""Pipelines between bound devices: the example detector -> calibration -> sink chain, handlers, strict writes."""

from __future__ import annotations

import os
import socket
import threading
import time

import numpy as np
import pytest

from examples.bound_calibration import BoundCalibration, BoundTrainSink
from examples.bound_detector import FIRST_TRAIN, BoundDetectorModule
from pykarabo.bound import (INPUT_CHANNEL, KARABO_CLASSINFO, OUTPUT_CHANNEL, UINT32_ELEMENT, Hash, PythonDevice,
                            Schema, State, Types)
from pykarabo.errors import KaraboError, ValidationError
from tests.bound.conftest import T


def chain(bus, trains: int, pulses: int = 4, sink: type = BoundTrainSink):
    out = bus.start(sink, Hash("deviceId", "BOUND/SINK/1", "input.connectedOutputChannels", ["BOUND/CAL/1:output"],
                               "input.onSlowness", "wait"))
    cal = bus.start(BoundCalibration, Hash("deviceId", "BOUND/CAL/1", "input.onSlowness", "wait",
                                           "input.connectedOutputChannels", ["BOUND/DET/1:output"]))
    det = bus.start(BoundDetectorModule, Hash("deviceId", "BOUND/DET/1", "frequency", 0.0, "pulses", pulses,
                                              "numTrains", trains))
    out.waitInputsConnected(T)
    cal.waitInputsConnected(T)
    cal.waitForInputs("output", 1, T)   # the outputs know their inputs: nothing is dropped
    det.waitForInputs("output", 1, T)
    return det, cal, out


@KARABO_CLASSINFO("RecordingSink", "1.0")
class RecordingSink(BoundTrainSink):
    def __init__(self, configuration):
        super().__init__(configuration)
        self.received = []

    def onData(self, data, meta):
        super().onData(data, meta)
        self.received.append((data["image.data"].copy(), meta.getTimestamp().getTid(), meta.getSource()))


def test_detector_calibration_sink_chain(bus):
    det, cal, sink = chain(bus, trains=5, sink=RecordingSink)
    received = sink.received
    assert bus.request("BOUND/DET/1", "start") == ("ON",)
    assert sink.ended.wait(T)
    assert [tid for _, tid, _ in received] == list(range(FIRST_TRAIN, FIRST_TRAIN + 5))
    assert {source for _, _, source in received} == {"BOUND/CAL/1:output"}
    first = received[0][0]
    raw = det._frames[FIRST_TRAIN % len(det._frames)]
    expected = (raw.astype(np.float32) - cal._offset[:4]) * cal._gain[:4]
    assert first.dtype == np.float32 and first.shape == (4, 512, 128)
    np.testing.assert_allclose(first, expected, rtol=1e-6)
    assert cal["streamsEnded"] == 1 and cal["trainsCorrected"] == 5
    assert det["trainsSent"] == 5 and det["state"] is State.OFF
    names = bus.request("BOUND/CAL/1", "slotGetOutputChannelNames")[0]
    assert list(names) == ["output"]
    info = bus.request("BOUND/CAL/1", "slotGetOutputChannelInformation", Hash("channelId", "output"))[0]
    assert info["success"] and info["info"]["port"] == cal["output.port"]


@KARABO_CLASSINFO("InputCounter", "1.0")
class InputCounter(PythonDevice):
    @staticmethod
    def expectedParameters(expected):
        INPUT_CHANNEL(expected).key("input").commit()

    def __init__(self, configuration):
        super().__init__(configuration)
        self.sizes: list[int] = []
        self.trainIds: list[int] = []
        self.ended = threading.Event()
        self.KARABO_ON_INPUT("input", self.onInput)
        self.KARABO_ON_EOS("input", lambda input: self.ended.set())

    def onInput(self, input):
        self.sizes.append(input.size())
        self.trainIds += [int(input.read(i)["trainId"]) for i in range(input.size())]
        assert [m.getTimestamp().getTid() for m in input.getMetaData()] == self.trainIds[-input.size():]


def test_input_handler_reads_every_item(bus):
    counter = bus.start(InputCounter, Hash("deviceId", "BOUND/SINK/1", "input.onSlowness", "wait",
                                           "input.connectedOutputChannels", ["BOUND/DET/1:output"]))
    bus.start(BoundDetectorModule, Hash("deviceId", "BOUND/DET/1", "frequency", 0.0, "pulses", 2,
                                        "numTrains", 3))
    counter.waitInputsConnected(T)
    bus.devices[-1].waitForInputs("output", 1, T)
    bus.request("BOUND/DET/1", "start")
    assert counter.ended.wait(T)
    assert counter.trainIds == [FIRST_TRAIN, FIRST_TRAIN + 1, FIRST_TRAIN + 2]
    assert all(size == 1 for size in counter.sizes)


@KARABO_CLASSINFO("StrictWriter", "1.0")
class StrictWriter(PythonDevice):
    @staticmethod
    def expectedParameters(expected):
        data = Schema("Data")
        UINT32_ELEMENT(data).key("count").readOnly().commit()
        OUTPUT_CHANNEL(expected).key("output").dataSchema(data).commit()
        INPUT_CHANNEL(expected).key("input").commit()


def test_write_channel_is_strict_about_types_and_keys(bus):
    writer = bus.start(StrictWriter, Hash("deviceId", "BOUND/WRITER/1"))
    with pytest.raises(KaraboError, match="Expect 'UINT32', but got 'INT32' for count"):
        writer.writeChannel("output", Hash("count", 5))
    typed = Hash()
    typed.setAs("count", 5, Types.UINT32)
    writer.writeChannel("output", typed)
    with pytest.raises(ValidationError, match="unexpected configuration parameter"):
        writer.writeChannel("output", Hash("other", 1))
    with pytest.raises(TypeError, match="expects a Hash"):
        writer.writeChannel("output", {"count": 5})
    with pytest.raises(KaraboError, match='no open output channel "nothing"'):
        writer.writeChannel("nothing", typed)
    with pytest.raises(KaraboError, match='no input channel "output"'):
        writer.KARABO_ON_DATA("output", print)


@KARABO_CLASSINFO("TwoInputs", "1.0")
class TwoInputs(PythonDevice):
    @staticmethod
    def expectedParameters(expected):
        INPUT_CHANNEL(expected).key("a").commit()
        INPUT_CHANNEL(expected).key("b").commit()

    def __init__(self, configuration):
        super().__init__(configuration)
        self.barrier = threading.Barrier(2, timeout=T)
        self.met = []
        self.KARABO_ON_DATA("a", self.onData)
        self.KARABO_ON_DATA("b", self.onData)

    def onData(self, data, meta):
        # Both handlers must be inside at once: they would break the barrier if run one after the other.
        self.met.append(self.barrier.wait())


def test_handlers_of_two_inputs_run_in_parallel(bus):
    both = bus.start(TwoInputs, Hash("deviceId", "BOUND/BOTH/1",
                                     "a.connectedOutputChannels", ["BOUND/DETA/1:output"], "a.onSlowness", "wait",
                                     "b.connectedOutputChannels", ["BOUND/DETB/1:output"], "b.onSlowness", "wait"))
    detectors = [bus.start(BoundDetectorModule, Hash("deviceId", f"BOUND/DET{x}/1", "frequency", 0.0, "pulses", 1,
                                                     "numTrains", 1)) for x in "AB"]
    both.waitInputsConnected(T)
    for det in detectors:
        det.waitForInputs("output", 1, T)
        det.execute("start")
    deadline = time.monotonic() + T
    while len(both.met) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(both.met) == [0, 1] and not both.barrier.broken


@KARABO_CLASSINFO("ArraySink", "1.0")
class ArraySink(BoundTrainSink):
    def __init__(self, configuration):
        super().__init__(configuration)
        self.arrays = []

    def onData(self, data, meta):
        super().onData(data, meta)
        self.arrays.append(data["image.data"])


def test_devices_of_one_process_hand_trains_over_in_memory(bus, monkeypatch):
    det, cal, sink = chain(bus, trains=3, sink=ArraySink)
    request = Hash("channelId", "output", "processId", os.getpid(), "hostname", socket.gethostname())
    info = bus.request("BOUND/CAL/1", "slotGetOutputChannelInformation", request)[0]["info"]
    assert info["memoryLocation"] == "local"      # as Karabo answers a requester of the same process
    request["processId"] = os.getpid() + 1
    info = bus.request("BOUND/CAL/1", "slotGetOutputChannelInformation", request)[0]["info"]
    assert info["memoryLocation"] == "remote"
    monkeypatch.setenv("KARABO_NO_PIPELINE_SHORTCUT", "1")
    request["processId"] = os.getpid()
    info = bus.request("BOUND/CAL/1", "slotGetOutputChannelInformation", request)[0]["info"]
    assert info["memoryLocation"] == "remote"
    assert bus.request("BOUND/DET/1", "start") == ("ON",)
    assert sink.ended.wait(T)
    # the calibration writes a fresh array per train with safeNDArray: the sink gets that very
    # array (owning its memory), not a view into a buffer received through a socket
    assert len(sink.arrays) == 3 and all(a.flags.owndata for a in sink.arrays)
