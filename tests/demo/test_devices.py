"""The demo's own middlelayer devices on a private bus: the module stacker and the simulated XGM."""

from __future__ import annotations

import numpy as np

from pykarabo import Hash, Types
from pykarabo.demo.stacker import ModuleStacker
from pykarabo.demo.xgm import SimulatedXgm
from pykarabo.middlelayer import Device, InputChannel, OutputChannel, State, connectDevice, execute, waitUntil
from pykarabo.timestamp import Epochstamp, Timestamp
from tests.middlelayer.bus import Bus

MODULES = ["T/MOD/0:output", "T/MOD/1:output"]


class Module(Device):
    """Stands for a calibration device: the test writes its items."""

    output = OutputChannel()


class Sink(Device):
    """Keeps what arrives on its input."""

    def __init__(self, configuration=None):
        super().__init__(configuration)
        self.received: list[tuple[Hash, object]] = []

    @InputChannel(raw=True)
    async def input(self, data, meta):
        self.received.append((data.copy(), meta))


def frames(module: int, tid: int, shape: tuple = (2, 4, 3)) -> Hash:
    h = Hash()
    h["image.data"] = np.full(shape, 100 * module + tid, dtype=np.float32)
    h["image.cellId"] = np.arange(shape[0], dtype=np.uint16)
    h["image.pulseId"] = np.arange(shape[0], dtype=np.uint64) + tid * 1000
    h.setAs("trainId", tid, Types.UINT64)
    return h


def test_stacker_matches_trains_and_fills_missing_modules():
    bus = Bus()

    async def test():
        modules = [await bus.start(Module({"deviceId": f"T/MOD/{m}"})) for m in range(2)]
        stacker = await bus.start(ModuleStacker({"deviceId": "T/STACK", "maxWait": 0.3,
                                                 "input.connectedOutputChannels": MODULES,
                                                 "input.onSlowness": "wait"}))
        sink = await bus.start(Sink({"deviceId": "T/SINK", "input.connectedOutputChannels": ["T/STACK:output"],
                                     "input.onSlowness": "wait"}))
        proxy = await connectDevice("T/STACK")
        await waitUntil(lambda: not proxy.input.missingConnections, timeout=10)
        await stacker.output.waitForInputs(1, timeout=10)
        for module in modules:
            await module.output.waitForInputs(1, timeout=10)

        async def write(m: int, tid: int, **kwargs) -> None:
            await modules[m].output.writeRawData(frames(m, tid, **kwargs), Timestamp(Epochstamp(1_700_000_000, 0), tid))

        await write(1, 7)          # arrival order does not matter
        await write(0, 7)
        await write(0, 8)          # module 1 never sends train 8
        await write(0, 9)
        await write(1, 9, shape=(3, 4, 3))   # a module with another frame count is left out
        await waitUntil(lambda: len(sink.received) == 3, timeout=10)
        (t7, m7), (t8, m8), (t9, _) = sink.received
        assert t7["image.data"].shape == (2, 2, 4, 3) and t7["image.data"].dtype == np.float32
        np.testing.assert_array_equal(t7["image.data"][:, 0], 7)
        np.testing.assert_array_equal(t7["image.data"][:, 1], 107)
        np.testing.assert_array_equal(t7["image.pulseId"], [7000, 7001])
        assert list(t7["modulesPresent"]) == [1, 1] and t7["trainId"] == 7 and m7.timestamp.getTid() == 7
        assert list(t8["modulesPresent"]) == [1, 0] and m8.timestamp.getTid() == 8
        np.testing.assert_array_equal(t8["image.data"][:, 1], 0)
        assert list(t9["modulesPresent"]) == [1, 0]
        await waitUntil(lambda: proxy.trainsStacked == 3 and proxy.incompleteTrains == 1, timeout=5)
        assert proxy.state == State.ON

    bus.run(test, timeout=40)


def test_xgm_measures_while_acquiring():
    bus = Bus()

    async def test():
        await bus.start(SimulatedXgm({"deviceId": "T/XGM", "nominalPulseEnergy": 800.0}))
        xgm = await connectDevice("T/XGM")
        assert xgm.state == State.ON and xgm.pulseEnergy == 0
        await execute(xgm, "start")
        await waitUntil(lambda: xgm.trainsMeasured >= 5, timeout=10)
        assert xgm.state == State.ACQUIRING and xgm.beamPresent
        assert 400 < xgm.pulseEnergy < 1200 and abs(xgm.beamPosition.x) < 1
        await execute(xgm, "stop")
        assert xgm.state == State.ON
        measured = int(xgm.trainsMeasured)
        await execute(xgm, "start")   # a new acquisition continues the count
        await waitUntil(lambda: xgm.trainsMeasured > measured, timeout=10)

    bus.run(test, timeout=40)
