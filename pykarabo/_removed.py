"""Enum support for member names that Karabo 3 removed, so that using them fails loudly."""

from __future__ import annotations

from collections.abc import Mapping
from enum import EnumType
from typing import Any

from .errors import RemovedInKarabo3Error

__all__ = ["REMOVED_NAMES_ATTR", "RemovedAwareEnumType", "removed_error"]

# Class attribute holding, per enum, the removed member names, each mapped to
# a hint on what to use instead.
REMOVED_NAMES_ATTR = "_removed_names_in_karabo3"


class RemovedAwareEnumType(EnumType):
    """Enum metaclass that turns Karabo 2 member names into a clear :class:`RemovedInKarabo3Error`.

    Usage: ``class X(IntEnum, metaclass=RemovedAwareEnumType, removed_names={"OLD": "use NEW"})``.
    """

    def __new__(
        metacls,
        cls: str,
        bases: tuple[type, ...],
        classdict: Any,
        *,
        removed_names: Mapping[str, str] | None = None,
        **kwds: Any,
    ) -> RemovedAwareEnumType:
        """Create the enum and remember its removed names."""
        enum_cls = super().__new__(metacls, cls, bases, classdict, **kwds)
        # type.__setattr__ because EnumType guards attribute assignment.
        type.__setattr__(enum_cls, REMOVED_NAMES_ATTR, dict(removed_names or {}))
        return enum_cls

    def __getattr__(cls, name: str) -> Any:
        """Fail with a Karabo 3 hint for removed member names, else like any missing attribute."""
        removed = cls.__dict__.get(REMOVED_NAMES_ATTR, {})
        if name in removed:
            raise removed_error(f"{cls.__name__}.{name}", removed[name])
        raise AttributeError(f"type object {cls.__name__!r} has no attribute {name!r}")

    def __getitem__(cls, name: str) -> Any:
        """Look a member up by name; removed names raise :class:`RemovedInKarabo3Error`."""
        removed = cls.__dict__.get(REMOVED_NAMES_ATTR, {})
        if name in removed:
            raise removed_error(f"{cls.__name__}.{name}", removed[name])
        return super().__getitem__(name)


def removed_error(what: str, hint: str) -> RemovedInKarabo3Error:
    """Build the error for a removed feature ``what`` (e.g. ``"AccessLevel.USER"``) with a hint."""
    return RemovedInKarabo3Error(f"{what} was removed in Karabo 3; {hint}")
