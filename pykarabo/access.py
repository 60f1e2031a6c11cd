"""Schema attribute enums of Karabo 3: access levels and modes, assignment, archiving, node and DAQ data types.

The integer values are the ones stored in schema attributes (``requiredAccessLevel``,
``accessMode``, ``assignment``, ``archivePolicy``, ``nodeType``, ``daqDataType``) and are
identical in the bound and middlelayer APIs of Karabo 3.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum, IntFlag
from typing import Any

from ._removed import REMOVED_NAMES_ATTR, RemovedAwareEnumType, removed_error

__all__ = [
    "AccessLevel",
    "AccessMode",
    "AccessType",
    "ArchivePolicy",
    "Assignment",
    "DaqDataType",
    "NodeType",
]


class _SchemaAttributeEnum:
    """Mixin for the enums of this module: ``fromAttributes`` and clear errors for removed names."""

    @classmethod
    def _missing_(cls, value: object) -> None:
        """Explain calls such as ``AccessLevel("USER")`` that use a name Karabo 3 removed."""
        removed = cls.__dict__.get(REMOVED_NAMES_ATTR, {})
        if isinstance(value, str) and value in removed:
            raise removed_error(f"{cls.__name__}.{value}", removed[value])
        return None

    @classmethod
    def fromAttributes(cls, attrs: Mapping[str, Any]) -> Any:
        """Return the member stored in a schema element's attributes, or None if the attribute is absent."""
        value = attrs.get(_ATTRIBUTE_KEYS[cls])
        return None if value is None else cls(int(value))


class AccessLevel(
    _SchemaAttributeEnum,
    IntEnum,
    metaclass=RemovedAwareEnumType,
    removed_names={
        "USER": "use AccessLevel.OPERATOR (Karabo 3 maps USER to OPERATOR)",
        "ADMIN": "use AccessLevel.EXPERT (Karabo 3 maps ADMIN to EXPERT)",
    },
):
    """Minimum user level a client needs to see or change a schema item (``requiredAccessLevel``)."""

    OBSERVER = 0
    OPERATOR = 1
    EXPERT = 2


class AccessMode(_SchemaAttributeEnum, IntEnum):
    """How a property may be written (``accessMode``): at instantiation only, never, or at any time."""

    # UNDEFINED exists in the middlelayer only; it marks descriptors whose mode is not yet decided.
    UNDEFINED = -1
    INITONLY = 1
    READONLY = 2
    RECONFIGURABLE = 4


class AccessType(IntFlag):
    """Bit mask behind :class:`AccessMode`, used by bound schema assembly rules (INIT | READ | WRITE)."""

    INIT = 1
    READ = 2
    WRITE = 4


class Assignment(_SchemaAttributeEnum, IntEnum):
    """Who must provide a property's value (``assignment``): optional, mandatory or the framework."""

    OPTIONAL = 0
    MANDATORY = 1
    INTERNAL = 2


class ArchivePolicy(
    _SchemaAttributeEnum,
    IntEnum,
    metaclass=RemovedAwareEnumType,
    removed_names={
        name: "Karabo 3 only knows EVERY_EVENT and NO_ARCHIVING"
        for name in ("EVERY_100MS", "EVERY_1S", "EVERY_5S", "EVERY_10S", "EVERY_1MIN", "EVERY_10MIN")
    },
):
    """Data-logger hint of a property (``archivePolicy``): log every change or nothing."""

    EVERY_EVENT = 0
    NO_ARCHIVING = 1


class NodeType(
    _SchemaAttributeEnum,
    IntEnum,
    metaclass=RemovedAwareEnumType,
    removed_names={
        "CHOICE_OF_NODES": "choice elements do not exist in Karabo 3",
        "LIST_OF_NODES": "list-of-nodes elements do not exist in Karabo 3",
    },
):
    """Kind of a schema entry (``nodeType``): a leaf value or a node with children."""

    LEAF = 0
    NODE = 1
    # The middlelayer spells the members in CamelCase; keep its spelling as aliases.
    Leaf = 0
    Node = 1


class DaqDataType(_SchemaAttributeEnum, IntEnum):
    """Whether a node's data is recorded per pulse or per train (``daqDataType``)."""

    PULSE = 0
    TRAIN = 1


# The schema attribute each enum is stored under; kept outside the enum bodies
# because any plain class attribute there would become a member.
_ATTRIBUTE_KEYS: dict[type, str] = {
    AccessLevel: "requiredAccessLevel",
    AccessMode: "accessMode",
    Assignment: "assignment",
    ArchivePolicy: "archivePolicy",
    NodeType: "nodeType",
    DaqDataType: "daqDataType",
}
