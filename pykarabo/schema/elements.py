"""Declarative schema elements: the one place that turns a property declaration into Schema attributes.

Both device APIs build on this layer: the bound builders (``INT32_ELEMENT(s).key(...)...commit()``)
collect keywords and the middlelayer descriptors (``Int32(...)``) carry them, and both call an
element's :meth:`Element.commit`.  Keywords are Karabo's attribute names; values are converted to
Karabo 3's attribute types, attributes Karabo 3 removed are refused with
:class:`~pykarabo.errors.RemovedInKarabo3Error` and unknown keywords with ``TypeError``.

Defaults follow the C++/bound API: a leaf is INITONLY unless told otherwise, vectors get
``displayType="Curve"``, units are written as ``unitEnum``/``unitName``/``unitSymbol``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from pykarabo._core.hash import Encoding, Hash
from pykarabo._core.hash import Schema as CoreSchema
from pykarabo._core.types import Types
from pykarabo._removed import removed_error
from pykarabo.access import AccessLevel, AccessMode, ArchivePolicy, Assignment, DaqDataType, NodeType
from pykarabo.alarms import AlarmCondition
from pykarabo.errors import ValidationError
from pykarabo.schema.schema import (
    IMAGEDATA,
    INPUT_CHANNEL,
    NDARRAY,
    OUTPUT_CHANNEL,
    SLOT,
    Schema,
    _names,
)
from pykarabo.states import State
from pykarabo.units import MetricPrefix, Unit

__all__ = [
    "AlarmElement",
    "Element",
    "ImageDataElement",
    "InputChannelElement",
    "LeafElement",
    "NDArrayElement",
    "NodeElement",
    "OutputChannelElement",
    "SlotElement",
    "StateElement",
    "TableElement",
]

logger = logging.getLogger(__name__)

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Attributes of Karabo 2 that Karabo 3 dropped, with what to do instead.
REMOVED_ATTRIBUTES = {
    **dict.fromkeys(("warnLow", "warnHigh", "alarmLow", "alarmHigh", "warnVarianceLow",
                     "warnVarianceHigh", "alarmVarianceLow", "alarmVarianceHigh", "needsAcknowledging",
                     "alarmInfo_warnLow", "alarmInfo_warnHigh", "alarmInfo_alarmLow",
                     "alarmInfo_alarmHigh"),
                    "alarm thresholds were removed; set the device's alarmCondition instead"),
    "daqPolicy": "the DAQ policy attribute was removed",
    "skipValidation": "every value is validated",
    "leafType": "leaves are described by valueType and classId",
    "allowedActions": "allowed actions were removed",
    "absoluteError": "absolute/relative errors were removed",
    "relativeError": "absolute/relative errors were removed",
    "dimScales": "ImageData dimension scales were removed",
    "dimTypes": "ImageData dimension types were removed",
}

# The attributes an OVERWRITE_ELEMENT may be kept from changing, in the order of Karabo's
# ``overwriteRestrictions`` attribute (a VECTOR_BOOL, True = may not be overwritten).
OVERWRITE_RESTRICTIONS = (
    "alias", "displayedName", "description", "tags", "assignmentMandatory", "assignmentOptional",
    "assignmentInternal", "init", "reconfigurable", "readOnly", "defaultValue", "minInc", "maxInc", "minExc",
    "maxExc", "min", "max", "minSize", "maxSize", "options", "stateOptions", "allowedStates",
    "observerAccess", "operatorAccess", "expertAccess", "unit", "metricPrefix", "overwriteRestrictions")
# Unless an element says otherwise only State elements take states as options.
DEFAULT_RESTRICTIONS = frozenset(("stateOptions",))
_LIMIT_RESTRICTIONS = ("minInc", "maxInc", "minExc", "maxExc", "options")
# What Karabo's STATE_ELEMENT, ALARM_ELEMENT and TABLE_ELEMENT protect.
_STATE_RESTRICTIONS = frozenset(("displayedName", "reconfigurable", "readOnly", *_LIMIT_RESTRICTIONS,
                                 "overwriteRestrictions"))
_ALARM_RESTRICTIONS = _STATE_RESTRICTIONS | {"stateOptions"}
_TABLE_RESTRICTIONS = frozenset((*_LIMIT_RESTRICTIONS, "stateOptions"))


def _restrict(h: Hash, key: str, restricted: frozenset[str]) -> None:
    h.setAttribute(key, "overwriteRestrictions", [name in restricted for name in OVERWRITE_RESTRICTIONS],
                   Types.VECTOR_BOOL)


# Keywords every element takes, with the attribute type each is stored as.
_COMMON = {"displayedName": Types.STRING, "description": Types.STRING, "alias": None,
           "tags": Types.VECTOR_STRING, "requiredAccessLevel": Types.INT32,
           "displayType": Types.STRING, "allowedStates": Types.VECTOR_STRING}
_LEAF_ONLY = ("assignment", "defaultValue", "accessMode", "unitSymbol", "metricPrefixSymbol", "minInc",
              "maxInc", "minExc", "maxExc", "minSize", "maxSize", "options", "archivePolicy", "classId",
              "regex")


class Element:
    """One schema entry being declared: a key and Karabo attribute keywords; :meth:`commit` adds it."""

    nodeType = NodeType.NODE
    keywords: frozenset[str] = frozenset(_COMMON)

    def __init__(self, key: str, **attributes: Any) -> None:
        """Declare the element at ``key`` (dotted path) with attribute keywords."""
        _check_key(key)
        for name in attributes:
            if name in REMOVED_ATTRIBUTES:
                raise removed_error(f"Schema attribute '{name}'", REMOVED_ATTRIBUTES[name])
            if name not in self.keywords:
                raise TypeError(f"{type(self).__name__} got an unexpected keyword argument '{name}'")
        self.key = key
        self.attributes = {k: v for k, v in attributes.items() if v is not None}

    def commit(self, schema: CoreSchema) -> None:
        """Add the element to ``schema``; its parent node must already exist."""
        h = schema.hash
        if "." in self.key:
            parent = self.key.rsplit(".", 1)[0]
            if not h.has(parent) or not isinstance(h[parent], Hash) \
                    or int(h.getAttributes(parent).get("nodeType", -1)) != NodeType.NODE:
                raise KeyError(f'Cannot add "{self.key}": "{parent}" is not a node of the schema')
        h.set(self.key, self._value())
        self._write(h)
        if isinstance(schema, Schema):
            schema.touch()

    def _value(self) -> Hash:
        return Hash()

    def _write(self, h: Hash) -> None:
        self._common(h)
        h.setAttribute(self.key, "nodeType", int(self.nodeType), Types.INT32)

    def _common(self, h: Hash) -> None:
        key, a = self.key, self.attributes
        for name in ("displayedName", "description", "displayType"):
            if name in a:
                h.setAttribute(key, name, str(a[name]), Types.STRING)
        if "alias" in a:
            h.setAttribute(key, "alias", a["alias"])
        if "tags" in a:
            h.setAttribute(key, "tags", _names(a["tags"]), Types.VECTOR_STRING)
        if "allowedStates" in a:
            states = a["allowedStates"]
            states = [states] if isinstance(states, str) else list(states)
            h.setAttribute(key, "allowedStates", [State(s).value for s in states], Types.VECTOR_STRING)

    def _classedNode(self, h: Hash, classId: str, accessMode: AccessMode = AccessMode.READONLY) -> None:
        """Write the header of a node with a class (NDArray, ImageData, pipeline channels)."""
        self._common(h)
        key = self.key
        h.setAttribute(key, "classId", classId, Types.STRING)
        h.setAttribute(key, "displayType", classId, Types.STRING)
        h.setAttribute(key, "nodeType", int(NodeType.NODE), Types.INT32)
        h.setAttribute(key, "accessMode", int(accessMode), Types.INT32)
        if "daqDataType" in self.attributes:
            h.setAttribute(key, "daqDataType", int(DaqDataType(int(self.attributes["daqDataType"]))),
                           Types.INT32)
        self._level(h, None)

    def _level(self, h: Hash, default: AccessLevel | None) -> None:
        level = self.attributes.get("requiredAccessLevel", default)
        if level is not None:
            h.setAttribute(self.key, "requiredAccessLevel", int(AccessLevel(int(level))), Types.INT32)


class NodeElement(Element):
    """A node grouping other elements (``NODE_ELEMENT`` / ``Node``); fill it with further elements."""

    keywords = frozenset((*_COMMON, "classId", "daqDataType", "accessMode"))

    def _write(self, h: Hash) -> None:
        super()._write(h)
        a = self.attributes
        h.setAttribute(self.key, "accessMode", int(a.get("accessMode", AccessMode.RECONFIGURABLE)), Types.INT32)
        if "classId" in a:
            h.setAttribute(self.key, "classId", str(a["classId"]), Types.STRING)
        if "daqDataType" in a:
            h.setAttribute(self.key, "daqDataType", int(DaqDataType(int(a["daqDataType"]))), Types.INT32)
        self._level(h, None)


class SlotElement(Element):
    """A command without arguments (``SLOT_ELEMENT`` / ``@Slot``): a node with ``classId="Slot"``."""

    def _write(self, h: Hash) -> None:
        self._common(h)
        key = self.key
        h.setAttribute(key, "nodeType", int(NodeType.NODE), Types.INT32)
        h.setAttribute(key, "classId", SLOT, Types.STRING)
        h.setAttribute(key, "displayType", SLOT, Types.STRING)
        h.setAttribute(key, "accessMode", int(AccessMode.RECONFIGURABLE), Types.INT32)
        self._level(h, AccessLevel.OPERATOR)


class LeafElement(Element):
    """A property with a value of ``valueType`` (scalar or vector ``*_ELEMENT`` / descriptors)."""

    nodeType = NodeType.LEAF
    keywords = frozenset((*_COMMON, *_LEAF_ONLY))

    def __init__(self, key: str, valueType: Types | str, **attributes: Any) -> None:
        """Declare a leaf of Karabo type ``valueType`` at ``key``."""
        super().__init__(key, **attributes)
        t = Types[valueType] if isinstance(valueType, str) else Types(valueType)
        if t in (Types.HASH, Types.SCHEMA, Types.UNKNOWN, Types.VECTOR_SCHEMA) or t > Types.BYTE_ARRAY:
            raise TypeError(f"a leaf cannot have valueType {t.name} (use a node or table element)")
        self.valueType = t
        check_applicable(key, t, self.attributes)

    def _typed(self, value: Any, t: Types) -> Any:
        return typed_value(self.key, value, t)

    def _write(self, h: Hash) -> None:
        key, a, t = self.key, self.attributes, self.valueType
        self._common(h)
        if t.isVector and "displayType" not in a and t not in (Types.VECTOR_CHAR, Types.VECTOR_HASH):
            h.setAttribute(key, "displayType", "Curve", Types.STRING)
        if "classId" in a:
            h.setAttribute(key, "classId", str(a["classId"]), Types.STRING)
        if "regex" in a:
            h.setAttribute(key, "regex", str(a["regex"]), Types.STRING)
        access = int(AccessMode(int(a.get("accessMode", AccessMode.INITONLY))))
        h.setAttribute(key, "nodeType", int(NodeType.LEAF), Types.INT32)
        h.setAttribute(key, "valueType", t.name, Types.STRING)
        h.setAttribute(key, "accessMode", access, Types.INT32)
        h.setAttribute(key, "assignment", int(Assignment(int(a.get("assignment", Assignment.OPTIONAL)))),
                       Types.INT32)
        if "defaultValue" in a:
            h.setAttribute(key, "defaultValue", self._default(), t)
        if "options" in a:
            options = a["options"]
            items = _names(options) if isinstance(options, str) and t != Types.VECTOR_STRING else options
            vector = t if t.isVector else t.vectorType
            h.setAttribute(key, "options", self._typed(list(items), vector), vector)
        for name in ("minInc", "maxInc", "minExc", "maxExc"):
            if name in a:
                h.setAttribute(key, name, self._typed(a[name], t), t)
        for name in ("minSize", "maxSize"):
            if name in a:
                h.setAttribute(key, name, int(a[name]), Types.UINT32)
        if "unitSymbol" in a:
            _writeUnit(h, key, Unit(a["unitSymbol"]))
        if "metricPrefixSymbol" in a:
            _writePrefix(h, key, MetricPrefix(a["metricPrefixSymbol"]))
        if "archivePolicy" in a:
            h.setAttribute(key, "archivePolicy", int(ArchivePolicy(int(a["archivePolicy"]))), Types.INT32)
        self._level(h, AccessLevel.OBSERVER if access == AccessMode.READONLY else AccessLevel.OPERATOR)

    def commit(self, schema: CoreSchema) -> None:
        """Add the leaf to ``schema``; ValueError if its limits contradict each other or its default breaks them."""
        super().commit(schema)
        try:
            check_leaf_rules(schema.hash, self.key)
        except ValueError:
            schema.hash.erase(self.key)
            raise

    def _default(self) -> Any:
        return self._typed(self.attributes["defaultValue"], self.valueType)


class StateElement(LeafElement):
    """The device state (``STATE_ELEMENT``): a read-only STRING with ``classId="State"``."""

    keywords = frozenset((*_COMMON, "defaultValue", "options"))

    def __init__(self, key: str, **attributes: Any) -> None:
        """Declare a state property (default UNKNOWN; ``options``: the states it may take)."""
        attributes.setdefault("defaultValue", State.UNKNOWN)
        super().__init__(key, Types.STRING, **attributes)
        self.attributes.update(classId="State", displayType="State", accessMode=AccessMode.READONLY)

    def _default(self) -> Any:
        return State(self.attributes["defaultValue"]).value

    def _write(self, h: Hash) -> None:
        super()._write(h)
        _restrict(h, self.key, _STATE_RESTRICTIONS)


class AlarmElement(LeafElement):
    """The alarm condition (``ALARM_ELEMENT``): a read-only STRING with ``classId="AlarmCondition"``."""

    keywords = frozenset((*_COMMON, "defaultValue"))

    def __init__(self, key: str, **attributes: Any) -> None:
        """Declare an alarm condition property (default ``none``)."""
        attributes.setdefault("defaultValue", AlarmCondition.NONE)
        super().__init__(key, Types.STRING, **attributes)
        self.attributes.update(classId="AlarmCondition", displayType="AlarmCondition",
                               accessMode=AccessMode.READONLY)

    def _default(self) -> Any:
        return AlarmCondition(self.attributes["defaultValue"]).value

    def _write(self, h: Hash) -> None:
        super()._write(h)
        _restrict(h, self.key, _ALARM_RESTRICTIONS)


class TableElement(LeafElement):
    """A table (``TABLE_ELEMENT`` / ``VectorHash``): a VECTOR_HASH whose rows follow ``rowSchema``."""

    keywords = frozenset((*_COMMON, "assignment", "defaultValue", "accessMode", "minSize", "maxSize",
                          "archivePolicy"))

    def __init__(self, key: str, rowSchema: CoreSchema, **attributes: Any) -> None:
        """Declare a table whose columns are the leaves of ``rowSchema``."""
        super().__init__(key, Types.VECTOR_HASH, **attributes)
        self.attributes.setdefault("displayType", "Table")
        self.rowSchema = _table_rows(key, rowSchema)

    def _typed(self, value: Any, t: Types) -> Any:
        return [row if isinstance(row, Hash) else Hash(dict(row)) for row in value]

    def _write(self, h: Hash) -> None:
        super()._write(h)
        h.setAttribute(self.key, "rowSchema", self.rowSchema, Types.SCHEMA)
        _restrict(h, self.key, _TABLE_RESTRICTIONS)


def _table_rows(key: str, rowSchema: CoreSchema) -> Schema:
    """A copy of a row schema; INITONLY columns become RECONFIGURABLE, as Karabo does (deprecated)."""
    rows = Schema(rowSchema.rootName, rowSchema.hash.copy())
    for node in rows.hash.nodes():
        attrs = node.getAttributes()
        if int(attrs.get("nodeType", 0)) != NodeType.LEAF:
            raise ValueError(f'Column "{node.getKey()}" of table "{key}" is not a leaf: tables hold flat rows')
        if int(attrs.get("accessMode", AccessMode.INITONLY)) == AccessMode.INITONLY:
            logger.warning('Column "%s" of table "%s" is INITONLY: made RECONFIGURABLE (deprecated)',
                           node.getKey(), key)
            attrs.set("accessMode", int(AccessMode.RECONFIGURABLE), Types.INT32)
    return rows


def _ro_leaf(h: Hash, path: str, t: Types, displayedName: str, description: str, default: Any = None,
             **extra: Any) -> None:
    h.set(path, Hash())
    h.setAttribute(path, "displayedName", displayedName, Types.STRING)
    h.setAttribute(path, "description", description, Types.STRING)
    h.setAttribute(path, "nodeType", int(NodeType.LEAF), Types.INT32)
    h.setAttribute(path, "valueType", t.name, Types.STRING)
    h.setAttribute(path, "accessMode", int(AccessMode.READONLY), Types.INT32)
    h.setAttribute(path, "assignment", int(Assignment.OPTIONAL), Types.INT32)
    if default is not None:
        h.setAttribute(path, "defaultValue", default, t)
    for name, (value, vt) in extra.items():
        h.setAttribute(path, name, value, vt)
    h.setAttribute(path, "requiredAccessLevel", int(AccessLevel.OBSERVER), Types.INT32)


def _array_node(h: Hash, path: str, dtype: Types, shape: Sequence[int]) -> None:
    """The fixed children of an NDArray node."""
    _ro_leaf(h, f"{path}.data", Types.BYTE_ARRAY, "Data", "The array's raw bytes", bytearray())
    _ro_leaf(h, f"{path}.shape", Types.VECTOR_UINT64, "Shape", "Extent per dimension (0: any extent)",
             np.array(shape, dtype=np.uint64))
    _ro_leaf(h, f"{path}.type", Types.INT32, "Data Type", "Karabo type number of the elements", int(dtype))
    _ro_leaf(h, f"{path}.isBigEndian", Types.BOOL, "Is big-endian", "Whether the data is big-endian", False)


def _dtype(dtype: Types | str | np.dtype | type) -> Types:
    if isinstance(dtype, Types):
        return dtype
    if isinstance(dtype, str) and dtype in Types.__members__:
        return Types[dtype]
    return Types.fromDtype(np.dtype(dtype))


def _writeUnit(h: Hash, key: str, unit: Unit) -> None:
    h.setAttribute(key, "unitEnum", unit.unitEnum, Types.INT32)
    h.setAttribute(key, "unitName", unit.unitName, Types.STRING)
    h.setAttribute(key, "unitSymbol", unit.unitSymbol, Types.STRING)


def _writePrefix(h: Hash, key: str, prefix: MetricPrefix) -> None:
    h.setAttribute(key, "metricPrefixEnum", prefix.metricPrefixEnum, Types.INT32)
    h.setAttribute(key, "metricPrefixName", prefix.metricPrefixName, Types.STRING)
    h.setAttribute(key, "metricPrefixSymbol", prefix.metricPrefixSymbol, Types.STRING)


class NDArrayElement(Element):
    """An N-dimensional array (``NDARRAY_ELEMENT`` / ``NDArray``): a node with ``classId="NDArray"``."""

    keywords = frozenset((*_COMMON, "unitSymbol", "metricPrefixSymbol", "daqDataType"))

    def __init__(self, key: str, dtype: Types | str | Any = Types.DOUBLE, shape: Sequence[int] = (),
                 **attributes: Any) -> None:
        """Declare an array of element type ``dtype``; ``shape`` entries 0 mean any extent."""
        super().__init__(key, **attributes)
        self.dtype = _dtype(dtype)
        self.shape = [int(x) for x in shape]

    def _write(self, h: Hash) -> None:
        self._classedNode(h, NDARRAY)
        key = self.key
        _array_node(h, key, self.dtype, self.shape)
        # Always written, as Karabo's C++ does: Karabo's middlelayer reads these attributes of every
        # NDArray it is shown (a proxy of one of our devices would fail on their absence).
        _writeUnit(h, f"{key}.data", Unit(self.attributes.get("unitSymbol", Unit.NOT_ASSIGNED)))
        _writePrefix(h, f"{key}.data", MetricPrefix(self.attributes.get("metricPrefixSymbol", MetricPrefix.NONE)))


class ImageDataElement(Element):
    """An image (``IMAGEDATA_ELEMENT`` / ``Image``): a node with ``classId="ImageData"``."""

    keywords = frozenset((*_COMMON, "daqDataType"))

    def __init__(self, key: str, dtype: Types | str | Any = Types.UINT16, shape: Sequence[int] = (),
                 encoding: Encoding | int = Encoding.GRAY, **attributes: Any) -> None:
        """Declare an image with pixel type ``dtype``, ``shape`` (height, width[, channels]) and ``encoding``."""
        super().__init__(key, **attributes)
        self.dtype = _dtype(dtype)
        self.shape = [int(x) for x in shape]
        self.encoding = int(encoding)

    def _write(self, h: Hash) -> None:
        self._classedNode(h, IMAGEDATA)
        key = self.key
        pixels = f"{key}.pixels"
        h.set(pixels, Hash())
        for name, value, t in (("displayedName", "Pixels", Types.STRING),
                               ("description", "The N-dimensional array of the pixels", Types.STRING),
                               ("classId", NDARRAY, Types.STRING), ("displayType", NDARRAY, Types.STRING),
                               ("nodeType", int(NodeType.NODE), Types.INT32),
                               ("accessMode", int(AccessMode.READONLY), Types.INT32)):
            h.setAttribute(pixels, name, value, t)
        _array_node(h, pixels, self.dtype, self.shape)
        n = len(self.shape)
        dims = np.array(self.shape, dtype=np.uint64)
        bits = np.dtype(self.dtype.dtype).itemsize * 8 if self.dtype.dtype is not None else 0
        size = (n or 0, Types.UINT32)
        _ro_leaf(h, f"{key}.dims", Types.VECTOR_UINT64, "Dimensions", "Extent per dimension", dims,
                 **({"maxSize": size} if n else {}))
        _ro_leaf(h, f"{key}.encoding", Types.INT32, "Encoding", "Pixel encoding (an Encoding number)",
                 self.encoding)
        _ro_leaf(h, f"{key}.bitsPerPixel", Types.INT32, "Bits per pixel", "Bits per pixel", bits)
        _ro_leaf(h, f"{key}.roiOffsets", Types.VECTOR_UINT64, "ROI Offsets", "Offset of the region of interest",
                 np.zeros(n, dtype=np.uint64), **({"maxSize": size} if n else {}))
        _ro_leaf(h, f"{key}.binning", Types.VECTOR_UINT64, "Binning", "Binned pixels per dimension",
                 np.ones(n, dtype=np.uint64), **({"maxSize": size} if n else {}))
        _ro_leaf(h, f"{key}.rotation", Types.INT32, "Rotation", "Counterclockwise rotation in degrees", 0,
                 options=(np.array([0, 90, 180, 270], dtype=np.int32), Types.VECTOR_INT32),
                 unitSymbol=(Unit.DEGREE.value, Types.STRING))
        _ro_leaf(h, f"{key}.flipX", Types.BOOL, "Flip X", "Horizontal flip", False)
        _ro_leaf(h, f"{key}.flipY", Types.BOOL, "Flip Y", "Vertical flip", False)


def _config_leaf(h: Hash, path: str, t: Types, displayedName: str, default: Any,
                 access: AccessMode = AccessMode.INITONLY, **attributes: Any) -> None:
    """A configuration leaf of a pipeline channel node."""
    LeafElement(path, t, displayedName=displayedName, defaultValue=default, accessMode=access,
                **attributes).commit(CoreSchema("", h))


def _connections_rows() -> Schema:
    rows = Schema("", Hash())
    for key, t in (("remoteId", Types.STRING), ("dataDistribution", Types.STRING),
                   ("onSlowness", Types.STRING), ("memoryLocation", Types.STRING),
                   ("remoteAddress", Types.STRING), ("remotePort", Types.UINT16),
                   ("localAddress", Types.STRING), ("localPort", Types.UINT16)):
        LeafElement(key, t, accessMode=AccessMode.READONLY, defaultValue="" if t == Types.STRING else 0,
                    displayedName=key).commit(rows)
    return rows


class OutputChannelElement(Element):
    """A pipeline output (``OUTPUT_CHANNEL`` / ``OutputChannel``) with its configuration and data schema."""

    def __init__(self, key: str, dataSchema: CoreSchema | None = None, **attributes: Any) -> None:
        """Declare an output whose data follow ``dataSchema`` (its leaves are copied under ``schema``)."""
        super().__init__(key, **attributes)
        self.dataSchema = dataSchema

    def _write(self, h: Hash) -> None:
        self._classedNode(h, OUTPUT_CHANNEL, AccessMode.RECONFIGURABLE)
        key = self.key
        _config_leaf(h, f"{key}.noInputShared", Types.STRING, "No Input (Shared)", "drop",
                     options=["drop", "queueDrop", "wait"])
        _config_leaf(h, f"{key}.hostname", Types.STRING, "Hostname", "default")
        _config_leaf(h, f"{key}.address", Types.STRING, "Address", "", AccessMode.READONLY)
        _config_leaf(h, f"{key}.port", Types.UINT32, "Port", 0, maxInc=65535,
                     requiredAccessLevel=AccessLevel.EXPERT)
        TableElement(f"{key}.connections", _connections_rows(), displayedName="Connections",
                     accessMode=AccessMode.READONLY, defaultValue=[],
                     requiredAccessLevel=AccessLevel.EXPERT).commit(CoreSchema("", h))
        _config_leaf(h, f"{key}.updatePeriod", Types.INT32, "Update period", 10, unitSymbol=Unit.SECOND,
                     requiredAccessLevel=AccessLevel.EXPERT)
        _config_leaf(h, f"{key}.validateSchema", Types.STRING, "Validate schema", "always",
                     options=["once", "always"])
        for name, shown in (("bytesRead", "Read bytes"), ("bytesWritten", "Written bytes")):
            _config_leaf(h, f"{key}.{name}", Types.VECTOR_UINT64, shown, [], AccessMode.READONLY,
                         requiredAccessLevel=AccessLevel.EXPERT, archivePolicy=ArchivePolicy.NO_ARCHIVING)
        data = Hash() if self.dataSchema is None else self.dataSchema.hash.copy()
        h.set(f"{key}.schema", data)
        h.setAttribute(f"{key}.schema", "displayType", "OutputSchema", Types.STRING)
        h.setAttribute(f"{key}.schema", "accessMode", int(AccessMode.RECONFIGURABLE), Types.INT32)
        h.setAttribute(f"{key}.schema", "nodeType", int(NodeType.NODE), Types.INT32)


class InputChannelElement(Element):
    """A pipeline input (``INPUT_CHANNEL`` / ``InputChannel``) with its configuration leaves."""

    def _write(self, h: Hash) -> None:
        self._classedNode(h, INPUT_CHANNEL, AccessMode.RECONFIGURABLE)
        key = self.key
        _config_leaf(h, f"{key}.missingConnections", Types.VECTOR_STRING, "Missing Connections", [],
                     AccessMode.READONLY)
        _config_leaf(h, f"{key}.connectedOutputChannels", Types.VECTOR_STRING, "Configured Connections", [])
        _config_leaf(h, f"{key}.dataDistribution", Types.STRING, "Data Distribution", "copy",
                     options=["copy", "shared"])
        _config_leaf(h, f"{key}.onSlowness", Types.STRING, "On Slowness", "drop",
                     options=["drop", "wait", "queueDrop"])
        _config_leaf(h, f"{key}.maxQueueLength", Types.UINT32, "Max. Queue Length Output Channels", 2, minInc=1)
        _config_leaf(h, f"{key}.minData", Types.UINT32, "Minimum number input packets", 1)
        _config_leaf(h, f"{key}.respondToEndOfStream", Types.BOOL, "Respond to end-of-stream", True)
        _config_leaf(h, f"{key}.delayOnInput", Types.INT32, "Delay on Input channel", 0,
                     unitSymbol=Unit.SECOND, metricPrefixSymbol=MetricPrefix.MILLI)


def typed_value(key: str, value: Any, t: Types) -> Any:
    """``value`` (a State, AlarmCondition or any value Hash accepts) converted to the Karabo type ``t``."""
    h = Hash()
    try:
        if isinstance(value, (list, tuple)) and t == Types.VECTOR_STRING:
            value = [str(getattr(x, "value", x)) for x in value]
        elif isinstance(value, (State, AlarmCondition)):
            value = value.value
        h.set("v", value)
        return h.getAs("v", t)
    except (TypeError, ValueError) as e:
        raise ValueError(f'Value {value!r} of "{key}" does not fit {t.name}: {e}') from None


def check_leaf_rules(h: Hash, key: str) -> None:
    """ValueError if the leaf's limits or sizes contradict each other or its default breaks its own rules.

    Declaring such a leaf is an author's mistake: it is refused when committed or overwritten.
    """
    from pykarabo.schema.validator import ValidationRules, Validator

    attrs = h.getAttributes(key)
    for low, high in (("minInc", "maxInc"), ("minInc", "maxExc"), ("minExc", "maxInc"), ("minExc", "maxExc"),
                      ("minSize", "maxSize")):
        if low in attrs and high in attrs:
            a, b = attrs[low], attrs[high]
            if a > b or a == b and (low.endswith("Exc") or high.endswith("Exc")):
                raise ValueError(f'{low} ({a}) of "{key}" does not leave room below {high} ({b})')
    if "defaultValue" not in attrs:
        return
    name = key.rsplit(".", 1)[-1]    # the probe holds the leaf alone: messages name its key
    probe = Schema("", Hash())
    probe.hash.set(name, Hash())
    probe.hash.setAttributes(name, attrs)
    config = Hash()
    config.setAs(name, attrs["defaultValue"], Types[attrs["valueType"]])
    try:
        Validator(ValidationRules(injectDefaults=False, injectTimestamps=False)).validate(probe, config)
    except ValidationError as e:
        raise ValueError(f'Default value of "{key}" is invalid: {e}') from None


def check_applicable(key: str, t: Types, attributes: dict[str, Any]) -> None:
    """Refuse rules the leaf's type has no use for (Karabo's builders do not offer them either)."""
    limits = [n for n in ("minInc", "maxInc", "minExc", "maxExc") if n in attributes]
    if limits and not (Types.CHAR <= t <= Types.DOUBLE and t % 2 == 0):
        raise TypeError(f'{limits[0]} of "{key}": limits apply to numeric scalars, not to {t.name}')
    sizes = [n for n in ("minSize", "maxSize") if n in attributes]
    if sizes and not (t.isVector or t == Types.BYTE_ARRAY):
        raise TypeError(f'{sizes[0]} of "{key}": sizes apply to vectors, tables and byte arrays, not to {t.name}')
    if "regex" in attributes:
        if t not in (Types.STRING, Types.VECTOR_STRING):
            raise TypeError(f'regex of "{key}": patterns apply to STRING and VECTOR_STRING, not to {t.name}')
        try:
            re.compile(attributes["regex"])
        except (re.error, TypeError) as e:
            raise ValueError(f'regex of "{key}" is not a valid pattern: {attributes["regex"]!r} ({e})') from None


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError(f"Bad key {key!r}: keys are non-empty strings")
    for part in key.split("."):
        if not _KEY.fullmatch(part):
            raise ValueError(f"Bad (sub-)key '{part}' of '{key}': illegal character (allowed: letters, digits "
                             "and '_', not starting with a digit)")


def commitAll(schema: CoreSchema, elements: Iterable[Element]) -> CoreSchema:
    """Commit ``elements`` in order into ``schema``; returns the schema."""
    for element in elements:
        element.commit(schema)
    return schema
