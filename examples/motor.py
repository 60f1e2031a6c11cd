"""A simulated motor and a scan macro, in the style of Karabo's middlelayer tutorial devices.

Run them on a server (from the repository root)::

    pykarabo server --id motorServer --plugins examples.motor \\
        --init '{"SIM/MOTOR/1": {"classId": "SimulatedMotor"}}'

then, in another terminal, ``python -m examples.motor SIM/MOTOR/1`` moves the motor and prints its path.
"""

from __future__ import annotations

import sys

from pykarabo.middlelayer import (AccessMode, Device, Double, Macro, Slot, State, String, Unit, background,
                                  connectDevice, sleep, slot, waitUntil)


class SimulatedMotor(Device):
    """Moves ``position`` towards ``targetPosition`` at ``velocity``; MOVING while on its way, ON at rest."""

    __version__ = "1.0"

    position = Double(displayedName="Position", unitSymbol=Unit.METER, accessMode=AccessMode.READONLY,
                      defaultValue=0.0)
    velocity = Double(displayedName="Velocity", unitSymbol=Unit.METER_PER_SECOND, defaultValue=2.0,
                      minExc=0.0, maxInc=100.0, allowedStates=[State.ON])
    targetPosition = Double(displayedName="Target position", unitSymbol=Unit.METER, defaultValue=0.0,
                            minInc=-100.0, maxInc=100.0)
    stepTime = Double(displayedName="Step time", unitSymbol=Unit.SECOND, defaultValue=0.01, minExc=0.0,
                      accessMode=AccessMode.INITONLY)

    @Slot(displayedName="Move", allowedStates=[State.ON])
    async def move(self):
        """Start moving to the target position."""
        self.state = State.MOVING
        self._mover = background(self._moveLoop())

    @Slot(displayedName="Stop", allowedStates=[State.MOVING])
    async def stop(self):
        """Stop where the motor is."""
        self._mover.cancel()
        self.state = State.ON

    @slot
    def distanceTo(self, where):
        """A plain slot with an argument: how far ``where`` is from the current position."""
        return abs(float(where) - self.position.value)

    async def _moveLoop(self):
        step = self.velocity.value * self.stepTime.value
        while abs(self.targetPosition.value - self.position.value) > 1e-9:
            delta = self.targetPosition.value - self.position.value
            self.position = self.position.value + max(-step, min(step, delta))
            await sleep(self.stepTime.value)
        self.state = State.ON

    async def onInitialization(self):
        self._mover = None
        self.state = State.ON


class ScanMacro(Macro):
    """Moves a motor through ``steps`` equidistant positions from ``start`` to ``stop``."""

    __version__ = "1.0"

    motorId = String(displayedName="Motor", defaultValue="SIM/MOTOR/1")
    start = Double(displayedName="Start", defaultValue=0.0)
    stop = Double(displayedName="Stop", defaultValue=1.0)
    steps = Double(displayedName="Steps", defaultValue=3.0, minInc=2.0)
    visited = String(displayedName="Visited positions", accessMode=AccessMode.READONLY, defaultValue="")

    @Slot(displayedName="Scan")
    async def scan(self):
        """Visit every position and record it."""
        motor = await connectDevice(self.motorId.value)
        n = int(self.steps.value)
        positions = [self.start.value + i * (self.stop.value - self.start.value) / (n - 1) for i in range(n)]
        visited = []
        for target in positions:
            motor.targetPosition = target
            await waitUntil(lambda: motor.targetPosition == target)
            await motor.move()
            await waitUntil(lambda: motor.state == State.ON)
            visited.append(f"{motor.position.value:.3f}")
            self.visited = ",".join(visited)


def main(deviceId: str) -> None:
    """Move the motor to 1 m and back, printing the positions (blocking scripting functions)."""
    motor = connectDevice(deviceId)
    for target in (1.0, 0.0):
        motor.targetPosition = target
        motor.move()
        waitUntil(lambda: motor.state == State.ON, timeout=30)
        print(f"{deviceId} reached {motor.position.value:.3f} m")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "SIM/MOTOR/1")
