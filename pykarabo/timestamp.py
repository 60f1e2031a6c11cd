"""Karabo time stamps: :class:`Epochstamp` (UTC with attosecond resolution), :class:`TimeId` (train id)
and :class:`Timestamp` (both together), as attached to every property value.

On the wire a time stamp is three UINT64 attributes of a Hash node, in the order ``sec`` (seconds
since the Unix epoch), ``frac`` (attoseconds within the second) and ``tid`` (train id, 0 without a
time server).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from enum import IntEnum
from fractions import Fraction
from functools import total_ordering
from typing import Any, Protocol

__all__ = [
    "ATTOSEC_PER_SECOND",
    "Epochstamp",
    "TIME_UNITS",
    "TimeDuration",
    "TimeId",
    "Timestamp",
    "Trainstamp",
]

ATTOSEC_PER_SECOND = 10**18
_UINT64_LIMIT = 2**64
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class TIME_UNITS(IntEnum):
    """Precision of a fraction of a second, valued by the number of attosecond digits it drops."""

    ATTOSEC = 0
    FEMTOSEC = 3
    PICOSEC = 6
    NANOSEC = 9
    MICROSEC = 12
    MILLISEC = 15
    ONESECOND = 18


class _AttributeSink(Protocol):
    """What ``toHashAttributes`` needs of a Hash: typed attribute setting."""

    def setAttribute(self, path: str, name: str, value: Any, type: Any = ...) -> Any:
        """Set attribute ``name`` of the node at ``path``."""


def _uint64_type() -> Any:
    """Return ``Types.UINT64`` of the compiled core (imported late so this module works without it)."""
    from pykarabo import Types

    return Types.UINT64


def _checked_uint64(value: Any, what: str) -> int:
    """Return ``value`` as int, refusing anything that does not fit into UINT64."""
    number = int(value)
    if not 0 <= number < _UINT64_LIMIT:
        raise ValueError(f"{what} must fit into UINT64, got {number}")
    return number


def _require_attributes(attrs: Mapping[str, Any], names: tuple[str, ...]) -> None:
    """Raise a KeyError naming the time attributes missing from ``attrs``."""
    missing = [name for name in names if name not in attrs]
    if missing:
        raise KeyError(f"time attribute(s) {', '.join(missing)} missing from {list(attrs)}")


# Basic (20240102T030405.123) or extended (2024-01-02T03:04:05.123) ISO 8601,
# each with an optional zone: Z, +HH, +HHMM or +HH:MM.
_ISO_PATTERN = re.compile(
    r"""
    (?P<year>\d{4})(?P<dash>-?)(?P<month>\d{2})(?P=dash)(?P<day>\d{2})
    [T\ ]
    (?P<hour>\d{2})(?P<colon>:?)(?P<minute>\d{2})(?P=colon)(?P<second>\d{2})
    (?:[.,](?P<fraction>\d+))?
    (?P<zone>Z|[+-]\d{2}(?::?\d{2})?)?
    """,
    re.VERBOSE,
)


def _parse_iso8601(text: str) -> int:
    """Return the attoseconds since the epoch of an ISO 8601 date-time; a missing zone means UTC."""
    match = _ISO_PATTERN.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an ISO 8601 date and time: {text!r}")
    parts = match.groupdict()
    moment = datetime(
        int(parts["year"]),
        int(parts["month"]),
        int(parts["day"]),
        int(parts["hour"]),
        int(parts["minute"]),
        int(parts["second"]),
        tzinfo=timezone.utc,
    )
    zone = parts["zone"]
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        moment -= offset if zone[0] == "+" else -offset
    # Digits beyond attoseconds cannot be represented and are dropped.
    fraction = (parts["fraction"] or "")[:18].ljust(18, "0")
    return _timedelta_to_attoseconds(moment - _EPOCH) + int(fraction)


def _timedelta_to_attoseconds(delta: timedelta) -> int:
    """Convert a timedelta exactly (it has microsecond resolution) to attoseconds."""
    microseconds = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return microseconds * 10**12


@total_ordering
class TimeDuration:
    """A non-negative span of time with attosecond resolution, e.g. the distance between two Epochstamps."""

    __slots__ = ("_attoseconds",)

    def __init__(self, seconds: int = 0, fractions: int = 0) -> None:
        """Create a duration of ``seconds`` plus ``fractions`` attoseconds."""
        total = int(seconds) * ATTOSEC_PER_SECOND + int(fractions)
        if total < 0:
            raise ValueError("a TimeDuration cannot be negative")
        self._attoseconds = total

    def getTotalSeconds(self) -> int:
        """Return the whole seconds of the duration."""
        return self._attoseconds // ATTOSEC_PER_SECOND

    def getFractions(self, unit: TIME_UNITS = TIME_UNITS.NANOSEC) -> int:
        """Return the part below one second, counted in ``unit`` (nanoseconds by default, as in Karabo)."""
        return (self._attoseconds % ATTOSEC_PER_SECOND) // 10 ** int(unit)

    def __float__(self) -> float:
        """Return the duration in seconds."""
        return self._attoseconds / ATTOSEC_PER_SECOND

    def __add__(self, other: TimeDuration) -> TimeDuration:
        """Return the sum of two durations."""
        if not isinstance(other, TimeDuration):
            return NotImplemented
        return TimeDuration(0, self._attoseconds + other._attoseconds)

    def __eq__(self, other: object) -> bool:
        """Equal if both spans are exactly equal."""
        if not isinstance(other, TimeDuration):
            return NotImplemented
        return self._attoseconds == other._attoseconds

    def __lt__(self, other: TimeDuration) -> bool:
        """Order by length."""
        if not isinstance(other, TimeDuration):
            return NotImplemented
        return self._attoseconds < other._attoseconds

    def __hash__(self) -> int:
        """Hash consistent with equality."""
        return hash(self._attoseconds)

    def __repr__(self) -> str:
        """Show seconds and attoseconds."""
        seconds, fractions = divmod(self._attoseconds, ATTOSEC_PER_SECOND)
        return f"TimeDuration({seconds}, {fractions})"


@total_ordering
class Epochstamp:
    """A UTC point in time: seconds since 1970-01-01 plus a fraction in attoseconds.

    ``Epochstamp()`` is now, ``Epochstamp(seconds, fractions)`` is explicit, ``Epochstamp(text)``
    parses ISO 8601 (basic or extended format; a missing zone means UTC).
    """

    __slots__ = ("_attoseconds",)

    def __init__(self, seconds: int | str | None = None, fractions: int = 0) -> None:
        """Create an Epochstamp for now, from seconds and attoseconds, or from an ISO 8601 string."""
        if seconds is None:
            total = time.time_ns() * 10**9
        elif isinstance(seconds, str):
            total = _parse_iso8601(seconds)
        else:
            fractions = int(fractions)
            if not 0 <= fractions < ATTOSEC_PER_SECOND:
                raise ValueError(f"fractions must be attoseconds in [0, 10**18), got {fractions}")
            total = int(seconds) * ATTOSEC_PER_SECOND + fractions
        _checked_uint64(total // ATTOSEC_PER_SECOND, "Epochstamp seconds")
        self._attoseconds = total

    @classmethod
    def now(cls) -> Epochstamp:
        """Return the current time."""
        return cls()

    @classmethod
    def fromAttoseconds(cls, attoseconds: int) -> Epochstamp:
        """Return the Epochstamp ``attoseconds`` after the epoch."""
        seconds, fractions = divmod(int(attoseconds), ATTOSEC_PER_SECOND)
        return cls(seconds, fractions)

    @classmethod
    def fromTimestamp(cls, seconds: float) -> Epochstamp:
        """Return the Epochstamp of a POSIX time in seconds (e.g. from ``time.time()``), converted exactly."""
        return cls.fromAttoseconds(int(Fraction(seconds) * ATTOSEC_PER_SECOND))

    @classmethod
    def fromDatetime(cls, moment: datetime) -> Epochstamp:
        """Return the Epochstamp of a datetime; a naive datetime is local time, as in ``datetime.timestamp()``."""
        if moment.tzinfo is None:
            moment = moment.astimezone()
        return cls.fromAttoseconds(_timedelta_to_attoseconds(moment - _EPOCH))

    @classmethod
    def fromIso8601(cls, text: str) -> Epochstamp:
        """Return the Epochstamp of an ISO 8601 string (same as ``Epochstamp(text)``)."""
        return cls(text)

    @staticmethod
    def hashAttributesContainTimeInformation(attrs: Mapping[str, Any]) -> bool:
        """Return True if ``attrs`` holds the ``sec`` and ``frac`` attributes."""
        return "sec" in attrs and "frac" in attrs

    @classmethod
    def fromHashAttributes(cls, attrs: Mapping[str, Any]) -> Epochstamp:
        """Return the Epochstamp stored in the ``sec``/``frac`` attributes of a Hash node."""
        _require_attributes(attrs, ("sec", "frac"))
        return cls(int(attrs["sec"]), int(attrs["frac"]))

    def toHashAttributes(self, hash: _AttributeSink, path: str) -> None:
        """Set the UINT64 attributes ``sec`` and ``frac`` on the node at ``path`` of ``hash``."""
        uint64 = _uint64_type()
        hash.setAttribute(path, "sec", self.getSeconds(), type=uint64)
        hash.setAttribute(path, "frac", self.getFractionalSeconds(), type=uint64)

    def getSeconds(self) -> int:
        """Return the whole seconds since the epoch."""
        return self._attoseconds // ATTOSEC_PER_SECOND

    def getFractionalSeconds(self) -> int:
        """Return the fraction of the current second in attoseconds."""
        return self._attoseconds % ATTOSEC_PER_SECOND

    def getAttoseconds(self) -> int:
        """Return the time since the epoch in attoseconds."""
        return self._attoseconds

    def toTimestamp(self) -> float:
        """Return the POSIX time in seconds (a float, so below-microsecond digits are lost)."""
        return self._attoseconds / ATTOSEC_PER_SECOND

    def toDatetime(self) -> datetime:
        """Return an aware UTC datetime (truncated to microseconds, the resolution of datetime)."""
        return _EPOCH + timedelta(microseconds=self._attoseconds // 10**12)

    def toIso8601(self, precision: TIME_UNITS = TIME_UNITS.MICROSEC, extended: bool = False) -> str:
        """Return the UTC time as ISO 8601 without zone, e.g. ``20240102T030405.123456`` (truncated)."""
        moment = _EPOCH + timedelta(seconds=self.getSeconds())
        pattern = "%Y-%m-%dT%H:%M:%S" if extended else "%Y%m%dT%H%M%S"
        digits = f"{self.getFractionalSeconds():018d}"[: 18 - int(precision)]
        # Karabo writes ".0" rather than no fraction at whole-second precision.
        return f"{moment.strftime(pattern)}.{digits or '0'}"

    def toIso8601Ext(self, precision: TIME_UNITS = TIME_UNITS.MICROSEC, extended: bool = False) -> str:
        """Return :meth:`toIso8601` with the UTC zone designator ``Z`` appended."""
        return self.toIso8601(precision, extended) + "Z"

    def elapsed(self, other: Epochstamp | None = None) -> TimeDuration:
        """Return the distance to ``other`` (default: now)."""
        other = Epochstamp() if other is None else other
        return TimeDuration(0, abs(other._attoseconds - self._attoseconds))

    def __sub__(self, other: Epochstamp | TimeDuration) -> Any:
        """Epochstamp - Epochstamp is their (non-negative) distance; Epochstamp - TimeDuration is earlier."""
        if isinstance(other, Epochstamp):
            return self.elapsed(other)
        if isinstance(other, TimeDuration):
            return Epochstamp.fromAttoseconds(self._attoseconds - other._attoseconds)
        return NotImplemented

    def __add__(self, other: TimeDuration) -> Epochstamp:
        """Return the Epochstamp ``other`` later."""
        if not isinstance(other, TimeDuration):
            return NotImplemented
        return Epochstamp.fromAttoseconds(self._attoseconds + other._attoseconds)

    def __eq__(self, other: object) -> bool:
        """Equal if both denote exactly the same attosecond."""
        if not isinstance(other, Epochstamp):
            return NotImplemented
        return self._attoseconds == other._attoseconds

    def __lt__(self, other: Epochstamp) -> bool:
        """Order chronologically."""
        if not isinstance(other, Epochstamp):
            return NotImplemented
        return self._attoseconds < other._attoseconds

    def __hash__(self) -> int:
        """Hash consistent with equality."""
        return hash(self._attoseconds)

    def __repr__(self) -> str:
        """Show seconds and attoseconds."""
        return f"Epochstamp({self.getSeconds()}, {self.getFractionalSeconds()})"


@total_ordering
class TimeId:
    """A train id: the European XFEL machine counter that labels data of the same X-ray pulse train."""

    __slots__ = ("_tid",)

    def __init__(self, tid: int = 0) -> None:
        """Create the train id ``tid`` (0 means: no time server)."""
        self._tid = _checked_uint64(tid, "train id")

    @staticmethod
    def hashAttributesContainTimeInformation(attrs: Mapping[str, Any]) -> bool:
        """Return True if ``attrs`` holds the ``tid`` attribute."""
        return "tid" in attrs

    @classmethod
    def fromHashAttributes(cls, attrs: Mapping[str, Any]) -> TimeId:
        """Return the train id stored in the ``tid`` attribute of a Hash node."""
        _require_attributes(attrs, ("tid",))
        return cls(int(attrs["tid"]))

    def toHashAttributes(self, hash: _AttributeSink, path: str) -> None:
        """Set the UINT64 attribute ``tid`` on the node at ``path`` of ``hash``."""
        hash.setAttribute(path, "tid", self._tid, type=_uint64_type())

    def getTid(self) -> int:
        """Return the train id."""
        return self._tid

    def __int__(self) -> int:
        """Return the train id."""
        return self._tid

    def __eq__(self, other: object) -> bool:
        """Equal if the train ids are equal."""
        if not isinstance(other, TimeId):
            return NotImplemented
        return self._tid == other._tid

    def __lt__(self, other: TimeId) -> bool:
        """Order by train id."""
        if not isinstance(other, TimeId):
            return NotImplemented
        return self._tid < other._tid

    def __hash__(self) -> int:
        """Hash consistent with equality."""
        return hash(self._tid)

    def __repr__(self) -> str:
        """Show the train id."""
        return f"TimeId({self._tid})"


# Karabo 2 called the train id class Trainstamp; Karabo 3 renamed it TimeId.
Trainstamp = TimeId


@total_ordering
class Timestamp:
    """The time stamp of a property value: an :class:`Epochstamp` plus a train id.

    Immutable and hashable; ordered by time, then train id.
    """

    __slots__ = ("_epochstamp", "_timeId")

    def __init__(self, epochstamp: Epochstamp | None = None, timeId: TimeId | int = 0) -> None:
        """Create a time stamp; by default now, with train id 0."""
        if epochstamp is not None and not isinstance(epochstamp, Epochstamp):
            raise TypeError(f"epochstamp must be an Epochstamp, not {type(epochstamp).__name__}")
        self._epochstamp = Epochstamp() if epochstamp is None else epochstamp
        self._timeId = timeId if isinstance(timeId, TimeId) else TimeId(timeId)

    @staticmethod
    def hashAttributesContainTimeInformation(attrs: Mapping[str, Any]) -> bool:
        """Return True if ``attrs`` holds all of ``sec``, ``frac`` and ``tid``."""
        return "sec" in attrs and "frac" in attrs and "tid" in attrs

    @classmethod
    def fromHashAttributes(cls, attrs: Mapping[str, Any]) -> Timestamp:
        """Return the time stamp stored in the ``sec``/``frac``/``tid`` attributes of a Hash node."""
        _require_attributes(attrs, ("sec", "frac", "tid"))
        return cls(Epochstamp(int(attrs["sec"]), int(attrs["frac"])), int(attrs["tid"]))

    def toHashAttributes(self, hash: _AttributeSink, path: str) -> None:
        """Set the UINT64 attributes ``sec``, ``frac``, ``tid`` (in this order) on the node at ``path``."""
        self._epochstamp.toHashAttributes(hash, path)
        self._timeId.toHashAttributes(hash, path)

    def toDict(self) -> dict[str, int]:
        """Return ``{'sec': ..., 'frac': ..., 'tid': ...}`` (in this order)."""
        return {"sec": self.getSeconds(), "frac": self.getFractionalSeconds(), "tid": self.getTid()}

    def getEpochstamp(self) -> Epochstamp:
        """Return the time part."""
        return self._epochstamp

    def getTimeId(self) -> TimeId:
        """Return the train id part."""
        return self._timeId

    def getSeconds(self) -> int:
        """Return the whole seconds since the epoch."""
        return self._epochstamp.getSeconds()

    def getFractionalSeconds(self) -> int:
        """Return the fraction of the current second in attoseconds."""
        return self._epochstamp.getFractionalSeconds()

    def getTid(self) -> int:
        """Return the train id (Karabo 3 name)."""
        return self._timeId.getTid()

    def getTrainId(self) -> int:
        """Return the train id."""
        return self._timeId.getTid()

    @property
    def tid(self) -> int:
        """The train id (middlelayer spelling)."""
        return self._timeId.getTid()

    @property
    def time(self) -> int:
        """Attoseconds since the epoch (middlelayer spelling)."""
        return self._epochstamp.getAttoseconds()

    def toTimestamp(self) -> float:
        """Return the POSIX time in seconds as a float."""
        return self._epochstamp.toTimestamp()

    def toDatetime(self) -> datetime:
        """Return an aware UTC datetime (truncated to microseconds)."""
        return self._epochstamp.toDatetime()

    def toIso8601(self, precision: TIME_UNITS = TIME_UNITS.MICROSEC, extended: bool = False) -> str:
        """Return the UTC time as ISO 8601 without zone (see :meth:`Epochstamp.toIso8601`)."""
        return self._epochstamp.toIso8601(precision, extended)

    def toIso8601Ext(self, precision: TIME_UNITS = TIME_UNITS.MICROSEC, extended: bool = False) -> str:
        """Return the UTC time as ISO 8601 with ``Z`` appended."""
        return self._epochstamp.toIso8601Ext(precision, extended)

    def __sub__(self, other: Timestamp) -> float:
        """Return the signed difference in seconds, as the middlelayer does."""
        if not isinstance(other, Timestamp):
            return NotImplemented
        return (self.time - other.time) / ATTOSEC_PER_SECOND

    def _key(self) -> tuple[int, int]:
        """Return what equality, order and hash are based on."""
        return self.time, self.tid

    def __eq__(self, other: object) -> bool:
        """Equal if time and train id are equal."""
        if not isinstance(other, Timestamp):
            return NotImplemented
        return self._key() == other._key()

    def __lt__(self, other: Timestamp) -> bool:
        """Order by time, then train id."""
        if not isinstance(other, Timestamp):
            return NotImplemented
        return self._key() < other._key()

    def __hash__(self) -> int:
        """Hash consistent with equality."""
        return hash(self._key())

    def __repr__(self) -> str:
        """Show seconds, attoseconds and train id."""
        return f"Timestamp({self._epochstamp!r}, {self._timeId!r})"
