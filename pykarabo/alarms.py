"""Karabo 3 alarm conditions: four severity levels, ordered NONE < WARN < ALARM < INTERLOCK."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from ._removed import RemovedAwareEnumType, removed_error

__all__ = ["AlarmCondition"]

# Karabo 2 had low/high and variance variants, tied to the per-property
# thresholds that Karabo 3 removed; map their names and values to a hint.
_REMOVED_VARIANTS: dict[str, str] = {
    "WARN_LOW": "warnLow",
    "WARN_HIGH": "warnHigh",
    "WARN_VARIANCE_LOW": "warnVarianceLow",
    "WARN_VARIANCE_HIGH": "warnVarianceHigh",
    "ALARM_LOW": "alarmLow",
    "ALARM_HIGH": "alarmHigh",
    "ALARM_VARIANCE_LOW": "alarmVarianceLow",
    "ALARM_VARIANCE_HIGH": "alarmVarianceHigh",
}
_REMOVED_HINT = "alarm thresholds were removed; use AlarmCondition.WARN or AlarmCondition.ALARM"


class AlarmCondition(
    StrEnum,
    metaclass=RemovedAwareEnumType,
    removed_names=dict.fromkeys(_REMOVED_VARIANTS, _REMOVED_HINT),
):
    """Severity of a device's global ``alarmCondition``; comparisons follow severity, not the strings."""

    NONE = "none"
    WARN = "warn"
    ALARM = "alarm"
    INTERLOCK = "interlock"

    @classmethod
    def _missing_(cls, value: object) -> None:
        """Explain look-ups of Karabo 2 values such as ``"warnLow"``."""
        if isinstance(value, str) and value in _REMOVED_VALUES:
            raise removed_error(f"AlarmCondition value {value!r}", _REMOVED_HINT)
        return None

    @staticmethod
    def criticalityList() -> list[AlarmCondition]:
        """Return all conditions, least severe first."""
        return list(AlarmCondition)

    @property
    def level(self) -> int:
        """Severity as an integer: 0 for NONE up to 3 for INTERLOCK."""
        return _LEVELS[self]

    def criticalityLevel(self) -> AlarmCondition:
        """Return the base severity of this condition (itself: Karabo 3 has no sub-conditions)."""
        return self

    def returnMoreSignificant(self, other: AlarmCondition | str) -> AlarmCondition:
        """Return the more severe of this condition and ``other`` (``other`` on a tie)."""
        other = AlarmCondition.fromString(other)
        return self if self.level > other.level else other

    @staticmethod
    def returnMostSignificant(conditions: Iterable[AlarmCondition | str]) -> AlarmCondition:
        """Return the most severe of ``conditions``, or NONE if there are none."""
        return max((AlarmCondition.fromString(c) for c in conditions), default=AlarmCondition.NONE)

    def isSameCriticality(self, other: AlarmCondition | str) -> bool:
        """Return True if ``other`` has the same severity."""
        return self.level == AlarmCondition.fromString(other).level

    @classmethod
    def fromString(cls, name: AlarmCondition | str) -> AlarmCondition:
        """Return the condition whose string value is ``name`` (e.g. ``"warn"``)."""
        return cls(name)

    def asString(self) -> str:
        """Return the string value used on the wire (e.g. ``"warn"``)."""
        return self.value

    # str already defines the comparison operators (alphabetical), so all four
    # must be overridden: functools.total_ordering would keep str's versions.
    def __lt__(self, other: object) -> bool:
        """Compare by severity."""
        return self.level < _coerce(other).level

    def __le__(self, other: object) -> bool:
        """Compare by severity."""
        return self.level <= _coerce(other).level

    def __gt__(self, other: object) -> bool:
        """Compare by severity."""
        return self.level > _coerce(other).level

    def __ge__(self, other: object) -> bool:
        """Compare by severity."""
        return self.level >= _coerce(other).level


def _coerce(other: object) -> AlarmCondition:
    """Convert the right-hand side of a comparison; anything but a condition string is a TypeError."""
    if isinstance(other, str):
        return AlarmCondition(other)
    raise TypeError(f"cannot compare AlarmCondition with {type(other).__name__}")


_REMOVED_VALUES = frozenset(_REMOVED_VARIANTS.values())
_LEVELS: dict[AlarmCondition, int] = {condition: level for level, condition in enumerate(AlarmCondition)}
