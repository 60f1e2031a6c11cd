"""``SimulatedXgm``: a middlelayer device in the style of European XFEL's X-ray gas monitors.

While ACQUIRING it publishes, ten times a second, the mean pulse energy of the train and the beam
position, drifting slowly around ``nominalPulseEnergy`` and the axis with shot-to-shot noise.  Now
and then the beam is lost for a few trains (pulse energy near zero, ``beamPresent`` false), as
after a machine trip.  ``start``/``stop`` switch between ON (idle) and ACQUIRING.
"""

from __future__ import annotations

import math
import time

import numpy as np

from pykarabo.middlelayer import (AccessMode, Bool, Configurable, Device, Double, MetricPrefix, Node, Slot, State,
                                  UInt64, Unit, background, sleep)

__all__ = ["SimulatedXgm"]

_RO = AccessMode.READONLY
TRAIN_PERIOD = 0.1          # seconds: European XFEL delivers 10 trains per second
_LOSS_PERIOD = 150          # trains from one simulated beam loss to the next
_LOSS_START = 120           # train of each period at which the beam is lost ...
_LOSS_TRAINS = 15           # ... for this many trains


class BeamPosition(Configurable):
    """Horizontal and vertical beam position at the monitor."""

    x = Double(displayedName="X", unitSymbol=Unit.METER, metricPrefixSymbol=MetricPrefix.MILLI, accessMode=_RO,
               defaultValue=0.0)
    y = Double(displayedName="Y", unitSymbol=Unit.METER, metricPrefixSymbol=MetricPrefix.MILLI, accessMode=_RO,
               defaultValue=0.0)


class SimulatedXgm(Device):
    """Pulse energy and beam position of every train, while ACQUIRING."""

    __version__ = "1.0"

    nominalPulseEnergy = Double(displayedName="Nominal pulse energy", unitSymbol=Unit.JOULE,
                                metricPrefixSymbol=MetricPrefix.MICRO, defaultValue=1500.0, minExc=0.0,
                                description="The mean the simulated beam drifts around")
    pulseEnergy = Double(displayedName="Pulse energy", unitSymbol=Unit.JOULE, metricPrefixSymbol=MetricPrefix.MICRO,
                         accessMode=_RO, defaultValue=0.0, description="Mean pulse energy of the last train")
    beamPosition = Node(BeamPosition, displayedName="Beam position")
    beamPresent = Bool(displayedName="Beam present", accessMode=_RO, defaultValue=False)
    trainsMeasured = UInt64(displayedName="Trains measured", accessMode=_RO, defaultValue=0)

    @Slot(displayedName="Start", allowedStates=[State.ON])
    async def start(self):
        """Start measuring every train."""
        self.state = State.ACQUIRING
        self._acquisition = background(self._measure())

    @Slot(displayedName="Stop", allowedStates=[State.ACQUIRING])
    async def stop(self):
        """Stop measuring."""
        if self._acquisition is not None:
            self._acquisition.cancel()
            self._acquisition = None
        self.status = "Idle"
        self.state = State.ON

    async def onInitialization(self):
        self._acquisition = None
        self._rng = np.random.default_rng()
        self.status = "Idle"
        self.state = State.ON

    async def _measure(self):
        count = int(self.trainsMeasured.value)
        next_ = time.monotonic()
        while True:
            next_ += TRAIN_PERIOD
            await sleep(max(0.0, next_ - time.monotonic()))
            count += 1
            self._publish(count)

    def _publish(self, count: int) -> None:
        beam = not _LOSS_START <= count % _LOSS_PERIOD < _LOSS_START + _LOSS_TRAINS
        drift = 1 + 0.1 * math.sin(count / 50)
        noise = self._rng.normal(0, 0.05)
        energy = self.nominalPulseEnergy.value * drift * (1 + noise) if beam else abs(self._rng.normal(0, 2.0))
        # assigned together: one signalChanged carries them all
        self.pulseEnergy = round(energy, 2)
        self.beamPosition.x = round(0.2 * math.sin(count / 80) + self._rng.normal(0, 0.02), 4)
        self.beamPosition.y = round(0.1 * math.cos(count / 60) + self._rng.normal(0, 0.02), 4)
        self.trainsMeasured = count
        if beam != self.beamPresent.value:
            self.beamPresent = beam
            self.status = "Measuring" if beam else "No beam"
