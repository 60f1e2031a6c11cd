"""Karabo's fluent element builders (``INT32_ELEMENT(expected).key("x")...commit()``) for bound devices.

Each builder only collects Karabo attribute keywords; :meth:`commit` hands them to the declarative
element layer of :mod:`pykarabo.schema` that the middlelayer descriptors use too, so both APIs
produce the same Schema for the same declaration (only the defaults differ as in Karabo: a bound
leaf is INITONLY unless told otherwise).
"""

from __future__ import annotations

from typing import Any, Iterable

from pykarabo import Types
from pykarabo.access import AccessLevel, AccessMode, ArchivePolicy, Assignment, DaqDataType
from pykarabo.schema import (AlarmElement, ImageDataElement, InputChannelElement, LeafElement, NDArrayElement,
                             NodeElement, OutputChannelElement, OverwriteElement, Schema, SlotElement,
                             StateElement, TableElement)
from pykarabo.states import State
from pykarabo.units import MetricPrefix, Unit

__all__ = [
    "ALARM_ELEMENT", "BOOL_ELEMENT", "BYTEARRAY_ELEMENT", "DOUBLE_ELEMENT", "FLOAT_ELEMENT", "IMAGEDATA_ELEMENT",
    "INPUT_CHANNEL", "INT32_ELEMENT", "INT64_ELEMENT", "NDARRAY_ELEMENT", "NODE_ELEMENT", "OUTPUT_CHANNEL",
    "OVERWRITE_ELEMENT", "SLOT_ELEMENT", "STATE_ELEMENT", "STRING_ELEMENT", "TABLE_ELEMENT", "UINT32_ELEMENT",
    "UINT64_ELEMENT", "VECTOR_BOOL_ELEMENT", "VECTOR_CHAR_ELEMENT", "VECTOR_DOUBLE_ELEMENT",
    "VECTOR_FLOAT_ELEMENT", "VECTOR_INT32_ELEMENT", "VECTOR_INT64_ELEMENT", "VECTOR_STRING_ELEMENT",
    "VECTOR_UINT32_ELEMENT", "VECTOR_UINT64_ELEMENT",
]

MISSING_ASSIGNMENT = "Missing assignment, i.e. assignmentMandatory() / assignmentOptional()"


def _parse(text: str, valueType: Types) -> Any:
    """An option given in a string, as a value of the leaf's (scalar) type."""
    scalar = valueType.elementType if valueType.isVector else valueType
    if scalar in (Types.FLOAT, Types.DOUBLE):
        return float(text)
    if Types.CHAR < scalar < Types.FLOAT:
        return int(text)
    if scalar == Types.BOOL:
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"{text!r} is not a BOOL option (true, false, 1 or 0)")
        return text.lower() in ("true", "1")
    return text


def _states(states: tuple) -> list[str]:
    # Karabo takes varargs; a single list is accepted too, as older device code passes one.
    if len(states) == 1 and isinstance(states[0], (list, tuple)):
        states = tuple(states[0])
    return [State(s).value for s in states]


class _Builder:
    """Methods every builder has: key, names, tags, alias, access levels, allowed states."""

    def __init__(self, schema: Schema) -> None:
        if not isinstance(schema, Schema):
            raise TypeError(f"{type(self).__name__} expects a Schema, not {type(schema).__name__}")
        self._schema = schema
        self._key: str | None = None
        self._attributes: dict[str, Any] = {}

    def key(self, key: str) -> Any:
        """The element's path (``node.leaf``)."""
        self._key = key
        return self

    def displayedName(self, name: str) -> Any:
        self._attributes["displayedName"] = name
        return self

    def description(self, text: str) -> Any:
        self._attributes["description"] = text
        return self

    def alias(self, alias: Any) -> Any:
        self._attributes["alias"] = alias
        return self

    def tags(self, tags: str | Iterable[str], sep: str = " ,;") -> Any:
        """Tags as one string (split at any of ``sep``) or as a list."""
        if isinstance(tags, str):
            for s in sep:
                tags = tags.replace(s, ",")
            tags = [t for t in tags.split(",") if t]
        self._attributes["tags"] = list(tags)
        return self

    def allowedStates(self, *states: State | str) -> Any:
        """The states in which the element may be written (properties) or called (slots)."""
        self._attributes["allowedStates"] = _states(states)
        return self

    def observerAccess(self) -> Any:
        self._attributes["requiredAccessLevel"] = AccessLevel.OBSERVER
        return self

    def operatorAccess(self) -> Any:
        self._attributes["requiredAccessLevel"] = AccessLevel.OPERATOR
        return self

    def expertAccess(self) -> Any:
        self._attributes["requiredAccessLevel"] = AccessLevel.EXPERT
        return self

    def commit(self) -> Schema:
        """Add the element to the schema."""
        if self._key is None:
            raise ValueError(f"{type(self).__name__}: key(...) must be called before commit()")
        self._element().commit(self._schema)
        return self._schema

    def _element(self) -> Any:
        raise NotImplementedError


class _Leaf(_Builder):
    """A scalar or vector property."""

    valueType: Types = Types.UNKNOWN

    def assignmentOptional(self) -> Any:
        self._attributes["assignment"] = Assignment.OPTIONAL
        return self

    def assignmentMandatory(self) -> Any:
        self._attributes["assignment"] = Assignment.MANDATORY
        return self

    def assignmentInternal(self) -> Any:
        self._attributes["assignment"] = Assignment.INTERNAL
        return self

    def defaultValue(self, value: Any) -> Any:
        self._attributes["defaultValue"] = value
        return self

    def noDefaultValue(self) -> Any:
        self._attributes.pop("defaultValue", None)
        return self

    def initialValue(self, value: Any) -> Any:
        """The value of a read-only property before the device sets one."""
        return self.defaultValue(value)

    def init(self) -> Any:
        self._attributes["accessMode"] = AccessMode.INITONLY
        return self

    def reconfigurable(self) -> Any:
        self._attributes["accessMode"] = AccessMode.RECONFIGURABLE
        return self

    def readOnly(self) -> Any:
        self._attributes["accessMode"] = AccessMode.READONLY
        self._attributes.setdefault("assignment", Assignment.OPTIONAL)
        return self

    def archivePolicy(self, policy: ArchivePolicy | int) -> Any:
        self._attributes["archivePolicy"] = ArchivePolicy(int(policy))
        return self

    def unit(self, unit: Unit | str) -> Any:
        self._attributes["unitSymbol"] = unit
        return self

    def metricPrefix(self, prefix: MetricPrefix | str) -> Any:
        self._attributes["metricPrefixSymbol"] = prefix
        return self

    def minInc(self, value: Any) -> Any:
        self._attributes["minInc"] = value
        return self

    def maxInc(self, value: Any) -> Any:
        self._attributes["maxInc"] = value
        return self

    def minExc(self, value: Any) -> Any:
        self._attributes["minExc"] = value
        return self

    def maxExc(self, value: Any) -> Any:
        self._attributes["maxExc"] = value
        return self

    def minSize(self, size: int) -> Any:
        self._attributes["minSize"] = size
        return self

    def maxSize(self, size: int) -> Any:
        self._attributes["maxSize"] = size
        return self

    def options(self, options: str | Iterable[Any], sep: str = " ,;") -> Any:
        """Allowed values, as a list or one string split at any of ``sep``."""
        if isinstance(options, str) and self.valueType != Types.VECTOR_STRING:
            for s in sep:
                options = options.replace(s, ",")
            options = [_parse(o, self.valueType) for o in options.split(",") if o]
        self._attributes["options"] = list(options)
        return self

    def bin(self) -> Any:
        return self.setSpecialDisplayType("bin")

    def hex(self) -> Any:
        return self.setSpecialDisplayType("hex")

    def oct(self) -> Any:
        return self.setSpecialDisplayType("oct")

    def setSpecialDisplayType(self, displayType: str) -> Any:
        self._attributes["displayType"] = displayType
        return self

    def _element(self) -> LeafElement:
        a = self._attributes
        if "assignment" not in a:
            raise ValueError(f'{MISSING_ASSIGNMENT} for "{self._key}"')
        t = self.valueType
        if a.get("accessMode") == AccessMode.READONLY and "defaultValue" not in a \
                and Types.CHAR <= t <= Types.DOUBLE and t % 2 == 0:
            a["defaultValue"] = 0   # as Karabo: read-only numbers start at 0
        return LeafElement(self._key, t, **a)


def _leafBuilder(name: str, valueType: Types) -> type:
    return type(name, (_Leaf,), {"valueType": valueType, "__doc__": f"A {valueType.name} property.",
                                 "__module__": __name__})


BOOL_ELEMENT = _leafBuilder("BOOL_ELEMENT", Types.BOOL)
INT32_ELEMENT = _leafBuilder("INT32_ELEMENT", Types.INT32)
UINT32_ELEMENT = _leafBuilder("UINT32_ELEMENT", Types.UINT32)
INT64_ELEMENT = _leafBuilder("INT64_ELEMENT", Types.INT64)
UINT64_ELEMENT = _leafBuilder("UINT64_ELEMENT", Types.UINT64)
FLOAT_ELEMENT = _leafBuilder("FLOAT_ELEMENT", Types.FLOAT)
DOUBLE_ELEMENT = _leafBuilder("DOUBLE_ELEMENT", Types.DOUBLE)
STRING_ELEMENT = _leafBuilder("STRING_ELEMENT", Types.STRING)
BYTEARRAY_ELEMENT = _leafBuilder("BYTEARRAY_ELEMENT", Types.BYTE_ARRAY)
VECTOR_BOOL_ELEMENT = _leafBuilder("VECTOR_BOOL_ELEMENT", Types.VECTOR_BOOL)
VECTOR_CHAR_ELEMENT = _leafBuilder("VECTOR_CHAR_ELEMENT", Types.VECTOR_CHAR)
VECTOR_INT32_ELEMENT = _leafBuilder("VECTOR_INT32_ELEMENT", Types.VECTOR_INT32)
VECTOR_UINT32_ELEMENT = _leafBuilder("VECTOR_UINT32_ELEMENT", Types.VECTOR_UINT32)
VECTOR_INT64_ELEMENT = _leafBuilder("VECTOR_INT64_ELEMENT", Types.VECTOR_INT64)
VECTOR_UINT64_ELEMENT = _leafBuilder("VECTOR_UINT64_ELEMENT", Types.VECTOR_UINT64)
VECTOR_FLOAT_ELEMENT = _leafBuilder("VECTOR_FLOAT_ELEMENT", Types.VECTOR_FLOAT)
VECTOR_DOUBLE_ELEMENT = _leafBuilder("VECTOR_DOUBLE_ELEMENT", Types.VECTOR_DOUBLE)
VECTOR_STRING_ELEMENT = _leafBuilder("VECTOR_STRING_ELEMENT", Types.VECTOR_STRING)


class TABLE_ELEMENT(_Leaf):
    """A table: rows (Hashes) whose columns are the leaves of a row schema."""

    valueType = Types.VECTOR_HASH

    def setColumns(self, rowSchema: Schema) -> TABLE_ELEMENT:
        self._rowSchema = rowSchema
        return self

    setNodeSchema = setColumns

    def _element(self) -> TableElement:
        if not hasattr(self, "_rowSchema"):
            raise ValueError(f'Table "{self._key}" needs setColumns(rowSchema) before commit()')
        if "assignment" not in self._attributes:
            raise ValueError(f'{MISSING_ASSIGNMENT} for "{self._key}"')
        return TableElement(self._key, self._rowSchema, **self._attributes)


class NODE_ELEMENT(_Builder):
    """A node grouping the elements whose keys start with its key."""

    def setDaqDataType(self, daqDataType: DaqDataType | int) -> NODE_ELEMENT:
        self._attributes["daqDataType"] = DaqDataType(int(daqDataType))
        return self

    def appendParametersOf(self, cls: type) -> NODE_ELEMENT:
        """Fill the node with the expected parameters of ``cls`` (its ``expectedParameters``)."""
        self._contents = Schema(getattr(cls, "__classid__", cls.__name__))
        cls.expectedParameters(self._contents)
        return self

    def appendSchema(self, schema: Schema) -> NODE_ELEMENT:
        """Fill the node with the elements of ``schema``."""
        self._contents = schema
        return self

    def _element(self) -> NodeElement:
        return NodeElement(self._key, **self._attributes)

    def commit(self) -> Schema:
        super().commit()
        contents = getattr(self, "_contents", None)
        if contents is not None:
            self._schema.hash.set(self._key, contents.hash.copy())
            self._schema.touch()
        return self._schema


class SLOT_ELEMENT(_Builder):
    """A command (no arguments); register its function with ``KARABO_SLOT``."""

    def _element(self) -> SlotElement:
        return SlotElement(self._key, **self._attributes)


class STATE_ELEMENT(_Builder):
    """The device state (read-only STRING holding a State name)."""

    def options(self, *states: State | str) -> STATE_ELEMENT:
        self._attributes["options"] = _states(states)
        return self

    def initialValue(self, state: State | str) -> STATE_ELEMENT:
        self._attributes["defaultValue"] = State(state)
        return self

    defaultValue = initialValue

    def _element(self) -> StateElement:
        return StateElement(self._key, **self._attributes)


class ALARM_ELEMENT(_Builder):
    """The alarm condition (read-only STRING)."""

    def initialValue(self, condition: Any) -> ALARM_ELEMENT:
        self._attributes["defaultValue"] = condition
        return self

    defaultValue = initialValue

    def _element(self) -> AlarmElement:
        return AlarmElement(self._key, **self._attributes)


def _shape(shape: str | Iterable[int]) -> list[int]:
    if isinstance(shape, str):
        return [int(x) for x in shape.replace(",", " ").split()]
    return [int(x) for x in shape]


class NDARRAY_ELEMENT(_Builder):
    """An N-dimensional array (always read-only)."""

    def __init__(self, schema: Schema) -> None:
        super().__init__(schema)
        self._dtype: Any = Types.DOUBLE
        self._shapeValue: list[int] = []

    def dtype(self, dtype: Any) -> NDARRAY_ELEMENT:
        self._dtype = dtype
        return self

    def shape(self, shape: str | Iterable[int]) -> NDARRAY_ELEMENT:
        """Extent per dimension (0: any); a list or a string like ``"64,512,128"``."""
        self._shapeValue = _shape(shape)
        return self

    def unit(self, unit: Unit | str) -> NDARRAY_ELEMENT:
        self._attributes["unitSymbol"] = unit
        return self

    def metricPrefix(self, prefix: MetricPrefix | str) -> NDARRAY_ELEMENT:
        self._attributes["metricPrefixSymbol"] = prefix
        return self

    def setDaqDataType(self, daqDataType: DaqDataType | int) -> NDARRAY_ELEMENT:
        self._attributes["daqDataType"] = DaqDataType(int(daqDataType))
        return self

    def readOnly(self) -> NDARRAY_ELEMENT:
        """Accepted for Karabo's chains: arrays are read-only anyway."""
        return self

    def _element(self) -> NDArrayElement:
        return NDArrayElement(self._key, self._dtype, self._shapeValue, **self._attributes)


class IMAGEDATA_ELEMENT(_Builder):
    """An image (pixels with dimensions, encoding and geometry)."""

    def __init__(self, schema: Schema) -> None:
        super().__init__(schema)
        self._image: dict[str, Any] = {}

    def setDimensions(self, dims: str | Iterable[int]) -> IMAGEDATA_ELEMENT:
        self._image["shape"] = _shape(dims)
        return self

    def setType(self, dtype: Any) -> IMAGEDATA_ELEMENT:
        self._image["dtype"] = dtype
        return self

    def setEncoding(self, encoding: Any) -> IMAGEDATA_ELEMENT:
        self._image["encoding"] = encoding
        return self

    def setDaqDataType(self, daqDataType: DaqDataType | int) -> IMAGEDATA_ELEMENT:
        self._attributes["daqDataType"] = DaqDataType(int(daqDataType))
        return self

    def _element(self) -> ImageDataElement:
        return ImageDataElement(self._key, **self._image, **self._attributes)


class OUTPUT_CHANNEL(_Builder):
    """A pipeline output; ``dataSchema`` describes what ``writeChannel`` sends (checked strictly)."""

    def dataSchema(self, schema: Schema) -> OUTPUT_CHANNEL:
        self._data = schema
        return self

    def _element(self) -> OutputChannelElement:
        return OutputChannelElement(self._key, getattr(self, "_data", None), **self._attributes)


class INPUT_CHANNEL(_Builder):
    """A pipeline input, configured by its sub-keys (``connectedOutputChannels``, ``onSlowness``, ...)."""

    def _element(self) -> InputChannelElement:
        return InputChannelElement(self._key, **self._attributes)


class OVERWRITE_ELEMENT:
    """Change attributes of an inherited element: ``OVERWRITE_ELEMENT(expected).key("state")...commit()``."""

    def __init__(self, schema: Schema) -> None:
        self._schema = schema
        self._key: str | None = None
        self._attributes: dict[str, Any] = {}

    def key(self, key: str) -> OVERWRITE_ELEMENT:
        self._key = key
        return self

    def _with(self, name: str, value: Any) -> OVERWRITE_ELEMENT:
        self._attributes[name] = value
        return self

    def setNewDisplayedName(self, name: str) -> OVERWRITE_ELEMENT:
        return self._with("displayedName", name)

    def setNewDescription(self, text: str) -> OVERWRITE_ELEMENT:
        return self._with("description", text)

    def setNewAlias(self, alias: Any) -> OVERWRITE_ELEMENT:
        return self._with("alias", alias)

    def setNewTags(self, tags: Any) -> OVERWRITE_ELEMENT:
        return self._with("tags", tags)

    def setNewAssignmentMandatory(self) -> OVERWRITE_ELEMENT:
        return self._with("assignment", Assignment.MANDATORY)

    def setNewAssignmentOptional(self) -> OVERWRITE_ELEMENT:
        return self._with("assignment", Assignment.OPTIONAL)

    def setNewAssignmentInternal(self) -> OVERWRITE_ELEMENT:
        return self._with("assignment", Assignment.INTERNAL)

    def setNewDefaultValue(self, value: Any) -> OVERWRITE_ELEMENT:
        return self._with("defaultValue", value)

    def setNewOptions(self, *options: Any) -> OVERWRITE_ELEMENT:
        if len(options) == 1 and isinstance(options[0], (list, tuple, str)):
            options = options[0]
        return self._with("options", options if isinstance(options, str) else list(options))

    def setNewAllowedStates(self, *states: State | str) -> OVERWRITE_ELEMENT:
        return self._with("allowedStates", _states(states))

    def setNewUnit(self, unit: Unit | str) -> OVERWRITE_ELEMENT:
        return self._with("unitSymbol", unit)

    def setNewMetricPrefix(self, prefix: MetricPrefix | str) -> OVERWRITE_ELEMENT:
        return self._with("metricPrefixSymbol", prefix)

    def setNewMinInc(self, value: Any) -> OVERWRITE_ELEMENT:
        return self._with("minInc", value)

    def setNewMaxInc(self, value: Any) -> OVERWRITE_ELEMENT:
        return self._with("maxInc", value)

    def setNewMinExc(self, value: Any) -> OVERWRITE_ELEMENT:
        return self._with("minExc", value)

    def setNewMaxExc(self, value: Any) -> OVERWRITE_ELEMENT:
        return self._with("maxExc", value)

    def setNewMinSize(self, size: int) -> OVERWRITE_ELEMENT:
        return self._with("minSize", size)

    def setNewMaxSize(self, size: int) -> OVERWRITE_ELEMENT:
        return self._with("maxSize", size)

    def setNowInit(self) -> OVERWRITE_ELEMENT:
        return self._with("accessMode", AccessMode.INITONLY)

    def setNowReconfigurable(self) -> OVERWRITE_ELEMENT:
        return self._with("accessMode", AccessMode.RECONFIGURABLE)

    def setNowReadOnly(self) -> OVERWRITE_ELEMENT:
        return self._with("accessMode", AccessMode.READONLY)

    def setNowObserverAccess(self) -> OVERWRITE_ELEMENT:
        return self._with("requiredAccessLevel", AccessLevel.OBSERVER)

    def setNowOperatorAccess(self) -> OVERWRITE_ELEMENT:
        return self._with("requiredAccessLevel", AccessLevel.OPERATOR)

    def setNowExpertAccess(self) -> OVERWRITE_ELEMENT:
        return self._with("requiredAccessLevel", AccessLevel.EXPERT)

    def commit(self) -> Schema:
        """Apply the changes (all or none)."""
        if self._key is None:
            raise ValueError("OVERWRITE_ELEMENT: key(...) must be called before commit()")
        OverwriteElement(self._key, **self._attributes).commit(self._schema)
        return self._schema

