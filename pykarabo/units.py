"""Karabo's units and SI metric prefixes, as stored in the ``unit*`` and ``metricPrefix*`` schema attributes.

The member value is the symbol (as in the middlelayer). The bound API and C++ additionally store
the enum number (the member's position, ``unitEnum``/``metricPrefixEnum``) and a lower-case name
(``unitName``/``metricPrefixName``); both are available as properties.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

__all__ = ["MetricPrefix", "Unit"]


class Unit(StrEnum):
    """A physical unit; the value is its symbol (``unitSymbol``)."""

    # Declaration order defines unitEnum and must match Karabo's C++ enum.
    NUMBER = ""
    COUNT = "#"
    METER = "m"
    GRAM = "g"
    SECOND = "s"
    AMPERE = "A"
    KELVIN = "K"
    MOLE = "mol"
    CANDELA = "cd"
    HERTZ = "Hz"
    RADIAN = "rad"
    DEGREE = "deg"
    STERADIAN = "sr"
    NEWTON = "N"
    PASCAL = "Pa"
    JOULE = "J"
    ELECTRONVOLT = "eV"
    WATT = "W"
    COULOMB = "C"
    VOLT = "V"
    FARAD = "F"
    OHM = "Ω"
    SIEMENS = "S"
    WEBER = "Wb"
    TESLA = "T"
    HENRY = "H"
    DEGREE_CELSIUS = "degC"
    LUMEN = "lm"
    LUX = "lx"
    BECQUEREL = "Bq"
    GRAY = "Gy"
    SIEVERT = "Sv"
    KATAL = "kat"
    MINUTE = "min"
    HOUR = "h"
    DAY = "d"
    YEAR = "a"
    BAR = "bar"
    PIXEL = "px"
    BYTE = "B"
    BIT = "bit"
    METER_PER_SECOND = "m/s"
    VOLT_PER_SECOND = "V/s"
    AMPERE_PER_SECOND = "A/s"
    PERCENT = "%"
    NOT_ASSIGNED = "N_A"
    REVOLUTIONS_PER_MINUTE = "rpm"

    @property
    def unitSymbol(self) -> str:
        """The symbol, e.g. ``"V"``."""
        return self.value

    @property
    def unitName(self) -> str:
        """The lower-case name written by bound/C++ schemas, e.g. ``"degree_celsius"``."""
        return self.name.lower()

    @property
    def unitEnum(self) -> int:
        """The number written by bound/C++ schemas (position in Karabo's enum)."""
        return _UNIT_NUMBERS[self]

    @classmethod
    def fromEnum(cls, number: int) -> Unit:
        """Return the unit with Karabo's enum number ``number``."""
        return _by_number(_UNITS, number, cls)

    @classmethod
    def fromAttributes(cls, attrs: Mapping[str, Any]) -> Unit | None:
        """Return the unit of a schema element from ``unitSymbol`` (or ``unitEnum``), None if neither is set."""
        if "unitSymbol" in attrs:
            return cls(attrs["unitSymbol"])
        if "unitEnum" in attrs:
            return cls.fromEnum(int(attrs["unitEnum"]))
        return None


class MetricPrefix(StrEnum):
    """An SI prefix (10²⁴ … 10⁻²⁴); the value is its symbol (``metricPrefixSymbol``), MICRO being ``"u"``."""

    # Declaration order defines metricPrefixEnum and must match Karabo's C++ enum.
    YOTTA = "Y"
    ZETTA = "Z"
    EXA = "E"
    PETA = "P"
    TERA = "T"
    GIGA = "G"
    MEGA = "M"
    KILO = "k"
    HECTO = "h"
    DECA = "da"
    NONE = ""
    DECI = "d"
    CENTI = "c"
    MILLI = "m"
    MICRO = "u"
    NANO = "n"
    PICO = "p"
    FEMTO = "f"
    ATTO = "a"
    ZEPTO = "z"
    YOCTO = "y"

    @property
    def metricPrefixSymbol(self) -> str:
        """The symbol, e.g. ``"m"`` for MILLI."""
        return self.value

    @property
    def metricPrefixName(self) -> str:
        """The lower-case name written by bound/C++ schemas; empty for NONE, as in Karabo."""
        return "" if self is MetricPrefix.NONE else self.name.lower()

    @property
    def metricPrefixEnum(self) -> int:
        """The number written by bound/C++ schemas (position in Karabo's enum)."""
        return _PREFIX_NUMBERS[self]

    @property
    def exponent(self) -> int:
        """The power of ten this prefix stands for, e.g. -3 for MILLI."""
        return _EXPONENTS[self]

    @classmethod
    def fromEnum(cls, number: int) -> MetricPrefix:
        """Return the prefix with Karabo's enum number ``number``."""
        return _by_number(_PREFIXES, number, cls)

    @classmethod
    def fromAttributes(cls, attrs: Mapping[str, Any]) -> MetricPrefix | None:
        """Return the prefix of a schema element from ``metricPrefixSymbol`` (or ``...Enum``), None if unset."""
        if "metricPrefixSymbol" in attrs:
            return cls(attrs["metricPrefixSymbol"])
        if "metricPrefixEnum" in attrs:
            return cls.fromEnum(int(attrs["metricPrefixEnum"]))
        return None


def _by_number(members: list[Any], number: int, cls: type) -> Any:
    """Return ``members[number]``, refusing numbers outside the enum (negative indices included)."""
    if not 0 <= number < len(members):
        raise ValueError(f"{number} is not a valid {cls.__name__} enum number")
    return members[number]


_UNITS: list[Unit] = list(Unit)
_UNIT_NUMBERS: dict[Unit, int] = {unit: number for number, unit in enumerate(_UNITS)}
_PREFIXES: list[MetricPrefix] = list(MetricPrefix)
_PREFIX_NUMBERS: dict[MetricPrefix, int] = {prefix: number for number, prefix in enumerate(_PREFIXES)}
_EXPONENTS: dict[MetricPrefix, int] = dict(
    zip(_PREFIXES, (24, 21, 18, 15, 12, 9, 6, 3, 2, 1, 0, -1, -2, -3, -6, -9, -12, -15, -18, -21, -24), strict=True)
)
