"""Macros on the embedded broker: the scan macro of the motor example, state switching, cancel, and the
printed output published as the ``print`` property."""

import asyncio
import os
import subprocess
import sys
import threading

import pytest

from examples.motor import ScanMacro, SimulatedMotor
from pykarabo.errors import KaraboError
from pykarabo.middlelayer import (AccessMode, Int32, Macro, MacroSlot, Slot, State, call, connectDevice, execute,
                                  executeNoWait, getInstanceInfo, setWait, sleep, waitUntil)
from pykarabo.middlelayer.macro import PRINT_THROTTLE, _MacroOutput
from tests.karabo_env import REPO


def test_scan_macro_moves_the_motor(bus):
    async def test():
        await bus.start(SimulatedMotor({"deviceId": "SIM/MOTOR/1"}))
        await bus.start(ScanMacro({"deviceId": "SCAN/1", "steps": 3, "stop": 0.5}))
        proxy = await connectDevice("SCAN/1")
        assert proxy.state == State.PASSIVE and (await getInstanceInfo("SCAN/1"))["type"] == "macro"
        executeNoWait(proxy, "scan")
        await waitUntil(lambda: proxy.state == State.ACTIVE and proxy.currentSlot == "scan", timeout=5)
        with pytest.raises(KaraboError, match='"scan" is not allowed in current state "ACTIVE"'):
            await execute("SCAN/1", "scan")
        await waitUntil(lambda: proxy.state == State.PASSIVE, timeout=10)
        assert proxy.visited == "0.000,0.250,0.500" and proxy.currentSlot == ""
        await setWait(proxy, stop=0.25)
        assert await proxy.scan() is None            # as in Karabo, the reply comes when the scan is done
        assert proxy.state == State.PASSIVE and proxy.visited == "0.000,0.125,0.250"
        assert await call("SIM/MOTOR/1", "distanceTo", 2.0) == pytest.approx(1.75)
    bus.run(test, timeout=40)


def test_macro_cancel_returns_to_passive(bus):
    async def test():
        motor = await bus.start(SimulatedMotor({"deviceId": "SIM/MOTOR/1", "velocity": 0.01}))
        await bus.start(ScanMacro({"deviceId": "SCAN/2", "steps": 2, "stop": 1.0}))
        proxy = await connectDevice("SCAN/2")
        scan = asyncio.ensure_future(proxy.scan())
        await waitUntil(lambda: motor.state == State.MOVING, timeout=10)
        await proxy.cancel()
        assert await asyncio.wait_for(scan, 5) is None   # the cancelled slot still replies
        await waitUntil(lambda: proxy.state == State.PASSIVE, timeout=10)
        assert proxy.visited == "0.000"                 # the first target is where the motor starts
        mover = motor._mover                      # started with background(): owned by the motor
        assert motor.state == State.MOVING and not mover.done()
        await motor.slotKillDevice()
        assert mover.cancelled()
    bus.run(test, timeout=40)


class Printer(Macro):
    """Prints from its coroutine slot, from a thread slot and from a background MacroSlot."""

    cancelled = Int32(accessMode=AccessMode.READONLY, defaultValue=0)

    @Slot(displayedName="Count")
    async def count(self):
        for i in range(3):
            print("step", i)
            await sleep(0.01)

    @Slot(displayedName="Threaded")
    def threaded(self):
        assert threading.current_thread() is not threading.main_thread()
        print("from a thread", file=sys.stderr)

    @MacroSlot(displayedName="Long", activeState=State.MOVING, passiveState=State.PASSIVE)
    async def long(self):
        print("long started")
        await sleep(30)

    @Slot(displayedName="Fail")
    async def fail(self):
        print("about to fail")
        raise ValueError("macro failed on purpose")

    async def onCancelled(self, slot):
        self.cancelled = self.cancelled.value + 1


def test_macro_prints_are_published_and_other_prints_pass_through(bus, capsys):
    async def test():
        await bus.start(Printer({"deviceId": "PRINT/1"}))
        proxy = await connectDevice("PRINT/1")
        assert isinstance(sys.stdout, _MacroOutput) and isinstance(sys.stderr, _MacroOutput)
        print("not from a macro")
        await proxy.count()
        assert proxy.print == "step 0\nstep 1\nstep 2\n" and proxy.doNotCompressEvents == 1
        await proxy.threaded()
        assert proxy.print == "from a thread\n" and proxy.doNotCompressEvents == 2
        with pytest.raises(KaraboError, match="macro failed on purpose"):
            await proxy.fail()
        assert proxy.print == "about to fail\n" and proxy.state == State.PASSIVE
        assert await proxy.long() is None               # a MacroSlot replies at once
        assert proxy.state == State.MOVING and proxy.currentSlot == "long"
        await waitUntil(lambda: proxy.print == "long started\n", timeout=PRINT_THROTTLE * 4)
        with pytest.raises(KaraboError, match="not allowed in current state"):
            await proxy.count()
        await proxy.cancel()
        await waitUntil(lambda: proxy.state == State.PASSIVE and proxy.cancelled == 1, timeout=5)
    bus.run(test)
    assert not isinstance(sys.stdout, _MacroOutput)   # streams restored once no macro runs
    assert "not from a macro" in capsys.readouterr().out


def test_macro_slots_are_only_allowed_in_the_passive_state():
    h = Printer.getClassSchema().hash
    assert list(h.getAttribute("count", "allowedStates")) == ["PASSIVE"]
    assert not h.hasAttribute("cancel", "allowedStates")     # cancel is always callable, as in Karabo
    assert h.getAttribute("print", "accessMode") == AccessMode.READONLY
    with pytest.raises(ValueError, match="must differ"):
        MacroSlot(activeState=State.ON, passiveState=State.ON)


def test_macro_runs_from_a_script_as_a_client(bus):
    script = ("from examples.motor import ScanMacro; from tests.middlelayer.test_macro import Printer; "
              "Printer.main(['printer', 'count']); "
              "ScanMacro.main(['scan', 'scan', 'steps=2', 'stop=0.5', 'motorId=SIM/MOTOR/1'])")

    def run():
        return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO,
                              env=dict(os.environ, PYTHONPATH=str(REPO), KARABO_BROKER=bus.url,
                                       KARABO_BROKER_TOPIC=bus.topic))

    async def test():
        motor = await bus.start(SimulatedMotor({"deviceId": "SIM/MOTOR/1"}))
        result = await asyncio.to_thread(run)
        assert result.returncode == 0, result.stderr
        assert "step 0\nstep 1\nstep 2\n" in result.stdout          # run from a script, prints stay in the terminal
        assert motor.position == pytest.approx(0.5) and motor.state == State.ON
    bus.run(test, timeout=60)
