"""The Karabo Schema: a root name plus a parameter Hash whose attributes describe every property.

The parameter Hash uses exactly Karabo 3's attribute keys and attribute types (``nodeType``,
``accessMode``, ``assignment`` and ``requiredAccessLevel`` INT32; ``valueType`` STRING;
``defaultValue``, limits and ``options`` typed like the property; ``minSize``/``maxSize`` UINT32;
``allowedStates`` and ``tags`` VECTOR_STRING; ...), so a Schema serialises into what real Karabo
reads and a decoded Karabo Schema works with every method here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pykarabo._core.hash import setSchemaClass
from pykarabo._core.hash import Hash
from pykarabo._core.hash import Schema as CoreSchema
from pykarabo._core.types import Types
from pykarabo.access import (
    AccessLevel,
    AccessMode,
    AccessType,
    ArchivePolicy,
    Assignment,
    DaqDataType,
    NodeType,
)
from pykarabo.states import State
from pykarabo.units import MetricPrefix, Unit

__all__ = ["AssemblyRules", "Schema"]

# Attribute types Karabo 3 uses for the attributes whose type does not follow the property's type.
INT32_ATTRIBUTES = frozenset((
    "nodeType", "accessMode", "assignment", "requiredAccessLevel", "archivePolicy", "daqDataType",
    "unitEnum", "metricPrefixEnum"))
STRING_ATTRIBUTES = frozenset((
    "valueType", "displayedName", "description", "displayType", "classId", "unitName", "unitSymbol",
    "metricPrefixName", "metricPrefixSymbol", "regex"))
VECTOR_STRING_ATTRIBUTES = frozenset(("tags", "allowedStates"))
UINT32_ATTRIBUTES = frozenset(("minSize", "maxSize"))
# Typed like the property's value (options: a vector of the property's type).
VALUE_ATTRIBUTES = frozenset(("defaultValue", "minInc", "maxInc", "minExc", "maxExc"))

# Class ids of the nodes with a fixed layout (Karabo's "custom nodes").
SLOT = "Slot"
OUTPUT_CHANNEL = "OutputChannel"
INPUT_CHANNEL = "InputChannel"
NDARRAY = "NDArray"
IMAGEDATA = "ImageData"


class AssemblyRules:
    """Which part of a Schema to keep (Karabo's AssemblyRules): access modes, current state, access level."""

    __slots__ = ("accessMode", "state", "accessLevel")

    def __init__(self, accessMode: AccessType | int = AccessType.INIT | AccessType.READ | AccessType.WRITE,
                 state: State | str = "", accessLevel: AccessLevel | int = -1) -> None:
        """Keep elements whose access mode is in ``accessMode``, allowed in ``state`` (if given) and
        visible at ``accessLevel`` (if >= 0)."""
        self.accessMode = int(accessMode)
        self.state = str(state)
        self.accessLevel = int(accessLevel)

    def __repr__(self) -> str:
        return f"AssemblyRules({AccessType(self.accessMode)!r}, {self.state!r}, {self.accessLevel})"


class Schema(CoreSchema):
    """A Karabo Schema with Karabo's introspection, modification, merge and sub-schema methods.

    Edit a Schema through its methods: they drop the compiled form the Validator caches on it.
    After editing ``getParameterHash()`` directly, call :meth:`touch`.
    """

    def __init__(self, rootName: str = "", hash: Hash | None = None) -> None:
        """Create a Schema called ``rootName`` (normally a class id) over ``hash`` (empty by default)."""
        super().__init__(rootName, Hash() if hash is None else hash)
        self._plan: Any = None

    @classmethod
    def fromCore(cls, schema: CoreSchema) -> Schema:
        """The full Schema for a core Schema value (itself if it already is one); shares the Hash."""
        if isinstance(schema, cls):
            return schema
        return cls(schema.rootName, schema.hash)

    def touch(self) -> None:
        """Forget cached compiled forms after the parameter Hash was edited directly."""
        self._plan = None

    def setRootName(self, rootName: str) -> None:
        """Rename the Schema."""
        self.rootName = rootName

    def copy(self) -> Schema:
        """A deep copy."""
        return Schema(self.rootName, self.hash.copy())

    # -- element access ------------------------------------------------------------------------

    def _attrs(self, path: str) -> Any:
        try:
            return self.hash.getAttributes(path)
        except KeyError:
            raise KeyError(f'Key "{path}" does not exist in schema "{self.rootName}"') from None

    def _attr(self, path: str, name: str) -> Any:
        attrs = self._attrs(path)
        if name not in attrs:
            raise KeyError(f'Element "{path}" of schema "{self.rootName}" has no attribute "{name}"')
        return attrs[name]

    def _set(self, path: str, name: str, value: Any, type: Types | None = None) -> None:
        self._attrs(path)  # the path must exist
        self.hash.setAttribute(path, name, value, type)
        self._plan = None

    def has(self, path: str) -> bool:
        """Whether ``path`` names an element."""
        return self.hash.has(path)

    def empty(self) -> bool:
        """Whether the Schema has no elements."""
        return self.hash.empty()

    def getKeys(self, path: str = "") -> list[str]:
        """Keys of the top level, or of the node at ``path``."""
        if not path:
            return self.hash.getKeys()
        node = self.hash[path]
        return node.getKeys() if isinstance(node, Hash) else []

    def getPaths(self) -> list[str]:
        """Paths of all leaves, slots and empty nodes, depth first in declaration order."""
        paths: list[str] = []
        _collect_paths(self.hash, "", paths)
        return paths

    # -- kind of element -----------------------------------------------------------------------

    def getNodeType(self, path: str) -> NodeType:
        """LEAF or NODE."""
        return NodeType(int(self._attr(path, "nodeType")))

    def isLeaf(self, path: str) -> bool:
        """Whether ``path`` is a leaf (a property with a value)."""
        return int(self._attrs(path).get("nodeType", -1)) == NodeType.LEAF

    def isNode(self, path: str) -> bool:
        """Whether ``path`` is a node (including slots, channels, NDArray and ImageData)."""
        return int(self._attrs(path).get("nodeType", -1)) == NodeType.NODE

    def isProperty(self, path: str) -> bool:
        """Whether ``path`` is a property (a leaf)."""
        return self.isLeaf(path)

    def isCommand(self, path: str) -> bool:
        """Whether ``path`` is a slot (a command without arguments)."""
        attrs = self._attrs(path)
        return attrs.get("classId") == SLOT and int(attrs.get("nodeType", -1)) == NodeType.NODE

    def isCustomNode(self, path: str) -> bool:
        """Whether ``path`` is a node with a class id (NDArray, ImageData, channels, slots, ...)."""
        return self.isNode(path) and "classId" in self._attrs(path)

    def getCustomNodeClass(self, path: str) -> str:
        """The class id of a custom node."""
        return self._attr(path, "classId")

    def getValueType(self, path: str) -> Types:
        """The Karabo type of a leaf."""
        return Types[self._attr(path, "valueType")]

    # -- access, assignment, default -----------------------------------------------------------

    def hasAccessMode(self, path: str) -> bool:
        """Whether the element declares an access mode."""
        return "accessMode" in self._attrs(path)

    def getAccessMode(self, path: str) -> AccessMode:
        """INITONLY, READONLY or RECONFIGURABLE."""
        return AccessMode(int(self._attr(path, "accessMode")))

    def isAccessInitOnly(self, path: str) -> bool:
        """Whether the element can only be set at instantiation."""
        return self.getAccessMode(path) == AccessMode.INITONLY

    def isAccessReadOnly(self, path: str) -> bool:
        """Whether the element is never written from outside."""
        return self.getAccessMode(path) == AccessMode.READONLY

    def isAccessReconfigurable(self, path: str) -> bool:
        """Whether the element can be reconfigured at any time."""
        return self.getAccessMode(path) == AccessMode.RECONFIGURABLE

    def hasReconfigurableParameter(self) -> bool:
        """Whether any property (at any depth) can be reconfigured at run time."""
        return any(self.isLeaf(p) and self.hasAccessMode(p) and self.isAccessReconfigurable(p)
                   for p in self.getPaths())

    def setAccessMode(self, path: str, accessMode: AccessMode | int) -> None:
        """Change the access mode."""
        self._set(path, "accessMode", int(AccessMode(int(accessMode))), Types.INT32)

    def hasAssignment(self, path: str) -> bool:
        """Whether the element declares an assignment."""
        return "assignment" in self._attrs(path)

    def getAssignment(self, path: str) -> Assignment:
        """OPTIONAL, MANDATORY or INTERNAL."""
        return Assignment(int(self._attr(path, "assignment")))

    def isAssignmentMandatory(self, path: str) -> bool:
        """Whether a configuration must provide the value."""
        return self.hasAssignment(path) and self.getAssignment(path) == Assignment.MANDATORY

    def isAssignmentOptional(self, path: str) -> bool:
        """Whether a configuration may provide the value."""
        return self.hasAssignment(path) and self.getAssignment(path) == Assignment.OPTIONAL

    def isAssignmentInternal(self, path: str) -> bool:
        """Whether the framework provides the value."""
        return self.hasAssignment(path) and self.getAssignment(path) == Assignment.INTERNAL

    def setAssignment(self, path: str, assignment: Assignment | int) -> None:
        """Change the assignment."""
        self._set(path, "assignment", int(Assignment(int(assignment))), Types.INT32)

    def hasDefaultValue(self, path: str) -> bool:
        """Whether the element has a default value."""
        return "defaultValue" in self._attrs(path)

    def getDefaultValue(self, path: str) -> Any:
        """The default value, typed like the property."""
        return self._attr(path, "defaultValue")

    def getDefaultValueAs(self, path: str, type: Types) -> Any:
        """The default value converted to ``type``."""
        return self.hash.getAttributeAs(path, "defaultValue", type)

    def setDefaultValue(self, path: str, value: Any) -> None:
        """Change the default value (converted to the property's type)."""
        self._set(path, "defaultValue", *self._typed(path, value))

    def _typed(self, path: str, value: Any) -> tuple[Any, Types]:
        t = self.getValueType(path)
        h = Hash()
        h.set("v", value)
        return h.getAs("v", t), t

    # -- descriptive attributes ----------------------------------------------------------------

    def hasDisplayedName(self, path: str) -> bool:
        """Whether the element has a displayed name."""
        return "displayedName" in self._attrs(path)

    def getDisplayedName(self, path: str) -> str:
        """The displayed name; the key if none is set."""
        return self._attrs(path).get("displayedName", path.rsplit(".", 1)[-1])

    def setDisplayedName(self, path: str, name: str) -> None:
        """Change the displayed name."""
        self._set(path, "displayedName", name, Types.STRING)

    def hasDescription(self, path: str) -> bool:
        """Whether the element has a description."""
        return "description" in self._attrs(path)

    def getDescription(self, path: str) -> str:
        """The description."""
        return self._attr(path, "description")

    def setDescription(self, path: str, description: str) -> None:
        """Change the description."""
        self._set(path, "description", description, Types.STRING)

    def hasDisplayType(self, path: str) -> bool:
        """Whether the element has a display type."""
        return "displayType" in self._attrs(path)

    def getDisplayType(self, path: str) -> str:
        """The display hint (``Curve``, ``hex``, ``State``, ...)."""
        return self._attr(path, "displayType")

    def setDisplayType(self, path: str, displayType: str) -> None:
        """Change the display hint."""
        self._set(path, "displayType", displayType, Types.STRING)

    def hasClassId(self, path: str) -> bool:
        """Whether the element has a class id."""
        return "classId" in self._attrs(path)

    def getClassId(self, path: str) -> str:
        """The class id (``State``, ``Slot``, ``NDArray``, ...)."""
        return self._attr(path, "classId")

    def hasTags(self, path: str) -> bool:
        """Whether the element has tags."""
        return "tags" in self._attrs(path)

    def getTags(self, path: str) -> list[str]:
        """The tags."""
        return list(self._attr(path, "tags"))

    def setTags(self, path: str, tags: str | Iterable[str]) -> None:
        """Change the tags (a list, or one string separated by commas or spaces)."""
        self._set(path, "tags", _names(tags), Types.VECTOR_STRING)

    # -- aliases -------------------------------------------------------------------------------

    def keyHasAlias(self, path: str) -> bool:
        """Whether the element has an alias."""
        return "alias" in self._attrs(path)

    def getAliasFromKey(self, path: str) -> Any:
        """The alias of an element."""
        return self._attr(path, "alias")

    def getAliasAsString(self, path: str) -> str:
        """The alias of an element as text."""
        return self.hash.getAttributeAs(path, "alias", Types.STRING)

    def setAlias(self, path: str, alias: Any) -> None:
        """Give an element an alias (of any type)."""
        self._set(path, "alias", alias)

    def aliasHasKey(self, alias: Any) -> bool:
        """Whether some element has the alias ``alias``."""
        return self._key_of_alias(alias) is not None

    def getKeyFromAlias(self, alias: Any) -> str:
        """The path of the element with alias ``alias``."""
        path = self._key_of_alias(alias)
        if path is None:
            raise KeyError(f"No key with alias {alias!r} in schema \"{self.rootName}\"")
        return path

    def _key_of_alias(self, alias: Any) -> str | None:
        for path in _all_paths(self.hash, ""):
            attrs = self.hash.getAttributes(path)
            if "alias" in attrs and attrs["alias"] == alias:
                return path
        return None

    # -- rules ---------------------------------------------------------------------------------

    def hasOptions(self, path: str) -> bool:
        """Whether the element restricts its value to options."""
        return "options" in self._attrs(path)

    def getOptions(self, path: str) -> list[Any]:
        """The allowed values."""
        options = self._attr(path, "options")
        return options.tolist() if hasattr(options, "tolist") else list(options)

    def setOptions(self, path: str, options: str | Iterable[Any]) -> None:
        """Change the allowed values (a list, or one string separated by commas or spaces)."""
        t = self.getValueType(path)
        items = _names(options) if isinstance(options, str) else list(options)
        h = Hash()
        h.set("v", [str(x) for x in items] if t == Types.STRING else items)
        vector = t if t.isVector else t.vectorType
        self._set(path, "options", h.getAs("v", vector), vector)

    def hasAllowedStates(self, path: str) -> bool:
        """Whether the element is restricted to some states."""
        return "allowedStates" in self._attrs(path)

    def getAllowedStates(self, path: str) -> list[State]:
        """The states in which the property may be written or the slot called."""
        return [State(s) for s in self._attr(path, "allowedStates")]

    def setAllowedStates(self, path: str, *states: State | str) -> None:
        """Change the allowed states (each a State or a state name)."""
        if len(states) == 1 and not isinstance(states[0], str):
            states = tuple(states[0])
        self._set(path, "allowedStates", [State(s).value for s in states], Types.VECTOR_STRING)

    def getRequiredAccessLevel(self, path: str) -> AccessLevel:
        """The access level needed to see/change the element: its own, else the nearest parent's."""
        parts = path.split(".")
        for i in range(len(parts), 0, -1):
            attrs = self._attrs(".".join(parts[:i]))
            if "requiredAccessLevel" in attrs:
                return AccessLevel(int(attrs["requiredAccessLevel"]))
        return AccessLevel.OBSERVER

    def setRequiredAccessLevel(self, path: str, level: AccessLevel | int) -> None:
        """Change the access level."""
        self._set(path, "requiredAccessLevel", int(AccessLevel(int(level))), Types.INT32)

    def hasArchivePolicy(self, path: str) -> bool:
        """Whether the element declares an archive policy."""
        return "archivePolicy" in self._attrs(path)

    def getArchivePolicy(self, path: str) -> ArchivePolicy:
        """EVERY_EVENT or NO_ARCHIVING."""
        return ArchivePolicy(int(self._attr(path, "archivePolicy")))

    def setArchivePolicy(self, path: str, policy: ArchivePolicy | int) -> None:
        """Change the archive policy."""
        self._set(path, "archivePolicy", int(ArchivePolicy(int(policy))), Types.INT32)

    def hasDaqDataType(self, path: str) -> bool:
        """Whether the node declares a DAQ data type."""
        return "daqDataType" in self._attrs(path)

    def getDaqDataType(self, path: str) -> DaqDataType:
        """PULSE or TRAIN."""
        return DaqDataType(int(self._attr(path, "daqDataType")))

    def setDaqDataType(self, path: str, daqDataType: DaqDataType | int) -> None:
        """Change the DAQ data type of a node."""
        self._set(path, "daqDataType", int(DaqDataType(int(daqDataType))), Types.INT32)

    def hasUnit(self, path: str) -> bool:
        """Whether the element declares a unit."""
        attrs = self._attrs(path)
        return "unitSymbol" in attrs or "unitEnum" in attrs

    def getUnit(self, path: str) -> Unit:
        """The unit (NUMBER if none is set)."""
        return Unit.fromAttributes(self._attrs(path)) or Unit.NUMBER

    def getUnitName(self, path: str) -> str:
        """The unit's lower-case name."""
        return self.getUnit(path).unitName

    def getUnitSymbol(self, path: str) -> str:
        """The unit's symbol."""
        return self.getUnit(path).unitSymbol

    def setUnit(self, path: str, unit: Unit | str) -> None:
        """Change the unit (writes unitEnum, unitName and unitSymbol, like bound/C++)."""
        unit = Unit(unit)
        self._set(path, "unitEnum", unit.unitEnum, Types.INT32)
        self._set(path, "unitName", unit.unitName, Types.STRING)
        self._set(path, "unitSymbol", unit.unitSymbol, Types.STRING)

    def hasMetricPrefix(self, path: str) -> bool:
        """Whether the element declares a metric prefix."""
        attrs = self._attrs(path)
        return "metricPrefixSymbol" in attrs or "metricPrefixEnum" in attrs

    def getMetricPrefix(self, path: str) -> MetricPrefix:
        """The metric prefix (NONE if none is set)."""
        return MetricPrefix.fromAttributes(self._attrs(path)) or MetricPrefix.NONE

    def getMetricPrefixName(self, path: str) -> str:
        """The metric prefix's lower-case name."""
        return self.getMetricPrefix(path).metricPrefixName

    def getMetricPrefixSymbol(self, path: str) -> str:
        """The metric prefix's symbol."""
        return self.getMetricPrefix(path).metricPrefixSymbol

    def setMetricPrefix(self, path: str, prefix: MetricPrefix | str) -> None:
        """Change the metric prefix (writes its enum, name and symbol, like bound/C++)."""
        prefix = MetricPrefix(prefix)
        self._set(path, "metricPrefixEnum", prefix.metricPrefixEnum, Types.INT32)
        self._set(path, "metricPrefixName", prefix.metricPrefixName, Types.STRING)
        self._set(path, "metricPrefixSymbol", prefix.metricPrefixSymbol, Types.STRING)

    def hasMinInc(self, path: str) -> bool:
        """Whether the element has an inclusive lower limit."""
        return "minInc" in self._attrs(path)

    def getMinInc(self, path: str) -> Any:
        """The inclusive lower limit."""
        return self._attr(path, "minInc")

    def setMinInc(self, path: str, value: Any) -> None:
        """Change the inclusive lower limit."""
        self._set(path, "minInc", *self._typed(path, value))

    def hasMaxInc(self, path: str) -> bool:
        """Whether the element has an inclusive upper limit."""
        return "maxInc" in self._attrs(path)

    def getMaxInc(self, path: str) -> Any:
        """The inclusive upper limit."""
        return self._attr(path, "maxInc")

    def setMaxInc(self, path: str, value: Any) -> None:
        """Change the inclusive upper limit."""
        self._set(path, "maxInc", *self._typed(path, value))

    def hasMinExc(self, path: str) -> bool:
        """Whether the element has an exclusive lower limit."""
        return "minExc" in self._attrs(path)

    def getMinExc(self, path: str) -> Any:
        """The exclusive lower limit."""
        return self._attr(path, "minExc")

    def setMinExc(self, path: str, value: Any) -> None:
        """Change the exclusive lower limit."""
        self._set(path, "minExc", *self._typed(path, value))

    def hasMaxExc(self, path: str) -> bool:
        """Whether the element has an exclusive upper limit."""
        return "maxExc" in self._attrs(path)

    def getMaxExc(self, path: str) -> Any:
        """The exclusive upper limit."""
        return self._attr(path, "maxExc")

    def setMaxExc(self, path: str, value: Any) -> None:
        """Change the exclusive upper limit."""
        self._set(path, "maxExc", *self._typed(path, value))

    def hasMinSize(self, path: str) -> bool:
        """Whether the vector or table has a minimum size."""
        return "minSize" in self._attrs(path)

    def getMinSize(self, path: str) -> int:
        """The minimum number of elements (or table rows)."""
        return int(self._attr(path, "minSize"))

    def setMinSize(self, path: str, size: int) -> None:
        """Change the minimum number of elements."""
        self._set(path, "minSize", int(size), Types.UINT32)

    def hasMaxSize(self, path: str) -> bool:
        """Whether the vector or table has a maximum size."""
        return "maxSize" in self._attrs(path)

    def getMaxSize(self, path: str) -> int:
        """The maximum number of elements (or table rows)."""
        return int(self._attr(path, "maxSize"))

    def setMaxSize(self, path: str, size: int) -> None:
        """Change the maximum number of elements."""
        self._set(path, "maxSize", int(size), Types.UINT32)

    def hasRowSchema(self, path: str) -> bool:
        """Whether the element is a table with a row schema."""
        return "rowSchema" in self._attrs(path)

    def getRowSchema(self, path: str) -> Schema:
        """The row schema of a table."""
        return Schema.fromCore(self._attr(path, "rowSchema"))

    # -- whole-schema operations ---------------------------------------------------------------

    def merge(self, other: CoreSchema) -> None:
        """Add ``other``'s elements; elements present in both take ``other``'s attributes (Karabo's merge)."""
        self.hash.merge(other.hash, "merge")
        self._plan = None

    def subSchema(self, path: str, filterTags: str = "") -> Schema:
        """The node at ``path`` as a Schema of its own (only elements with one of ``filterTags``, if given)."""
        node = self.hash[path]
        if not isinstance(node, Hash):
            raise KeyError(f'"{path}" is not a node of schema "{self.rootName}"')
        sub = Schema("", node.copy())
        if filterTags:
            wanted = set(_names(filterTags))
            keep = {p for p in sub.getPaths()
                    if wanted.intersection(sub.hash.getAttributes(p).get("tags", ()))}
            return sub.subSchemaByPaths(keep)
        return sub

    def subSchemaByPaths(self, paths: Iterable[str]) -> Schema:
        """A Schema with only the elements at ``paths`` (and everything below them)."""
        out = Schema(self.rootName)
        wanted = set(paths)
        copied: list[str] = []
        for path in _all_paths(self.hash, ""):
            if path not in wanted or any(path.startswith(c + ".") for c in copied):
                continue
            copied.append(path)
            parts = path.split(".")
            for i in range(1, len(parts)):
                parent = ".".join(parts[:i])
                if not out.hash.has(parent):
                    out.hash.set(parent, Hash())
                    out.hash.setAttributes(parent, self.hash.getAttributes(parent).copy())
            node = self.hash.getNode(path)
            value = node.getValue()
            out.hash.set(path, value.copy() if isinstance(value, Hash) else Hash())
            out.hash.setAttributes(path, node.getAttributes().copy())
        return out

    def subSchemaByRules(self, rules: AssemblyRules) -> Schema:
        """The elements that ``rules`` select; nodes left empty by the filter are dropped."""
        out = Schema(self.rootName, Hash())
        _filter_by_rules(self.hash, out.hash, rules)
        return out

    # -- human-readable form -------------------------------------------------------------------

    def dump(self, path: str = "") -> str:
        """A readable description of the whole Schema, or of the element at ``path`` and below."""
        lines = [f"Schema: {self.rootName}"]
        if path:
            node = self.hash.getNode(path)
            _dump_element(path, node, lines, 0)
        else:
            for node in self.hash.nodes():
                _dump_element(node.getKey(), node, lines, 0)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.dump()


def _names(value: str | Iterable[Any]) -> list[str]:
    """A list of names from a list or a string separated by commas and/or spaces."""
    if isinstance(value, str):
        return [x for x in value.replace(",", " ").split() if x]
    return [str(getattr(x, "value", x)) for x in value]


def _collect_paths(h: Hash, prefix: str, out: list[str]) -> None:
    for node in h.nodes():
        path = prefix + node.getKey()
        value = node.getValue()
        if isinstance(value, Hash) and len(value):
            _collect_paths(value, path + ".", out)
        else:
            out.append(path)


def _all_paths(h: Hash, prefix: str) -> Iterable[str]:
    for node in h.nodes():
        path = prefix + node.getKey()
        yield path
        value = node.getValue()
        if isinstance(value, Hash):
            yield from _all_paths(value, path + ".")


def _selected(attrs: Any, rules: AssemblyRules) -> bool:
    mode = attrs.get("accessMode")
    if mode is not None and not int(mode) & rules.accessMode:
        return False
    if rules.state and "allowedStates" in attrs and rules.state not in attrs["allowedStates"]:
        return False
    level = attrs.get("requiredAccessLevel")
    return rules.accessLevel < 0 or level is None or int(level) <= rules.accessLevel


def _filter_by_rules(src: Hash, dst: Hash, rules: AssemblyRules) -> None:
    for node in src.nodes():
        attrs = node.getAttributes()
        if not _selected(attrs, rules):
            continue
        key = node.getKey()
        value = node.getValue()
        if int(attrs.get("nodeType", 0)) == NodeType.NODE and isinstance(value, Hash) and len(value):
            child = Hash()
            _filter_by_rules(value, child, rules)
            if not len(child):
                continue
            dst.set(key, child)
        else:
            dst.set(key, Hash())
        dst.setAttributes(key, attrs.copy())


_DUMP_ORDER = ("valueType", "accessMode", "assignment", "defaultValue", "options", "minInc", "minExc",
               "maxInc", "maxExc", "minSize", "maxSize", "allowedStates", "unitSymbol",
               "metricPrefixSymbol", "requiredAccessLevel", "displayedName", "description", "tags",
               "displayType", "classId", "archivePolicy", "daqDataType", "alias")


def _dump_element(path: str, node: Any, lines: list[str], depth: int) -> None:
    attrs = node.getAttributes()
    pad = "  " * depth
    key = path.rsplit(".", 1)[-1] if depth else path
    if attrs.get("classId") == SLOT:
        kind = "SLOT"
    elif int(attrs.get("nodeType", 0)) == NodeType.NODE:
        kind = f"NODE {attrs['classId']}" if "classId" in attrs else "NODE"
    else:
        kind = attrs.get("valueType", "?")
    lines.append(f"{pad}{key} ({kind})")
    for name in _DUMP_ORDER:
        if name in attrs and name not in ("valueType", "classId"):
            lines.append(f"{pad}    {name}: {_describe(name, attrs[name])}")
    if "rowSchema" in attrs:
        lines.append(f"{pad}    rowSchema:")
        for row in attrs["rowSchema"].hash.nodes():
            _dump_element(row.getKey(), row, lines, depth + 3)
    value = node.getValue()
    if isinstance(value, Hash):
        for child in value.nodes():
            _dump_element(f"{path}.{child.getKey()}", child, lines, depth + 1)


def _describe(name: str, value: Any) -> str:
    enums = {"accessMode": AccessMode, "assignment": Assignment, "requiredAccessLevel": AccessLevel,
             "archivePolicy": ArchivePolicy, "daqDataType": DaqDataType}
    if name in enums:
        return enums[name](int(value)).name
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list):
        return ", ".join(str(x) for x in value)
    return str(value)


# Decoding SCHEMA values yields this class from now on.
setSchemaClass(Schema)
