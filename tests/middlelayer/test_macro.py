"""The ported example devices: a simulated motor driven by a scan macro, on the embedded broker."""

import asyncio

import pytest

from examples.motor import ScanMacro, SimulatedMotor
from pykarabo.errors import KaraboError
from pykarabo.middlelayer import State, call, connectDevice, execute, waitUntil


def test_scan_macro_moves_the_motor(bus):
    async def test():
        await bus.start(SimulatedMotor({"deviceId": "SIM/MOTOR/1"}))
        macro = await bus.start(ScanMacro({"deviceId": "SCAN/1", "steps": 3, "stop": 0.5}))
        proxy = await connectDevice("SCAN/1")
        assert proxy.state == State.PASSIVE and macro._instanceInfo()["type"] == "macro"
        await proxy.scan()                        # returns at once, the body runs in the background
        assert proxy.state == State.ACTIVE and proxy.currentSlot == "scan"
        with pytest.raises(KaraboError, match="not allowed"):
            await execute("SCAN/1", "scan")
        await waitUntil(lambda: proxy.state == State.PASSIVE, timeout=10)
        assert proxy.visited == "0.000,0.250,0.500" and proxy.currentSlot == ""
        assert await call("SIM/MOTOR/1", "distanceTo", 2.0) == pytest.approx(1.5)
    bus.run(test, timeout=40)


def test_macro_cancel_returns_to_passive(bus):
    async def test():
        motor = await bus.start(SimulatedMotor({"deviceId": "SIM/MOTOR/1", "velocity": 0.01}))
        await bus.start(ScanMacro({"deviceId": "SCAN/2", "steps": 2, "stop": 1.0}))
        proxy = await connectDevice("SCAN/2")
        await proxy.scan()
        await waitUntil(lambda: motor.state == State.MOVING, timeout=10)
        await proxy.cancel()
        await waitUntil(lambda: proxy.state == State.PASSIVE, timeout=10)
        await asyncio.sleep(0.05)
        assert proxy.visited == "0.000" or proxy.visited == ""
        mover = motor._mover                      # started with background(): owned by the motor
        assert motor.state == State.MOVING and not mover.done()
        await motor.slotKillDevice()
        assert mover.cancelled()
    bus.run(test, timeout=40)
