"""Values know the unit of their property; pint quantities are converted on assignment (Karabo's §6.3)."""

import numpy as np
import pint
import pytest
from hypothesis import given
from hypothesis import strategies as st

from examples.motor import SimulatedMotor
from pykarabo.errors import ValidationError
from pykarabo.middlelayer import (Configurable, Double, Int32, MetricPrefix, NDArray, Unit, VectorDouble,
                                  connectDevice, setWait, unit)


class Holder(Configurable):
    position = Double(unitSymbol=Unit.METER, defaultValue=0.0)
    gap = Double(unitSymbol=Unit.METER, metricPrefixSymbol=MetricPrefix.MILLI, defaultValue=1.0, maxInc=5000.0)
    temperature = Double(unitSymbol=Unit.DEGREE_CELSIUS, defaultValue=20.0)
    count = Int32(defaultValue=0)
    times = VectorDouble(unitSymbol=Unit.SECOND, defaultValue=[])
    trace = NDArray(dtype=Double, shape=(3,), unitSymbol=Unit.VOLT)


def test_quantities_are_converted_to_the_declared_unit():
    h = Holder()
    h.position = 5 * unit.mm
    assert h.position == pytest.approx(0.005) and h.position.units == unit.meter
    assert h.position.to("mm").magnitude == pytest.approx(5.0) and h.position.magnitude == h.position.value
    h.gap = 1.5 * unit.m
    assert h.gap == pytest.approx(1500.0) and h.gap.units == unit.millimeter
    h.temperature = unit.Quantity(300.0, "kelvin")
    assert h.temperature == pytest.approx(26.85)
    h.count = 7 * unit.number
    assert h.count == 7 and h.count.units == unit.number
    h.times = np.array([1.0, 2.0]) * unit.ms
    assert list(h.times) == pytest.approx([0.001, 0.002]) and h.times.units == unit.second
    h.trace = np.array([1.0, 2.0, 3.0]) * unit.mV
    assert list(h.trace) == pytest.approx([0.001, 0.002, 0.003]) and h.trace.units == unit.volt
    h.position = 2.0                                  # a bare number is in the declared unit
    assert h.position.to("cm").magnitude == pytest.approx(200.0)


def test_wrong_dimensions_and_limits_after_conversion_are_refused():
    h = Holder()
    with pytest.raises(pint.DimensionalityError):
        h.position = 3 * unit.second
    with pytest.raises(pint.DimensionalityError):
        h.count = 2 * unit.meter
    with pytest.raises(ValidationError, match="out of upper bound 5000"):
        h.gap = 6 * unit.m                            # 6000 mm
    assert h.position == 0.0 and h.gap == 1.0 and h.count == 0


@given(st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from(["m", "mm", "um", "km", "s", "V", "degC"]))
def test_any_quantity_is_converted_or_refused_whole(magnitude, symbol):
    h = Holder()
    quantity = unit.Quantity(magnitude, symbol)
    if quantity.check("[length]"):
        h.position = quantity
        assert h.position.value == pytest.approx(quantity.to("m").magnitude)
    else:
        with pytest.raises(pint.DimensionalityError):
            h.position = quantity
        assert h.position == 0.0


def test_proxy_values_know_their_units(bus):
    async def test():
        await bus.start(SimulatedMotor({"deviceId": "UNIT/MOTOR/1"}))
        motor = await connectDevice("UNIT/MOTOR/1")
        assert motor.position.units == unit.meter and motor.velocity.to("mm/s").magnitude == pytest.approx(2000.0)
        assert motor.stepTime.to("ms").magnitude == pytest.approx(10.0)
        assert motor.state.units == unit.number       # every value answers, unit-less ones dimensionless
    bus.run(test)


def test_proxy_assignment_converts_quantities_to_the_remote_unit(bus):
    async def test():
        await bus.start(SimulatedMotor({"deviceId": "UNIT/MOTOR/2"}))
        motor = await connectDevice("UNIT/MOTOR/2")
        await setWait(motor, velocity=250 * unit.mm / unit.s)
        assert motor.velocity == pytest.approx(0.25) and motor.velocity.to("mm/s").magnitude == pytest.approx(250.0)
        with pytest.raises(pint.DimensionalityError):
            await setWait(motor, velocity=3 * unit.volt)
        assert motor.velocity == pytest.approx(0.25)
    bus.run(test)
