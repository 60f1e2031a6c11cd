"""A pipeline between middlelayer devices on the embedded broker: copy and shared distribution, end-of-stream."""

import numpy as np
import pytest

from pykarabo.middlelayer import (AccessMode, Configurable, Device, InputChannel, Int32, NDArray, OutputChannel, Slot,
                                  String, UInt16, UInt32, connectDevice, execute, getOutputChannelInfo, waitUntil)

N = 20


class Frame(Configurable):
    image = NDArray(dtype=UInt16, shape=(8, 8))
    count = UInt32(defaultValue=0)


class Camera(Device):
    output = OutputChannel(Frame)

    @Slot(displayedName="Acquire")
    async def acquire(self):
        for i in range(N):
            self.output.schema.count = i
            self.output.schema.image = np.full((8, 8), i, np.uint16)
            await self.output.writeData()
        await self.output.writeEndOfStream()


class Processor(Device):
    received = Int32(accessMode=AccessMode.READONLY, defaultValue=0)
    checksum = Int32(accessMode=AccessMode.READONLY, defaultValue=0)
    ends = Int32(accessMode=AccessMode.READONLY, defaultValue=0)
    source = String(accessMode=AccessMode.READONLY, defaultValue="")

    @InputChannel(displayedName="Input")
    async def input(self, data, meta):
        assert data.image.value.shape == (8, 8) and int(data.image.value[0, 0]) == int(data.count)
        self.received = self.received.value + 1
        self.checksum = self.checksum.value + int(data.count)
        self.source = meta.source
        assert meta.timestamp.getSeconds() > 0

    @input.endOfStream
    async def input(self, name):
        self.ends = self.ends.value + 1


@pytest.mark.parametrize("distribution", ["copy", "shared"])
def test_pipeline_between_two_devices(bus, distribution):
    async def test():
        # shared inputs are served by the output's noInputShared policy (Karabo's default drops)
        camera = await bus.start(Camera({"deviceId": "PIPE/CAM", "output.noInputShared": "wait"}))
        receivers = []
        for i in range(2):
            config = {"deviceId": f"PIPE/PROC/{i}", "input.connectedOutputChannels": ["PIPE/CAM:output"],
                      "input.onSlowness": "wait", "input.dataDistribution": distribution}
            await bus.start(Processor(config))
            receivers.append(await connectDevice(f"PIPE/PROC/{i}"))
        for proxy in receivers:
            await waitUntil(lambda: len(proxy.input.missingConnections) == 0, timeout=10)
        await camera.output.waitForInputs(2, timeout=10)
        assert (await getOutputChannelInfo("PIPE/CAM", "output"))["port"] == camera.output.connectionInfo()["port"]
        await execute("PIPE/CAM", "acquire")
        await waitUntil(lambda: all(p.ends == 1 for p in receivers), timeout=10)
        counts = [p.received.value for p in receivers]
        sums = [p.checksum.value for p in receivers]
        if distribution == "copy":
            assert counts == [N, N] and sums == [sum(range(N))] * 2
        else:
            assert sum(counts) == N and sum(sums) == sum(range(N))
        assert receivers[0].source == "PIPE/CAM:output"
    bus.run(test, timeout=40)
