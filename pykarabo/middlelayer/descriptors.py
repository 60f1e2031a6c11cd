"""Middlelayer descriptors: class attributes that declare properties, nodes, tables, arrays and slots.

Each descriptor turns its keywords (Karabo's attribute names) into an element of
:mod:`pykarabo.schema.elements`, so a middlelayer class has exactly the Schema the configuration
model builds; values are checked by the schema's Validator when they are assigned.
"""

from __future__ import annotations

import copy
import types
from enum import Enum
from typing import Any, Callable

import numpy as np

from pykarabo import Hash, ImageData, NDArray as HashNDArray, Types
from pykarabo.access import AccessMode
from pykarabo.alarms import AlarmCondition
from pykarabo.schema import Schema
from pykarabo.schema.elements import (AlarmElement, ImageDataElement, InputChannelElement, LeafElement,
                                      NDArrayElement, NodeElement, OutputChannelElement, SlotElement,
                                      StateElement, TableElement)
from pykarabo.states import State
from pykarabo.middlelayer.quantities import isQuantity, toUnit
from pykarabo.middlelayer.values import KaraboValue, wrap

__all__ = [
    "Descriptor", "Type", "Bool", "Char", "Int8", "UInt8", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64",
    "Float", "Double", "String", "RegexString", "ByteArray", "VectorBool", "VectorChar", "VectorInt8",
    "VectorUInt8", "VectorInt16", "VectorUInt16", "VectorInt32", "VectorUInt32", "VectorInt64", "VectorUInt64",
    "VectorFloat", "VectorDouble", "VectorString", "TypeHash", "TypeSchema", "Node", "VectorHash", "NDArray",
    "Image", "Slot", "slot", "Signal", "Overwrite", "OutputChannel", "InputChannel",
]


class Descriptor:
    """A declaration in a Configurable class body; ``key`` is the attribute name."""

    key = ""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs

    def __set_name__(self, owner: type, name: str) -> None:
        self.key = name

    def commit(self, schema: Schema, path: str) -> None:
        """Add this declaration's elements to ``schema`` at ``path``."""
        raise NotImplementedError(f"{type(self).__name__} declares no schema element")

    def withOverwrite(self, kwargs: dict) -> Descriptor:
        """A copy with some keywords replaced (see :class:`Overwrite`)."""
        new = copy.copy(self)
        new.kwargs = {**self.kwargs, **kwargs}
        return new


class Type(Descriptor):
    """A property with a value of Karabo type ``valueType``; usable as a decorator to add a setter."""

    valueType: Types = Types.NONE
    setter: Callable | None = None

    def __init__(self, enum: type | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("accessMode", AccessMode.RECONFIGURABLE)
        self.enum = enum
        if enum is not None and enum not in (State, AlarmCondition):
            kwargs.setdefault("options", [m.value for m in enum])
        super().__init__(**kwargs)
        self.element("probe")   # unknown or removed keywords fail here, at declaration

    def __call__(self, setter: Callable) -> Type:
        """``@Double(...) async def target(self, value)``: called instead of a plain assignment."""
        self.setter = setter
        return self

    def element(self, path: str) -> LeafElement:
        """The schema element this property declares at ``path``."""
        kw = dict(self.kwargs)
        if self.enum is State:
            return StateElement(path, **{k: v for k, v in kw.items() if k not in ("accessMode", "assignment")})
        if self.enum is AlarmCondition:
            return AlarmElement(path, **{k: v for k, v in kw.items()
                                         if k not in ("accessMode", "assignment", "options")})
        return LeafElement(path, self.valueType, **kw)

    def commit(self, schema: Schema, path: str) -> None:
        """Add the leaf."""
        self.element(path).commit(schema)

    def toRaw(self, value: Any) -> Any:
        """The raw value for a configuration Hash (units, wrappers and enums stripped)."""
        if isinstance(value, KaraboValue):
            value = value.value
        elif isQuantity(value):   # converted to our unit; pint raises DimensionalityError if it cannot
            value = toUnit(value, self.kwargs)
        if isinstance(value, Enum):
            value = value.value
        return value

    def fromRaw(self, raw: Any, attrs: Any) -> Any:
        """The KaraboValue for a raw value with its attributes."""
        return wrap(raw, None, self, enum=self.enum, attrs=attrs)

    def __get__(self, instance: Any, owner: type) -> Any:
        if instance is None:
            return self
        return instance._readValue(self)

    def __set__(self, instance: Any, value: Any) -> None:
        instance._writeValue(self, value)


def _simple(name: str, t: Types, doc: str) -> type:
    return type(name, (Type,), {"valueType": t, "__doc__": doc, "__module__": __name__})


Bool = _simple("Bool", Types.BOOL, "A boolean property.")
Char = _simple("Char", Types.CHAR, "A single character property.")
Int8 = _simple("Int8", Types.INT8, "An 8-bit signed integer property.")
UInt8 = _simple("UInt8", Types.UINT8, "An 8-bit unsigned integer property.")
Int16 = _simple("Int16", Types.INT16, "A 16-bit signed integer property.")
UInt16 = _simple("UInt16", Types.UINT16, "A 16-bit unsigned integer property.")
Int32 = _simple("Int32", Types.INT32, "A 32-bit signed integer property.")
UInt32 = _simple("UInt32", Types.UINT32, "A 32-bit unsigned integer property.")
Int64 = _simple("Int64", Types.INT64, "A 64-bit signed integer property.")
UInt64 = _simple("UInt64", Types.UINT64, "A 64-bit unsigned integer property.")
Float = _simple("Float", Types.FLOAT, "A 32-bit floating point property.")
Double = _simple("Double", Types.DOUBLE, "A 64-bit floating point property.")
String = _simple("String", Types.STRING, "A text property (``enum=State`` makes a state property).")
ByteArray = _simple("ByteArray", Types.BYTE_ARRAY, "A property holding raw bytes.")
VectorBool = _simple("VectorBool", Types.VECTOR_BOOL, "A vector of booleans.")
VectorChar = _simple("VectorChar", Types.VECTOR_CHAR, "A vector of characters (bytes).")
VectorInt8 = _simple("VectorInt8", Types.VECTOR_INT8, "A vector of 8-bit signed integers.")
VectorUInt8 = _simple("VectorUInt8", Types.VECTOR_UINT8, "A vector of 8-bit unsigned integers.")
VectorInt16 = _simple("VectorInt16", Types.VECTOR_INT16, "A vector of 16-bit signed integers.")
VectorUInt16 = _simple("VectorUInt16", Types.VECTOR_UINT16, "A vector of 16-bit unsigned integers.")
VectorInt32 = _simple("VectorInt32", Types.VECTOR_INT32, "A vector of 32-bit signed integers.")
VectorUInt32 = _simple("VectorUInt32", Types.VECTOR_UINT32, "A vector of 32-bit unsigned integers.")
VectorInt64 = _simple("VectorInt64", Types.VECTOR_INT64, "A vector of 64-bit signed integers.")
VectorUInt64 = _simple("VectorUInt64", Types.VECTOR_UINT64, "A vector of 64-bit unsigned integers.")
VectorFloat = _simple("VectorFloat", Types.VECTOR_FLOAT, "A vector of 32-bit floats.")
VectorDouble = _simple("VectorDouble", Types.VECTOR_DOUBLE, "A vector of 64-bit floats.")
VectorString = _simple("VectorString", Types.VECTOR_STRING, "A list of strings.")


class RegexString(Type):
    """A string that must match ``regex`` (``classId="RegexString"``)."""

    valueType = Types.STRING

    def __init__(self, regex: str = ".*", **kwargs: Any) -> None:
        kwargs.setdefault("classId", "RegexString")
        super().__init__(regex=regex, **kwargs)


class TypeHash(Type):
    """A Hash argument of a :class:`Signal` (not a schema property)."""

    valueType = Types.HASH

    def __init__(self, **kwargs: Any) -> None:
        Descriptor.__init__(self, **kwargs)
        self.enum = None


class TypeSchema(TypeHash):
    """A Schema argument of a :class:`Signal`."""

    valueType = Types.SCHEMA


class Node(Descriptor):
    """A node holding the properties of a Configurable class: ``motor = Node(MotorSettings)``."""

    def __init__(self, cls: type, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cls = cls
        NodeElement("probe", **kwargs)

    def commit(self, schema: Schema, path: str) -> None:
        """Add the node and its children."""
        kwargs = dict(self.kwargs)
        if getattr(self.cls, "daqDataType", None) is not None and "daqDataType" not in kwargs:
            kwargs["daqDataType"] = self.cls.daqDataType
        NodeElement(path, **kwargs).commit(schema)
        self.cls.commitChildren(schema, path + ".")

    def __get__(self, instance: Any, owner: type) -> Any:
        if instance is None:
            return self
        return instance._child(self)


def _row(value: Any, columns: list[str]) -> Hash:
    if isinstance(value, Hash):
        return value
    if isinstance(value, dict):
        return Hash.fromDict(value)
    row = Hash()
    for column, cell in zip(columns, value, strict=True):
        row[column] = cell.value if isinstance(cell, KaraboValue) else cell
    return row


class VectorHash(Type):
    """A table whose rows follow the properties of ``rows`` (a Configurable class)."""

    valueType = Types.VECTOR_HASH

    def __init__(self, rows: type, **kwargs: Any) -> None:
        self.rows = rows
        super().__init__(**kwargs)

    def element(self, path: str) -> TableElement:
        """The table element."""
        return TableElement(path, self.rows.getClassSchema(), **self.kwargs)

    def toRaw(self, value: Any) -> list:
        """Rows as Hashes (rows may be Hashes, dicts or tuples in column order)."""
        columns = self.rows.getClassSchema().getKeys()
        if isinstance(value, np.ndarray) and value.dtype.names:
            return [_row(tuple(r), list(value.dtype.names)) for r in value]
        return [_row(r, columns) for r in super().toRaw(value)]

    def fromRaw(self, raw: Any, attrs: Any) -> Any:
        """A TableValue."""
        return wrap(list(raw), None, self, table=True, attrs=attrs)


class NDArray(Type):
    """An N-dimensional array of ``dtype`` (a descriptor class such as ``Float``) and ``shape``."""

    valueType = Types.HASH

    def __init__(self, dtype: type = None, shape: tuple = (), **kwargs: Any) -> None:
        self.dtype = (dtype or Double).valueType
        self.shape = tuple(shape)
        kwargs.pop("accessMode", None)
        Descriptor.__init__(self, **kwargs)
        self.enum = None
        self.element("probe")

    def element(self, path: str) -> NDArrayElement:
        """The array element."""
        return NDArrayElement(path, self.dtype, self.shape, **self.kwargs)

    def toRaw(self, value: Any) -> HashNDArray:
        """The NDArray Hash of an array."""
        if isinstance(value, HashNDArray):
            return value
        if isQuantity(value):
            value = toUnit(value, self.kwargs)
        return HashNDArray(np.ascontiguousarray(np.asarray(value, dtype=self.dtype.dtype)))

    def fromRaw(self, raw: Any, attrs: Any) -> Any:
        """A numpy array (a VectorValue)."""
        return wrap(raw, None, self, attrs=attrs)


class Image(NDArray):
    """An image of pixel type ``dtype``, ``shape`` (height, width[, channels]) and ``encoding``."""

    def __init__(self, dtype: type = None, shape: tuple = (), encoding: int = 0, **kwargs: Any) -> None:
        self.encoding = encoding
        super().__init__(dtype or UInt16, shape, **kwargs)

    def element(self, path: str) -> ImageDataElement:
        """The image element."""
        return ImageDataElement(path, self.dtype, self.shape, self.encoding, **self.kwargs)

    def toRaw(self, value: Any) -> ImageData:
        """ImageData of an array (or the ImageData itself)."""
        if isinstance(value, ImageData):
            return value
        return ImageData(np.ascontiguousarray(np.asarray(value, dtype=self.dtype.dtype)))

    def fromRaw(self, raw: Any, attrs: Any) -> Any:
        """The ImageData."""
        return raw


class Slot(Descriptor):
    """A schema slot (a command without arguments): ``@Slot(displayedName=..., allowedStates=[...])``."""

    method: Callable | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        SlotElement("probe", **kwargs)

    def __call__(self, method: Callable) -> Slot:
        self.method = method
        return self

    def commit(self, schema: Schema, path: str) -> None:
        """Add the slot node (the docstring is the description unless one is given)."""
        kwargs = dict(self.kwargs)
        if "description" not in kwargs and self.method is not None and self.method.__doc__:
            kwargs["description"] = self.method.__doc__.strip()
        SlotElement(path, **kwargs).commit(schema)

    def __get__(self, instance: Any, owner: type) -> Any:
        if instance is None:
            return self
        return types.MethodType(self.method, instance)


def slot(function: Callable) -> Callable:
    """A plain network slot (not in the schema) taking any arguments; its return value is the reply."""
    function.isPlainSlot = True
    return function


class Signal(Descriptor):
    """A signal the device emits with ``self.signalX(args)``; arguments are typed by descriptors."""

    def __init__(self, *args: Type) -> None:
        super().__init__()
        self.args = args

    def commit(self, schema: Schema, path: str) -> None:
        """Signals are not part of the schema."""

    def __get__(self, instance: Any, owner: type) -> Any:
        if instance is None:
            return self

        def emit(*values: Any) -> None:
            if len(values) != len(self.args):
                raise TypeError(f"signal {self.key} takes {len(self.args)} arguments, {len(values)} given")
            raw = []
            for descriptor, value in zip(self.args, values):
                value = descriptor.toRaw(value)
                if descriptor.valueType not in (Types.HASH, Types.SCHEMA):
                    h = Hash()
                    h.setAs("v", value, descriptor.valueType)
                    value = h["v"]
                raw.append(value)
            instance._emit(self.key, *raw)
        return emit


class Overwrite(Descriptor):
    """In a subclass body: change keywords of an inherited declaration, e.g. ``state = Overwrite(options=[...])``."""

    def commit(self, schema: Schema, path: str) -> None:
        """Never committed: the class replaces it by the updated inherited declaration."""
        raise TypeError(f"Overwrite of '{path}' has no inherited declaration to change")


class OutputChannel(Descriptor):
    """A pipeline output whose data follow the Configurable class ``cls`` (``self.output.schema``)."""

    def __init__(self, cls: type | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cls = cls
        OutputChannelElement("probe", **kwargs)

    def commit(self, schema: Schema, path: str) -> None:
        """Add the channel node with its configuration and data schema."""
        data = None if self.cls is None else self.cls.getClassSchema()
        OutputChannelElement(path, data, **self.kwargs).commit(schema)

    def __get__(self, instance: Any, owner: type) -> Any:
        if instance is None:
            return self
        return instance._output(self)


class InputChannel(Descriptor):
    """A pipeline input: ``@InputChannel(raw=False) async def input(self, data, meta)``.

    ``@input.endOfStream`` marks ``f(self, channelName)``, called at each end-of-stream;
    ``@input.connect``/``@input.close`` mark ``f(self, outputId)`` called when an output is
    connected or the input closes. These decorators return the channel, so the handlers may
    reuse the channel's name, as in Karabo.
    """

    def __init__(self, raw: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.raw = raw
        self.handler: Callable | None = None
        self.eosHandler: Callable | None = None
        self.connectHandler: Callable | None = None
        self.closeHandler: Callable | None = None
        InputChannelElement("probe", **kwargs)

    def __call__(self, handler: Callable) -> InputChannel:
        self.handler = handler
        return self

    def endOfStream(self, handler: Callable) -> InputChannel:
        """Decorator: the end-of-stream handler."""
        self.eosHandler = handler
        return self

    def connect(self, handler: Callable) -> InputChannel:
        """Decorator: called with the output's id once connected."""
        self.connectHandler = handler
        return self

    def close(self, handler: Callable) -> InputChannel:
        """Decorator: called with the output's id when the input closes."""
        self.closeHandler = handler
        return self

    def commit(self, schema: Schema, path: str) -> None:
        """Add the channel node with its configuration."""
        InputChannelElement(path, **self.kwargs).commit(schema)

    def __get__(self, instance: Any, owner: type) -> Any:
        if instance is None:
            return self
        return instance._input(self)
