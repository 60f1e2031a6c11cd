"""Karabo values: plain Python values that also carry their ``timestamp`` and ``descriptor``.

Reading a property of a device or proxy gives one of these. They behave like the raw value
(``IntValue`` is an ``int``, ``StringValue`` a ``str``, vectors are numpy arrays, ...); ``.value``
gives the raw value and arithmetic gives raw results, so assigning a computed value stamps it anew.
Numbers know the unit of their property (``.units``, ``.to(...)``, see :mod:`.quantities`).
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import numpy as np

from pykarabo import Hash
from pykarabo.middlelayer.quantities import unitName, unitRegistry
from pykarabo.timestamp import Timestamp

__all__ = ["KaraboValue", "BoolValue", "BytesValue", "IntValue", "FloatValue", "StringValue", "EnumValue",
           "VectorValue",
           "VectorStringValue", "TableValue", "NoneValue", "isSet", "stampOf", "wrap"]


class KaraboValue:
    """Mixin: ``timestamp`` (a Timestamp or None) and ``descriptor`` of a value."""

    descriptor: Any = None
    _timestamp: Timestamp | None = None
    _attrs: Any = None   # the node attributes the timestamp is read from, when first asked for

    @property
    def timestamp(self) -> Timestamp | None:
        """When the value was set (with the train id)."""
        if self._timestamp is None and self._attrs is not None:
            self._timestamp = stampOf(self._attrs)
        return self._timestamp

    @timestamp.setter
    def timestamp(self, timestamp: Timestamp | None) -> None:
        self._timestamp = timestamp

    # ---- units (pint's Quantity interface; see pykarabo.middlelayer.quantities) ----------------------

    def _unitAttributes(self) -> Any:
        descriptor = self.descriptor
        if hasattr(descriptor, "kwargs"):                 # a property of our own
            return descriptor.kwargs
        proxy = getattr(descriptor, "proxy", None)        # a property of a proxy: its schema says
        if proxy is not None:
            return proxy._schema.hash.getAttributes(descriptor.path)
        return {}

    @property
    def units(self) -> Any:
        """The pint unit of the property (dimensionless if it declares none)."""
        return unitRegistry().Unit(unitName(self._unitAttributes()))

    @property
    def magnitude(self) -> Any:
        """The number(s) without the unit (same as ``value``)."""
        return self.value

    def to(self, unit: Any) -> Any:
        """A pint quantity of this value converted to ``unit``."""
        return unitRegistry().Quantity(self.value, self.units).to(unit)


class IntValue(int, KaraboValue):
    """An integer property value."""

    @property
    def value(self) -> int:
        """The raw int."""
        return int(self)


class FloatValue(float, KaraboValue):
    """A floating point property value."""

    @property
    def value(self) -> float:
        """The raw float."""
        return float(self)


class StringValue(str, KaraboValue):
    """A string property value."""

    @property
    def value(self) -> str:
        """The raw string."""
        return str(self)


class BytesValue(bytes, KaraboValue):
    """A byte-array property value."""

    @property
    def value(self) -> bytes:
        """The raw bytes."""
        return bytes(self)


class BoolValue(KaraboValue):
    """A boolean property value (``bool`` cannot be subclassed)."""

    def __init__(self, value: bool):
        self._value = bool(value)

    @property
    def value(self) -> bool:
        """The raw bool."""
        return self._value

    def __bool__(self) -> bool:
        return self._value

    def __eq__(self, other: object) -> bool:
        return self._value == (other.value if isinstance(other, BoolValue) else other)

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return repr(self._value)


class EnumValue(KaraboValue):
    """A value of an enum property (``state``, ``alarmCondition``): compares equal to the member and its name."""

    def __init__(self, member: Enum):
        self.enum = member

    @property
    def value(self) -> Enum:
        """The enum member."""
        return self.enum

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EnumValue):
            other = other.enum
        return self.enum == other or self.enum.value == other

    def __hash__(self) -> int:
        return hash(self.enum)

    def __getattr__(self, name: str) -> Any:
        # State.isDerivedFrom, .name, .parent, ... work on the value directly.
        return getattr(self.__dict__["enum"], name)

    def __str__(self) -> str:
        return str(self.enum.value)

    def __repr__(self) -> str:
        return f"<{type(self.enum).__name__}.{self.enum.name}>"


class VectorValue(np.ndarray, KaraboValue):
    """A vector (or NDArray) property value: a numpy array."""

    @property
    def value(self) -> np.ndarray:
        """The raw array."""
        return self.view(np.ndarray)


class VectorStringValue(list, KaraboValue):
    """A list of strings."""

    @property
    def value(self) -> list:
        """The raw list."""
        return list(self)


class TableValue(list, KaraboValue):
    """A table: a list of row Hashes."""

    @property
    def value(self) -> list:
        """The rows."""
        return list(self)


class NoneValue(KaraboValue):
    """The value of a property that has none (test with :func:`isSet`)."""

    @property
    def value(self) -> None:
        """None."""
        return None

    def __bool__(self) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return other is None or isinstance(other, NoneValue)

    def __hash__(self) -> int:
        return hash(None)

    def __repr__(self) -> str:
        return "None"


def isSet(value: Any) -> bool:
    """Whether a property has a value."""
    return value is not None and not isinstance(value, NoneValue)


def wrap(raw: Any, timestamp: Timestamp | None, descriptor: Any = None, enum: type | None = None,
         table: bool = False, attrs: Any = None) -> Any:
    """The KaraboValue for a raw value read from a configuration Hash (``attrs``: its attributes, whose
    time stamp is only decoded when asked for)."""
    if raw is None:
        value: KaraboValue = NoneValue()
    elif enum is not None:
        value = EnumValue(enum(raw))
    elif isinstance(raw, bool) or isinstance(raw, np.bool_):
        value = BoolValue(bool(raw))
    elif isinstance(raw, (int, np.integer)):
        value = IntValue(int(raw))
    elif isinstance(raw, (float, np.floating)):
        value = FloatValue(float(raw))
    elif isinstance(raw, str):
        value = StringValue(raw)
    elif isinstance(raw, (bytes, bytearray)):
        value = BytesValue(raw)
    elif isinstance(raw, np.ndarray):
        value = raw.view(VectorValue)
    elif isinstance(raw, Hash) and hasattr(raw, "getArray"):
        value = raw.getArray().view(VectorValue)
    elif table:
        value = TableValue(raw)
    elif isinstance(raw, list):
        value = VectorStringValue(raw)
    else:
        return raw   # a Hash (schema-less data) is returned as it is
    value._timestamp = timestamp
    value._attrs = attrs
    value.descriptor = descriptor
    return value


def stampOf(attrs) -> Timestamp | None:
    """The Timestamp in a node's ``sec``/``frac``/``tid`` attributes (None if it has none)."""
    if "sec" in attrs and "frac" in attrs and "tid" in attrs:
        return Timestamp.fromHashAttributes(attrs)
    return None
