"""Physical units of middlelayer values, through pint (a dependency, imported on first use).

Karabo's middlelayer makes every number a pint quantity. Here values stay plain numbers and arrays
(cheap to read and compare) that know their unit: ``value.units``, ``value.magnitude`` and
``value.to("mm")`` answer like pint, and assigning a pint quantity to a property converts it to the
declared unit (``self.position = 5 * unit.mm`` stores 0.005 on a METER property) or raises pint's
``DimensionalityError`` when the dimensions differ. ``unit`` is the registry, with Karabo's own units
(``number``, ``count``, ``pixel``, ...) added.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from pykarabo.units import MetricPrefix, Unit

__all__ = ["unitRegistry", "unitName", "isQuantity", "toUnit"]

# Karabo units pint does not know by the name Karabo gives them (Unit.unitName).
_KARABO_UNITS = (
    "number = []",
    "count = [] = #",
    "pixel = number = px",
    "meter_per_second = meter / second",
    "volt_per_second = volt / second",
    "ampere_per_second = ampere / second",
    "revolutions_per_minute = revolution / minute",
    "electronvolt = electron_volt",
    "@alias degree_Celsius = degree_celsius",
    "not_assigned = number",
)

_registry: Any = None
_lock = threading.Lock()


def unitRegistry() -> Any:
    """The pint UnitRegistry of middlelayer values (created on first use)."""
    global _registry
    with _lock:
        if _registry is None:
            try:
                import pint
            except ImportError:
                raise ImportError("values with units need pint: pip install pint") from None
            registry = pint.UnitRegistry()
            for definition in _KARABO_UNITS:
                registry.define(definition)
            _registry = registry
    return _registry


def unitName(attributes: Mapping[str, Any]) -> str:
    """The pint name of the unit declared by schema ``attributes`` (``"number"`` when there is none)."""
    unit = Unit.fromAttributes(attributes)
    if unit is None or unit is Unit.NUMBER:
        return "number"
    prefix = MetricPrefix.fromAttributes(attributes) or MetricPrefix.NONE
    return prefix.metricPrefixName + unit.unitName


def isQuantity(value: Any) -> bool:
    """Whether ``value`` is a pint quantity (recognised without importing pint)."""
    return all(hasattr(value, name) for name in ("magnitude", "units", "to", "dimensionality"))


def toUnit(quantity: Any, attributes: Mapping[str, Any]) -> Any:
    """The magnitude of ``quantity`` in the unit of ``attributes`` (pint's DimensionalityError if they differ)."""
    return quantity.to(unitName(attributes)).magnitude
