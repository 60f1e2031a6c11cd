"""Overwriting an inherited element's attributes: Karabo's ``OVERWRITE_ELEMENT`` and middlelayer's ``Overwrite``.

A subclass of a device changes what its base class declared, e.g. the states the ``state``
property may take and its default::

    OverwriteElement("state", options=[State.ON, State.OFF], defaultValue=State.OFF).commit(schema)

Keywords are the attribute names of :mod:`pykarabo.schema.elements`.  Elements protect some of
their attributes through Karabo's ``overwriteRestrictions`` (a State element takes new states as
options but no other options, a table has no limits, ...); overwriting a protected attribute, a
missing key, a rule that does not fit the element or a default its new rules refuse raises, and
leaves the Schema unchanged.
"""

from __future__ import annotations

from typing import Any

from pykarabo._core.hash import Hash
from pykarabo._core.hash import Schema as CoreSchema
from pykarabo._core.types import Types
from pykarabo._removed import removed_error
from pykarabo.access import AccessLevel, AccessMode, ArchivePolicy, Assignment, NodeType
from pykarabo.schema.elements import (
    DEFAULT_RESTRICTIONS,
    OVERWRITE_RESTRICTIONS,
    REMOVED_ATTRIBUTES,
    check_applicable,
    check_leaf_rules,
    typed_value,
)
from pykarabo.schema.schema import Schema, _names
from pykarabo.states import State
from pykarabo.units import MetricPrefix, Unit

__all__ = ["OverwriteElement"]

# Keywords for leaves only; the others also apply to nodes (and slots, channels, ...).
_LEAF_KEYWORDS = frozenset(("assignment", "defaultValue", "options", "unitSymbol", "metricPrefixSymbol",
                            "minInc", "maxInc", "minExc", "maxExc", "minSize", "maxSize", "archivePolicy"))
_NODE_KEYWORDS = frozenset(("displayedName", "description", "alias", "tags", "displayType", "accessMode",
                            "requiredAccessLevel", "allowedStates"))
_ASSIGNMENT_RESTRICTION = {Assignment.MANDATORY: "assignmentMandatory", Assignment.OPTIONAL: "assignmentOptional",
                           Assignment.INTERNAL: "assignmentInternal"}
_ACCESS_RESTRICTION = {AccessMode.INITONLY: "init", AccessMode.RECONFIGURABLE: "reconfigurable",
                       AccessMode.READONLY: "readOnly"}
_LEVEL_RESTRICTION = {AccessLevel.OBSERVER: "observerAccess", AccessLevel.OPERATOR: "operatorAccess",
                      AccessLevel.EXPERT: "expertAccess"}
_ENUMS = {"assignment": Assignment, "accessMode": AccessMode, "requiredAccessLevel": AccessLevel,
          "archivePolicy": ArchivePolicy}


class OverwriteElement:
    """New attributes for the element at ``key`` of a Schema; :meth:`commit` applies them."""

    keywords = _LEAF_KEYWORDS | _NODE_KEYWORDS

    def __init__(self, key: str, **attributes: Any) -> None:
        """Overwrite the element at ``key`` with attribute keywords (None: keep the attribute)."""
        for name in attributes:
            if name in REMOVED_ATTRIBUTES:
                raise removed_error(f"Schema attribute '{name}'", REMOVED_ATTRIBUTES[name])
            if name not in self.keywords:
                raise TypeError(f"OverwriteElement got an unexpected keyword argument '{name}'")
        self.key = key
        self.attributes = {k: v for k, v in attributes.items() if v is not None}

    def commit(self, schema: CoreSchema) -> None:
        """Apply the new attributes to the element in ``schema`` (all or none of them)."""
        h = schema.hash
        if not h.has(self.key):
            raise KeyError(f"Key '{self.key}' not in actual schema, thus cannot be overwritten.")
        attrs = h.getAttributes(self.key)
        restricted = _restrictions(attrs)
        leaf = int(attrs.get("nodeType", NodeType.LEAF)) == NodeType.LEAF
        if not leaf:
            wrong = sorted(set(self.attributes) & _LEAF_KEYWORDS)
            if wrong:
                raise TypeError(f"Element ({self.key}) is a node: {', '.join(wrong)} apply to leaves only")
        for name, value in self.attributes.items():
            restriction = _restriction(name, value, attrs)
            if restriction in restricted:
                raise ValueError(f"Element ({self.key}) does not allow overwriting attribute {restriction}!")
        t = Types[attrs["valueType"]] if leaf else Types.HASH
        if leaf:
            check_applicable(self.key, t, self.attributes)
        # Work on a copy of the element: its new rules are checked before the Schema changes.
        probe = Hash()
        probe.set(self.key, Hash())
        probe.setAttributes(self.key, attrs)
        for name, value in self.attributes.items():
            for attribute, typed, attribute_type in self._attributes(name, value, t, attrs):
                probe.setAttribute(self.key, attribute, typed, attribute_type)
        if leaf:
            check_leaf_rules(probe, self.key)
        h.setAttributes(self.key, probe.getAttributes(self.key))
        if isinstance(schema, Schema):
            schema.touch()

    def _attributes(self, name: str, value: Any, t: Types, attrs: Any) -> list[tuple[str, Any, Types]]:
        """The typed attributes keyword ``name`` writes."""
        key = self.key
        if name in ("displayedName", "description", "displayType"):
            return [(name, str(value), Types.STRING)]
        if name == "alias":
            h = Hash()
            h.set("v", value)
            return [("alias", value, h.getType("v"))]
        if name == "tags":
            return [("tags", _names(value), Types.VECTOR_STRING)]
        if name == "allowedStates":
            states = [value] if isinstance(value, str) else list(value)
            return [("allowedStates", [State(s).value for s in states], Types.VECTOR_STRING)]
        if name in ("assignment", "accessMode", "requiredAccessLevel", "archivePolicy"):
            return [(name, int(_ENUMS[name](int(value))), Types.INT32)]
        if name == "unitSymbol":
            unit = Unit(value)
            return [("unitEnum", unit.unitEnum, Types.INT32), ("unitName", unit.unitName, Types.STRING),
                    ("unitSymbol", unit.unitSymbol, Types.STRING)]
        if name == "metricPrefixSymbol":
            prefix = MetricPrefix(value)
            return [("metricPrefixEnum", prefix.metricPrefixEnum, Types.INT32),
                    ("metricPrefixName", prefix.metricPrefixName, Types.STRING),
                    ("metricPrefixSymbol", prefix.metricPrefixSymbol, Types.STRING)]
        if name in ("minSize", "maxSize"):
            return [(name, int(value), Types.UINT32)]
        if name == "options":
            if isinstance(value, str):
                items: list[Any] = _names(value) if t != Types.VECTOR_STRING else [value]
            elif _state_options(value, attrs):
                items = [State(x).value for x in value]
            else:
                items = list(value)
            vector = t if t.isVector else t.vectorType
            return [("options", typed_value(key, items, vector), vector)]
        if name == "defaultValue" and attrs.get("classId") == "State":
            value = State(value)
        return [(name, typed_value(key, value, t), t)]


def _state_options(value: Any, attrs: Any) -> bool:
    """Whether ``value`` (not a string) gives states as options: always so for a State element."""
    return attrs.get("classId") == "State" or any(isinstance(x, State) for x in value)


def _restriction(name: str, value: Any, attrs: Any) -> str:
    """The restriction guarding keyword ``name`` (Karabo's name for it)."""
    if name == "assignment":
        return _ASSIGNMENT_RESTRICTION[Assignment(int(value))]
    if name == "accessMode":
        return _ACCESS_RESTRICTION[AccessMode(int(value))]
    if name == "requiredAccessLevel":
        return _LEVEL_RESTRICTION[AccessLevel(int(value))]
    if name == "unitSymbol":
        return "unit"
    if name == "metricPrefixSymbol":
        return "metricPrefix"
    if name == "options":
        # Karabo: states (a list) are options for State elements only, text options for the others.
        return "options" if isinstance(value, str) or not _state_options(value, attrs) else "stateOptions"
    return name

def _restrictions(attrs: Any) -> frozenset[str]:
    """The names of the attributes the element protects."""
    if "overwriteRestrictions" not in attrs:
        return DEFAULT_RESTRICTIONS
    flags = list(attrs["overwriteRestrictions"])
    if len(flags) != len(OVERWRITE_RESTRICTIONS):
        raise ValueError(f"Overwrite restrictions cannot be created from the passed attribute ({len(flags)} "
                         f"flags, Karabo has {len(OVERWRITE_RESTRICTIONS)})")
    return frozenset(name for name, flag in zip(OVERWRITE_RESTRICTIONS, flags, strict=True) if flag)
