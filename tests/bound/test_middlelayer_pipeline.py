"""A bound device between middlelayer devices: it reads a middlelayer output and writes to a middlelayer input."""

from __future__ import annotations

import asyncio

from pykarabo.bound import (INPUT_CHANNEL, KARABO_CLASSINFO, NDARRAY_ELEMENT, OUTPUT_CHANNEL, UINT32_ELEMENT,
                            PythonDevice, Schema, Types, startDevice)
from pykarabo.middlelayer import connectDevice, execute, waitUntil
from tests.middlelayer.bus import Bus
from tests.middlelayer.test_pipeline import N, Camera, Processor


@KARABO_CLASSINFO("BoundRelay", "1.0")
class BoundRelay(PythonDevice):
    @staticmethod
    def expectedParameters(expected):
        data = Schema("Frame")
        NDARRAY_ELEMENT(data).key("image").dtype(Types.UINT16).shape("8,8").commit()
        UINT32_ELEMENT(data).key("count").readOnly().commit()
        INPUT_CHANNEL(expected).key("input").commit()
        OUTPUT_CHANNEL(expected).key("output").dataSchema(data).commit()

    def __init__(self, configuration):
        super().__init__(configuration)
        self.KARABO_ON_DATA("input", lambda data, meta: self.writeChannel("output", data, meta.getTimestamp()))
        self.KARABO_ON_EOS("input", lambda input: self.signalEndOfStream("output"))


def test_bound_device_between_middlelayer_devices():
    bus = Bus()

    async def test():
        loop = asyncio.get_running_loop()
        camera = await bus.start(Camera({"deviceId": "MIX/CAM", "output.noInputShared": "wait"}))
        relay = await loop.run_in_executor(None, lambda: startDevice(BoundRelay, {
            "deviceId": "MIX/RELAY", "input.connectedOutputChannels": ["MIX/CAM:output"],
            "input.onSlowness": "wait"}, broker=bus.url, topic=bus.topic))
        try:
            await bus.start(Processor({"deviceId": "MIX/PROC", "input.connectedOutputChannels": ["MIX/RELAY:output"],
                                       "input.onSlowness": "wait"}))
            proc = await connectDevice("MIX/PROC")
            await loop.run_in_executor(None, relay.waitInputsConnected, 10.0)
            await waitUntil(lambda: len(proc.input.missingConnections) == 0, timeout=10)
            await camera.output.waitForInputs(1, timeout=10)
            await loop.run_in_executor(None, relay.waitForInputs, "output", 1, 10.0)
            await execute("MIX/CAM", "acquire")
            await waitUntil(lambda: proc.ends == 1, timeout=10)
            assert proc.received == N and proc.checksum == sum(range(N))
            assert proc.source == "MIX/RELAY:output"
        finally:
            await loop.run_in_executor(None, relay.slotKillDevice)
    bus.run(test, timeout=40)
