"""Save a Hash to an HDF5 group and load it back with types and attributes preserved.

Mapping (one HDF5 object per Hash element, in insertion order via ``track_order``):

==========================================  ==================================================
Karabo type                                 HDF5 object
==========================================  ==================================================
HASH / HASH_POINTER                         group (its elements inside)
VECTOR_HASH / VECTOR_HASH_POINTER           group with sub-groups ``0``, ``1``, ...
numeric scalars (BOOL ... COMPLEX_DOUBLE)   0-d dataset of the exact numpy dtype (bool: HDF5 enum,
                                            complex: h5py's compound ``r``/``i``)
numeric vectors                             1-d dataset of the exact dtype
CHAR                                        0-d uint8 dataset (the code point)
VECTOR_CHAR, BYTE_ARRAY                     1-d uint8 dataset
STRING / VECTOR_STRING                      variable-length UTF-8 string dataset (0-d / 1-d)
NONE / VECTOR_NONE                          empty dataset / 1-d uint8 zeros of the vector length
NDArray                                     dataset of the array itself (any rank, its byte order)
anything else (SCHEMA, ImageData, strings   1-d uint8 dataset holding the Karabo binary encoding
containing NUL)                             of a Hash with that one element (``karabo.encoding``)
==========================================  ==================================================

Every object carries the attribute ``karabo.type`` (the Karabo type name).  Karabo attributes of
an element become HDF5 attributes of its object under the same name (the characters ``%``, ``/``
and ``.`` percent-encoded, the empty name as ``%``); values that HDF5 attributes cannot hold
exactly (Hash-valued, NONE, strings with NUL, empty vectors of strings) are stored as opaque
Karabo binary.  ``karabo.attrs`` and ``karabo.attrTypes`` record the attribute names and types in
order.  The reserved names contain a ``.``, which encoded Karabo names never do.  Element names
are percent-encoded the same way (HDF5 names cannot contain ``/`` or be empty or ``.``).
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

from pykarabo import Hash, NDArray, Types, decodeBinary, encodeBinary

TYPE_ATTR = "karabo.type"
ATTRS_ATTR = "karabo.attrs"
ATTR_TYPES_ATTR = "karabo.attrTypes"
ENCODING_ATTR = "karabo.encoding"
BINARY_ENCODING = "karabo-binary"

_STR = h5py.string_dtype("utf-8")
_NUMERIC = {t for t in Types if t.dtype is not None and t not in (Types.CHAR,) and not t.isVector}
_NUMERIC_VECTORS = {t.vectorType for t in _NUMERIC}
_SEP = "\x00"   # Hash keys never contain NUL: paths built with it never split a key


def encode_name(name: str) -> str:
    """The HDF5 name of a Hash key or attribute name (reversible, never empty, no '/' or '.')."""
    if name == "":
        return "%"
    return name.replace("%", "%25").replace("/", "%2F").replace(".", "%2E")


def decode_name(name: str) -> str:
    """The Hash key of an HDF5 name made by ``encode_name``."""
    if name == "%":
        return ""
    return name.replace("%2E", ".").replace("%2F", "/").replace("%25", "%")


def _binary(key: str, value: Any, type_: Types) -> np.ndarray:
    h = Hash()
    h.setAs(key, value, type_, sep=_SEP)
    return np.frombuffer(encodeBinary(h), np.uint8)


def _unbinary(data: np.ndarray) -> tuple[Any, Types]:
    h = decodeBinary(np.asarray(data, np.uint8).tobytes())
    key = h.getKeys()[0]
    return h.getNode(key, sep=_SEP).getValue(), h.getType(key, sep=_SEP)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    return any("\x00" in s for s in value)


def _save_attributes(obj: h5py.HLObject, attrs: Any) -> None:
    names, types = [], []
    for node in attrs.nodes():
        name, t, value = node.getKey(), Types(node.getType()), node.getValue()
        enc = encode_name(name)
        if t in _NUMERIC:
            obj.attrs[enc] = np.asarray(value, dtype=t.dtype)
        elif t in _NUMERIC_VECTORS and len(value):
            obj.attrs[enc] = np.asarray(value, dtype=t.elementType.dtype)
        elif t == Types.STRING and not _has_nul(value):
            obj.attrs.create(enc, value, dtype=_STR)
        elif t == Types.VECTOR_STRING and len(value) and not _has_nul(value):
            obj.attrs.create(enc, list(value), dtype=_STR)
        else:   # no exact HDF5 attribute form: opaque Karabo binary
            obj.attrs[enc] = np.void(_binary("v", value, t).tobytes())
            t_name = f"{t.name}:{BINARY_ENCODING}"
            names.append(name)
            types.append(t_name)
            continue
        names.append(name)
        types.append(t.name)
    if names:
        obj.attrs.create(ATTRS_ATTR, names, dtype=_STR)
        obj.attrs.create(ATTR_TYPES_ATTR, types, dtype=_STR)


def _load_attributes(obj: h5py.HLObject, h: Hash, key: str) -> None:
    if ATTRS_ATTR not in obj.attrs:
        return
    for name, t_name in zip(obj.attrs[ATTRS_ATTR], obj.attrs[ATTR_TYPES_ATTR]):
        name = name.decode() if isinstance(name, bytes) else name
        t_name = t_name.decode() if isinstance(t_name, bytes) else t_name
        raw = obj.attrs[encode_name(name)]
        if t_name.endswith(":" + BINARY_ENCODING):
            value, t = _unbinary(np.frombuffer(raw.tobytes(), np.uint8))
        else:
            t = Types[t_name]
            value = _attribute_value(raw, t)
        h.setAttribute(key, name, value, type=t, sep=_SEP)


def _attribute_value(raw: Any, t: Types) -> Any:
    if t in _NUMERIC:
        return raw.item() if t != Types.BOOL else bool(raw)
    if t in _NUMERIC_VECTORS:
        return np.asarray(raw, dtype=t.elementType.dtype)
    if t == Types.STRING:
        return raw.decode() if isinstance(raw, bytes) else str(raw)
    if t == Types.VECTOR_STRING:
        return [s.decode() if isinstance(s, bytes) else str(s) for s in np.atleast_1d(raw)]
    raise ValueError(f"attribute type {t.name} has no plain HDF5 form")


def save_hash(h: Hash, group: h5py.Group) -> None:
    """Write every element of ``h`` (recursively, with attributes) into ``group``."""
    for node in h.nodes():
        _save_node(group, node.getKey(), Types(node.getType()), h, node)


def _save_node(group: h5py.Group, key: str, t: Types, parent: Hash, node: Any) -> None:
    name = encode_name(key)
    value = parent.get(key, sep=_SEP)
    raw = node.getValue()
    if t in (Types.HASH, Types.HASH_POINTER) and type(value) is Hash:
        obj = group.create_group(name, track_order=True)
        save_hash(value, obj)
    elif t in (Types.VECTOR_HASH, Types.VECTOR_HASH_POINTER):
        obj = group.create_group(name, track_order=True)
        for i, item in enumerate(value):
            save_hash(item, obj.create_group(str(i), track_order=True))
    elif t == Types.HASH and isinstance(raw, np.ndarray):   # NDArray: the array itself
        obj = group.create_dataset(name, data=raw)
        obj.attrs["karabo.class"] = "NDArray"
    elif t in _NUMERIC:
        obj = group.create_dataset(name, data=np.asarray(value, dtype=t.dtype))
    elif t in _NUMERIC_VECTORS:
        obj = group.create_dataset(name, data=np.asarray(value, dtype=t.elementType.dtype).reshape(-1))
    elif t == Types.CHAR:
        obj = group.create_dataset(name, data=np.uint8(ord(value)))
    elif t in (Types.VECTOR_CHAR, Types.BYTE_ARRAY):
        obj = group.create_dataset(name, data=np.frombuffer(bytes(value), np.uint8))
    elif t == Types.STRING and not _has_nul(value):
        obj = group.create_dataset(name, data=value, dtype=_STR)
    elif t == Types.VECTOR_STRING and not _has_nul(value):
        obj = group.create_dataset(name, shape=(len(value),), dtype=_STR)
        if value:
            obj[:] = list(value)
    elif t == Types.NONE:
        obj = group.create_dataset(name, data=h5py.Empty("u1"))
    elif t == Types.VECTOR_NONE:
        obj = group.create_dataset(name, data=np.zeros(len(value), np.uint8))
    else:   # SCHEMA, ImageData, strings with NUL: exact through the Karabo binary codec
        obj = group.create_dataset(name, data=_binary("v", value, t))
        obj.attrs[ENCODING_ATTR] = BINARY_ENCODING
    obj.attrs[TYPE_ATTR] = t.name
    _save_attributes(obj, node.getAttributes())


def load_hash(group: h5py.Group) -> Hash:
    """Read a Hash written by ``save_hash`` from ``group``."""
    h = Hash()
    for name, obj in group.items():
        key = decode_name(name)
        value, t = _load_object(obj)
        h.setAs(key, value, t, sep=_SEP)
        _load_attributes(obj, h, key)
    return h


def _load_object(obj: h5py.HLObject) -> tuple[Any, Types]:
    t_name = obj.attrs.get(TYPE_ATTR, "HASH" if isinstance(obj, h5py.Group) else None)
    if isinstance(t_name, bytes):
        t_name = t_name.decode()
    if isinstance(obj, h5py.Group):
        t = Types[t_name]
        if t in (Types.VECTOR_HASH, Types.VECTOR_HASH_POINTER):
            return [load_hash(obj[str(i)]) for i in range(len(obj))], t
        return load_hash(obj), t
    if obj.attrs.get(ENCODING_ATTR) == BINARY_ENCODING:
        return _unbinary(obj[()])
    if t_name is None:   # a plain dataset written by someone else: its array
        return NDArray(obj[()]), Types.HASH
    t = Types[t_name]
    if obj.attrs.get("karabo.class") == "NDArray":
        return NDArray(obj[()]), t
    if t in _NUMERIC:
        v = obj[()]
        return (bool(v) if t == Types.BOOL else v.item()), t
    if t in _NUMERIC_VECTORS:
        return np.asarray(obj[()], dtype=t.elementType.dtype), t
    if t == Types.CHAR:
        return chr(int(obj[()])), t
    if t == Types.VECTOR_CHAR:
        return bytes(obj[()].tobytes()), t
    if t == Types.BYTE_ARRAY:
        return bytearray(obj[()].tobytes()), t
    if t == Types.STRING:
        return obj.asstr()[()], t
    if t == Types.VECTOR_STRING:
        return list(obj.asstr()[()]) if obj.shape[0] else [], t
    if t == Types.NONE:
        return None, t
    if t == Types.VECTOR_NONE:
        return [None] * obj.shape[0], t
    raise ValueError(f"cannot load a dataset of Karabo type {t.name}")
