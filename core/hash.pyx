# cython: language_level=3
"""The Karabo Hash: an ordered, hierarchical container of typed values with typed attributes.

Every element keeps its Karabo type next to its value so that what was decoded from the wire
re-encodes to the same bytes.  Values are held in one canonical Python form per type:

* BOOL: bool; CHAR: str of length 1 (code point 0..255); integers: int; FLOAT/DOUBLE: float
  (FLOAT values are rounded to binary32 on assignment); COMPLEX_*: complex; STRING: str;
  NONE: None.
* VECTOR_CHAR: bytes; BYTE_ARRAY: any C-contiguous buffer (bytearray, numpy array, memoryview);
  VECTOR_BOOL and numeric vectors: 1-d little-endian numpy arrays of the exact dtype;
  VECTOR_STRING: list of str; VECTOR_NONE: list of None.
* HASH / HASH_POINTER: Hash; VECTOR_HASH / VECTOR_HASH_POINTER: list of Hash; SCHEMA: Schema.
* NDArray and ImageData are Hash subclasses (type HASH, attribute ``__classId``) exactly as on the
  wire; ``h[path]`` returns an NDArray as a numpy array and an ImageData as the ImageData object.
"""

cimport cython
from cpython.dict cimport PyDict_Next, PyDict_SetDefault
from cpython.object cimport PyObject
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_AsUnsignedLongLong
from libc.math cimport isinf
from pykarabo._core.types cimport *

import base64
import copy as _copy
import enum

import numpy as np

from pykarabo._core.types import Types

cdef object _MISSING = object()
cdef dict _DTYPE_OF = {int(t): t.dtype for t in Types if t.dtype is not None and t != Types.CHAR}
cdef tuple _TYPES = tuple(Types(c) if c in Types._value2member_map_ else None for c in range(T_MAX_CODE + 1))
_NDARRAY_DTYPES = frozenset(int(Types[n]) for n in (
    "BOOL", "INT8", "UINT8", "INT16", "UINT16", "INT32", "UINT32", "INT64", "UINT64", "FLOAT", "DOUBLE"))
# NDArray element type code of every native/little-endian dtype an NDArray may hold, so that
# wrapping an array is a dict lookup instead of an enum search.
cdef dict _NDARRAY_CODE = {_DTYPE_OF[c].newbyteorder("<"): c for c in _NDARRAY_DTYPES}
# Pipelines send the same shape over and over: its read-only uint64 vector is made once.
cdef dict _SHAPES = {}
cdef object _ENUM = enum.Enum
cdef object _NDARRAY_T = np.ndarray
cdef object _NP_GENERIC = np.generic


cdef inline object type_enum(int code):
    return _TYPES[code] if 0 <= code <= T_MAX_CODE else code


cdef str where(object path):
    return f"'{path}'"


# Devices set and read the same property paths over and over: splitting is cached per path.
# The cached lists are never mutated by their users.
cdef dict _SPLIT_CACHE = {}
cdef Py_ssize_t _SPLIT_CACHE_SIZE = 8192


cdef list split_path(str path, str sep):
    cdef list parts
    if sep != ".":
        return path.split(sep)
    parts = _SPLIT_CACHE.get(path)
    if parts is None:
        if len(_SPLIT_CACHE) >= _SPLIT_CACHE_SIZE:
            _SPLIT_CACHE.clear()
        parts = path.split(sep)
        _SPLIT_CACHE[path] = parts
    return parts


# ----------------------------------------------------------------------------------------------
# Nodes and attributes


# Nodes are by far the most numerous objects (one per element and attribute); keeping them out of
# the cycle collector makes building and decoding large Hashes several times faster.  The price:
# a Hash that contains itself (a reference cycle through a Node) is never freed.
@cython.final
@cython.no_gc
@cython.freelist(16384)
cdef class Node:
    """One element of a Hash (or one attribute): key, typed value and attributes."""

    def getKey(self) -> str:
        """The element's key (not its full path)."""
        return self.key

    def getValue(self):
        """The value as ``Hash.__getitem__`` returns it (NDArray as numpy array)."""
        return public_value(self)

    def getType(self):
        """The element's Karabo type."""
        return type_enum(self.type)

    def getValueAs(self, type):
        """The value converted to another Karabo type."""
        return convert(self.value, self.type, int(type), self.key)

    def getAttributes(self) -> Attributes:
        """The element's (mutable) attributes."""
        return node_attrs(self)

    def hasAttribute(self, str name) -> bool:
        """Whether the element has the attribute ``name``."""
        return self.attrs is not None and name in self.attrs._d

    def getAttribute(self, str name):
        """The value of attribute ``name``; KeyError if absent."""
        return self.getAttributes()[name]

    def setAttribute(self, str name, value, type=None):
        """Set attribute ``name``, inferring its type unless ``type`` is given."""
        self.getAttributes().set(name, value, type)

    def __repr__(self):
        return f"Node({self.key!r}, {self.value!r}, {type_enum(self.type)!r})"


cdef Node new_node(str key, object value, int type):
    cdef Node n = Node.__new__(Node)
    n.key = key
    n.value = value
    n.type = type
    return n


cdef extern from "Python.h":
    # Raw forms, to refill an iterator's result tuple in place (what dict.items() does)
    PyObject* PyTuple_GET_ITEM(PyObject* t, Py_ssize_t i)
    void PyTuple_SET_ITEM(PyObject* t, Py_ssize_t i, PyObject* v)
    Py_ssize_t Py_REFCNT(PyObject* o)
    void Py_INCREF(PyObject* o)
    void Py_DECREF(PyObject* o)
    int PyObject_GC_IsTracked(PyObject* o)
    Py_ssize_t PyDict_GET_SIZE(object d)
    void PyObject_GC_Track(void* o)


# Two empty attribute views that nobody else holds, handed out by every iterall() for elements
# without attributes (a loop variable keeps the previous element's view alive while the next one
# is made, so one alone would never be free).  Their refcount proves that nobody holds them.
cdef Attributes _empty_view = None
cdef Attributes _spare_view = None


cdef Attributes free_empty_view(Node n):
    """An empty attribute view of ``n`` (attaching itself on the first write), reused if possible."""
    global _empty_view, _spare_view
    cdef Attributes a = _empty_view
    if a is None or Py_REFCNT(<PyObject*>a) > 2:     # 2: the global and the local `a`
        a = _spare_view
        if a is None or Py_REFCNT(<PyObject*>a) > 2:
            a = Attributes.__new__(Attributes)
        _spare_view = _empty_view
        _empty_view = a
    a._d = _NO_ATTRS
    a._owner = n
    return a


cdef void release_views() noexcept:
    """At the end of an iteration: detach the free pooled views from their last elements and let
    go of the views still held by the caller, so that the pool keeps no value alive."""
    global _empty_view, _spare_view
    cdef Attributes a = _empty_view
    if a is not None:
        if Py_REFCNT(<PyObject*>a) == 2:     # 2: the global and the local `a`
            a._owner = None
        else:
            _empty_view = None
    a = _spare_view
    if a is not None:
        if Py_REFCNT(<PyObject*>a) == 2:
            a._owner = None
        else:
            _spare_view = None


# No cycle collection: an iterator reaches only a Hash's dict, its own result tuple and views.
@cython.final
@cython.no_gc
@cython.freelist(64)
cdef class _AllIterator:
    """``Hash.iterall()``: yields (key, value, attributes).  Like ``dict.items()`` it refills its
    result tuple when the caller kept no reference to it, and likewise reuses the empty
    attribute views of attribute-less elements, so a read loop allocates nothing per element."""
    cdef dict nodes             # the Hash's key -> Node dict
    cdef Py_ssize_t pos
    cdef Py_ssize_t size        # to detect changes during iteration, as dict iterators do
    cdef tuple result

    def __dealloc__(self):
        release_views()

    def __iter__(self):
        return self

    def __next__(self):
        cdef PyObject* key
        cdef PyObject* value
        cdef PyObject* r
        if PyDict_GET_SIZE(self.nodes) != self.size:
            raise RuntimeError("Hash changed size during iteration")
        if not PyDict_Next(self.nodes, &self.pos, &key, &value):
            raise StopIteration      # Cython ends the iteration without creating the exception
        cdef Node n = <Node>value
        cdef object v = n.value
        if type(v) is NDArray:
            v = (<NDArray>v).getArray()
        if self.result is not None and Py_REFCNT(<PyObject*>self.result) == 1:
            r = <PyObject*>self.result
            replace_item(r, 2, None)        # release the old view first so that it can be reused
            replace_item(r, 2, n.attrs if n.attrs is not None else free_empty_view(n))
            replace_item(r, 0, n.key)
            replace_item(r, 1, v)
            if not PyObject_GC_IsTracked(r):      # the collector may have untracked it
                PyObject_GC_Track(r)
            return self.result
        self.result = (n.key, v, n.attrs if n.attrs is not None else free_empty_view(n))
        return self.result


cdef inline void replace_item(PyObject* t, Py_ssize_t i, object v) noexcept:
    cdef PyObject* old = PyTuple_GET_ITEM(t, i)
    Py_INCREF(<PyObject*>v)
    PyTuple_SET_ITEM(t, i, <PyObject*>v)
    Py_DECREF(old)


cdef Attributes node_attrs(Node node):
    cdef Attributes a
    if node.attrs is None:
        # reading attributes is far more common than adding the first one: hand out an
        # empty view that attaches itself to the node only when something is written
        a = Attributes.__new__(Attributes)
        a._owner = node
        return a
    return node.attrs


cdef object public_value(Node node):
    v = node.value
    if type(v) is NDArray:
        return (<NDArray>v).getArray()
    return v


# The dict of every Attributes that has never been written to: shared, and never mutated.
cdef dict _NO_ATTRS = {}


@cython.final
@cython.no_gc
@cython.freelist(1024)
cdef class Attributes:
    """The ordered, typed attributes of one Hash element; a mutable mapping name -> value."""

    def __cinit__(self):
        self._d = _NO_ATTRS

    def __init__(self, *args, **kwargs):
        for name, value in dict(*args, **kwargs).items():
            self.set(name, value)

    cdef Node _set(self, str name, object value, int type):
        if self._d is _NO_ATTRS:
            if self._owner is not None and self._owner.attrs is not None:
                self._d = self._owner.attrs._d      # another view attached first: share it
            else:
                self._d = {}
                if self._owner is not None:
                    self._owner.attrs = self
            self._owner = None
        cdef Node n = self._d.get(name)
        if n is None:
            n = new_node(name, value, type)
            self._d[name] = n
        else:
            n.value = value
            n.type = type
        return n

    def set(self, str name, value, type=None):
        """Set attribute ``name``; the type is inferred unless given."""
        cdef int t
        if type is None:
            value = infer(value, name, &t)
        else:
            t = type
            value = coerce(value, t, name)
        self._set(name, value, t)

    def getType(self, str name):
        """The Karabo type of attribute ``name``."""
        return type_enum(self._node(name).type)

    def getNode(self, str name) -> Node:
        """The Node holding attribute ``name``."""
        return self._node(name)

    def getAs(self, str name, type):
        """Attribute ``name`` converted to the Karabo type ``type``."""
        cdef Node n = self._node(name)
        return convert(n.value, n.type, int(type), name)

    cdef Node _node(self, str name):
        cdef Node n = self._d.get(name)
        if n is None:
            raise KeyError(f"no attribute '{name}'")
        return n

    def __getitem__(self, str name):
        return public_value(self._node(name))

    def __setitem__(self, str name, value):
        self.set(name, value)

    def __delitem__(self, str name):
        self._node(name)
        del self._d[name]

    def erase(self, str name):
        """Remove attribute ``name`` if present."""
        self._d.pop(name, None)

    def get(self, str name, default=None):
        """Attribute ``name``, or ``default`` when absent."""
        cdef Node n = self._d.get(name)
        return default if n is None else public_value(n)

    def __contains__(self, name):
        return name in self._d

    def has(self, str name) -> bool:
        """Whether attribute ``name`` exists."""
        return name in self._d

    def __len__(self):
        return len(self._d)

    def __bool__(self):
        return PyDict_GET_SIZE(self._d) != 0

    def __iter__(self):
        return iter(self._d)

    def keys(self):
        """Attribute names in order."""
        return list(self._d)

    def values(self):
        """Attribute values in order."""
        if not self._d:
            return []
        return [public_value(n) for n in self._d.values()]

    def items(self):
        """(name, value) pairs in order."""
        return [(k, public_value(n)) for k, n in self._d.items()]

    def nodes(self):
        """The attribute Nodes in order (name, value and type)."""
        return list(self._d.values())

    def toDict(self) -> dict:
        """A plain dict name -> value."""
        return {k: public_value(n) for k, n in self._d.items()}

    def copy(self) -> Attributes:
        """A copy (values shared, as attribute values are immutable or arrays)."""
        return copy_attrs(self, False)

    def __eq__(self, other):
        if not isinstance(other, Attributes):
            return NotImplemented
        return attrs_equal(self, <Attributes>other)

    def __repr__(self):
        return "Attributes(" + ", ".join(
            f"{k}={(<Node>n).value!r} {type_enum((<Node>n).type).name}" for k, n in self._d.items()) + ")"


cdef Attributes copy_attrs(Attributes a, bint deep):
    if a is None:
        return None
    cdef Attributes c = Attributes.__new__(Attributes)
    cdef Node n
    c._d = {}
    for k, n in a._d.items():
        c._d[k] = new_node(n.key, copy_value(n.value, n.type, deep), n.type)
    return c


# ----------------------------------------------------------------------------------------------
# The Hash


# No cycle collection: a Hash reaches its values only through Nodes, which are invisible to the
# collector anyway, so tracking Hashes would cost time on every decode and find nothing.
@cython.no_gc
@cython.freelist(1024)
cdef class Hash:
    """Ordered hierarchical key/value container of Karabo, with typed values and attributes.

    ``Hash()``, ``Hash(dict)``, ``Hash(other_hash)`` or ``Hash('a.b', 1, 'c', 2)`` (Karabo's
    key/value argument pairs).
    """

    def __cinit__(self):
        self._d = {}

    def __init__(self, *args):
        cdef Py_ssize_t i
        if len(args) == 1:
            other = args[0]
            if isinstance(other, Hash):
                (<Hash>other)._copy_into(self, False)
            elif isinstance(other, dict):
                for k, v in other.items():
                    self._set_inferred(k, v)
            else:
                raise TypeError(f"Hash() takes a Hash, a dict or key/value pairs, not {type(other).__name__}")
        elif len(args) % 2:
            raise TypeError("Hash() takes key/value pairs: got an odd number of arguments")
        else:
            for i in range(0, len(args), 2):
                self._set_inferred(args[i], args[i + 1])

    cdef _set_inferred(self, path, value):
        cdef int t
        if type(path) is not str:
            raise TypeError(f"Hash paths are str, not {type(path).__name__}")
        value = infer(value, path, &t)
        self._set(<str>path, value, t, ".")

    # -- path resolution -----------------------------------------------------------------------

    cdef Node _find(self, str path, str sep):
        """The Node at ``path`` or None; walks nested Hashes and ``key[i]`` vector indices."""
        cdef Hash h = self
        cdef list parts
        cdef str key = path
        cdef Node n
        if sep in path:
            parts = split_path(path, sep)
            h = self._parent(parts, sep)
            if h is None:
                return None
            key = parts[len(parts) - 1]
        n = h._d.get(key)
        if n is None and key.endswith("]"):
            return h._find_indexed(key, sep)
        return n

    cdef Hash _parent(self, list parts, str sep):
        """The Hash holding the last of the path's ``parts``, or None if the path leads nowhere."""
        cdef Hash h = self
        cdef Node n
        for i in range(len(parts) - 1):
            n = h._d.get(parts[i])
            if n is None:
                n = h._find_indexed(parts[i], sep)
            if n is None or not isinstance(n.value, Hash):
                return None
            h = <Hash>n.value
        return h

    cdef Node _find_indexed(self, str key, str sep):
        """``name[i]`` addresses item i of a vector of Hash: returns a pseudo Node for it."""
        cdef Py_ssize_t open_ = key.rfind("[")
        if open_ <= 0 or not key.endswith("]"):
            return None
        cdef Node n = self._d.get(key[:open_])
        if n is None or not isinstance(n.value, list):
            return None
        try:
            i = int(key[open_ + 1:-1])
            item = n.value[i]
        except (ValueError, IndexError):
            return None
        if not isinstance(item, Hash):
            return None
        return new_node(key, item, T_HASH)

    cdef Node _node(self, path, str sep):
        if type(path) is not str:
            raise TypeError(f"Hash paths are str, not {type(path).__name__}")
        cdef Node n = self._find(<str>path, sep)
        if n is None:
            raise KeyError(f"path '{path}' does not exist")
        return n

    cdef Node _put(self, str key, object value, int t):
        """Insert or replace the element ``key`` of this level (no path parsing); keeps attributes."""
        cdef Node fresh = new_node(key, value, t)
        # one dict probe: inserts the fresh node, or returns the one already there
        cdef Node n = <Node>PyDict_SetDefault(self._d, key, fresh)
        if n is not fresh:
            if n.attrs is not None and isinstance(n.value, (NDArray, ImageData)) and type(value) is not type(n.value):
                n.attrs._d.pop("__classId", None)   # the old value's class marker no longer applies
            n.value = value
            n.type = t
        if not isinstance(value, Hash):
            return n
        cls = classed_id(value)
        if cls is not None:
            if n.attrs is None:
                n.attrs = Attributes.__new__(Attributes)
            n.attrs._set("__classId", cls, T_STRING)
        return n

    cdef Node _set(self, str path, object value, int t, str sep):
        cdef Hash h = self
        cdef Node n
        cdef list parts
        if sep in path:
            parts = split_path(path, sep)
            for i in range(len(parts) - 1):
                n = h._d.get(parts[i])
                if n is None:
                    n = h._find_indexed(parts[i], sep)
                if n is None:
                    child = Hash.__new__(Hash)
                    h._put(parts[i], child, T_HASH)
                    h = <Hash>child
                elif isinstance(n.value, Hash):
                    h = <Hash>n.value
                else:
                    raise TypeError(f"cannot set '{path}': '{sep.join(parts[:i + 1])}' is a "
                                    f"{type_enum(n.type).name}, not a Hash")
            return h._put(parts[len(parts) - 1], value, t)
        return self._put(path, value, t)

    # -- element access ------------------------------------------------------------------------

    def set(self, str path, value, str sep="."):
        """Set the value at ``path`` (creating intermediate Hashes), inferring its Karabo type."""
        cdef int t
        value = infer(value, path, &t)
        self._set(path, value, t, sep)

    def setAs(self, str path, value, type, str sep="."):
        """Set the value at ``path`` with the explicit Karabo ``type`` (range-checked)."""
        cdef int t = type
        self._set(path, coerce(value, t, path), t, sep)

    def get(self, str path, default=_MISSING, str sep="."):
        """The value at ``path``; ``default`` (if given) or KeyError when it does not exist."""
        cdef Node n = self._find(path, sep)
        if n is None:
            if default is _MISSING:
                raise KeyError(f"path '{path}' does not exist")
            return default
        return public_value(n)

    def getAs(self, str path, type, str sep="."):
        """The value at ``path`` converted to the Karabo ``type``."""
        cdef Node n = self._node(path, sep)
        return convert(n.value, n.type, int(type), path)

    def getType(self, str path, str sep="."):
        """The Karabo type of the value at ``path``."""
        return type_enum(self._node(path, sep).type)

    def getNode(self, str path, str sep=".") -> Node:
        """The Node (key, value, type, attributes) at ``path``."""
        return self._node(path, sep)

    def has(self, str path, str sep=".") -> bool:
        """Whether ``path`` exists."""
        return self._find(path, sep) is not None

    def erase(self, str path, str sep=".") -> bool:
        """Remove the element at ``path``; returns whether it existed."""
        cdef Hash h = self
        cdef list parts
        if sep in path:
            parts = split_path(path, sep)
            h = self._parent(parts, sep)
            if h is None:
                return False
            path = parts[len(parts) - 1]
        return h._d.pop(path, None) is not None

    def clear(self):
        """Remove every element."""
        self._d.clear()

    def empty(self) -> bool:
        """Whether the Hash has no elements."""
        return not self._d

    def getKeys(self) -> list:
        """The top-level keys in order."""
        return list(self._d)

    def getPaths(self, str sep=".") -> list:
        """Paths of every leaf (and empty Hash) in depth-first order; NDArray/ImageData are leaves."""
        cdef list out = []
        collect_paths(self, "", sep, out)
        return out

    def nodes(self) -> list:
        """The top-level Nodes in order (key, value, type and attributes of each)."""
        return list(self._d.values())

    def iterall(self):
        """Iterate ``(key, value, attributes)`` over the top level in order, as middlelayer's
        ``Hash.iterall``; the fastest way to read a whole Hash."""
        cdef _AllIterator it = _AllIterator.__new__(_AllIterator)
        it.nodes = self._d
        it.size = len(self._d)
        return it

    # -- attributes ----------------------------------------------------------------------------

    def setAttribute(self, str path, str name, value, type=None, str sep="."):
        """Set attribute ``name`` of the element at ``path``; type inferred unless given."""
        cdef Node n = self._node(path, sep)
        cdef int t
        if type is None:
            value = infer(value, name, &t)
        else:
            t = type
            value = coerce(value, t, name)
        if n.attrs is None:
            n.attrs = Attributes.__new__(Attributes)
        n.attrs._set(name, value, t)

    def setAttributes(self, str path, attributes, str sep="."):
        """Replace all attributes of the element at ``path`` (Attributes keep their types)."""
        cdef Node n = self._node(path, sep)
        if isinstance(attributes, Attributes):
            n.attrs = copy_attrs(<Attributes>attributes, False)
        else:
            n.attrs = Attributes(attributes)

    def getAttribute(self, str path, str name, str sep="."):
        """The value of attribute ``name`` of the element at ``path``."""
        cdef Node n = self._node(path, sep)
        cdef Node a = None if n.attrs is None else n.attrs._d.get(name)
        if a is None:
            raise KeyError(f"path '{path}' has no attribute '{name}'")
        return public_value(a)

    def getAttributeAs(self, str path, str name, type, str sep="."):
        """Attribute ``name`` of ``path`` converted to the Karabo ``type``."""
        return self.getAttributes(path, sep).getAs(name, type)

    def getAttributeType(self, str path, str name, str sep="."):
        """The Karabo type of attribute ``name`` of ``path``."""
        return self.getAttributes(path, sep).getType(name)

    def getAttributes(self, str path, str sep=".") -> Attributes:
        """The (mutable) attributes of the element at ``path``."""
        return self._node(path, sep).getAttributes()

    def hasAttribute(self, str path, str name, str sep=".") -> bool:
        """Whether the element at ``path`` has attribute ``name``."""
        cdef Node n = self._find(path, sep)
        return n is not None and n.attrs is not None and name in n.attrs._d

    # -- Python protocols ----------------------------------------------------------------------

    def __getitem__(self, path):
        if type(path) is tuple:
            p, name = path
            return self.getAttribute(p, name)
        return public_value(self._node(path, "."))

    def __setitem__(self, path, value):
        if type(path) is tuple:
            p, name = path
            self.setAttribute(p, name, value)
        else:
            self._set_inferred(path, value)

    def __delitem__(self, path):
        if not self.erase(path):
            raise KeyError(f"path '{path}' does not exist")

    def __contains__(self, path):
        return type(path) is str and self._find(<str>path, ".") is not None

    def __len__(self):
        return len(self._d)

    def __iter__(self):
        return iter(self._d)

    def keys(self):
        """The top-level keys in order."""
        return list(self._d)

    def values(self):
        """The top-level values in order."""
        return [public_value(n) for n in self._d.values()]

    def items(self):
        """(key, value) pairs of the top level in order."""
        return [(k, public_value(n)) for k, n in self._d.items()]

    def __bool__(self):
        return bool(self._d)

    # -- whole-Hash operations -----------------------------------------------------------------

    cdef _copy_into(self, Hash target, bint deep):
        cdef Node n, c
        for k, n in self._d.items():
            c = new_node(n.key, copy_value(n.value, n.type, deep), n.type)
            c.attrs = copy_attrs(n.attrs, deep)
            target._d[k] = c

    def copy(self) -> Hash:
        """A copy of the tree (Hashes, vectors of Hash, attributes); arrays are shared, as in C++."""
        return copy_value(self, T_HASH, False)

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return copy_value(self, T_HASH, True)

    def __reduce__(self):
        from pykarabo._core.binary import encodeBinary
        # the class travels separately: a top-level NDArray/ImageData has no __classId marker
        return (_unpickle, (type(self), encodeBinary(self)))

    def fullyEqual(self, other, bint orderMatters=True) -> bool:
        """Equal keys, values, types and attributes (in order, unless ``orderMatters`` is False)."""
        if not isinstance(other, Hash):
            return False
        return hash_equal(self, <Hash>other, True, orderMatters)

    def __eq__(self, other):
        if isinstance(other, Hash):
            return hash_equal(self, <Hash>other, False, False)
        if isinstance(other, dict):
            return hash_equal(self, Hash(other), False, False)
        return NotImplemented

    def __ne__(self, other):
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    __hash__ = None

    def merge(self, Hash other, policy="merge", str sep="."):
        """Merge ``other`` into this Hash (Karabo's Hash::merge).

        Values of ``other`` replace or extend ours, nested Hashes are merged recursively.
        ``policy`` "merge" (Karabo's MERGE_ATTRIBUTES, default) adds ``other``'s attributes to
        ours; "replace" (REPLACE_ATTRIBUTES) makes them replace ours.
        """
        policy = str(getattr(policy, "name", policy)).lower()
        if policy not in ("merge", "merge_attributes", "replace", "replace_attributes"):
            raise ValueError(f"unknown merge policy {policy!r}: use 'merge' or 'replace'")
        merge_into(self, other, policy.startswith("replace"))

    def __iadd__(self, Hash other):
        self.merge(other)
        return self

    def flatten(self, str sep=".") -> Hash:
        """A one-level Hash keyed by full paths of every leaf, attributes kept."""
        cdef Hash out = Hash.__new__(Hash)
        flatten_into(self, "", sep, out)
        return out

    def unflatten(self, str sep=".") -> Hash:
        """The inverse of ``flatten``: keys are split at ``sep`` into nested Hashes."""
        cdef Hash out = Hash.__new__(Hash)
        cdef Node n, m
        for n in self._d.values():
            m = out._set(n.key, copy_value(n.value, n.type, False), n.type, sep)
            m.attrs = copy_attrs(n.attrs, False)
        return out

    def toDict(self) -> dict:
        """Nested plain dicts of the values (vectors of Hash become lists of dicts)."""
        return {k: to_plain(public_value(n)) for k, n in self._d.items()}

    @classmethod
    def fromDict(cls, dict d) -> Hash:
        """A Hash from nested dicts (keys are single keys, not paths)."""
        cdef Hash h = cls()
        cdef int t
        for k, v in d.items():
            if not isinstance(k, str):
                raise TypeError(f"Hash keys are str, not {type(k).__name__}")
            v = infer(v, k, &t)
            h._put(k, v, t)
        return h

    def __repr__(self):
        lines = []
        write_tree(self, lines, 0)
        body = "\n".join(lines)
        return f"<{type(self).__name__}\n{body}\n>" if lines else f"<{type(self).__name__}>"

    __str__ = __repr__


def _unpickle(cls, data):
    """Rebuild a pickled Hash (or NDArray/ImageData) of class ``cls`` from its binary form."""
    from pykarabo._core.binary import decodeBinary
    cdef Hash h = decodeBinary(data)
    if cls is Hash:
        return h
    cdef Hash out = cls.__new__(cls)
    out._d = h._d
    return out


cdef void collect_paths(Hash h, str prefix, str sep, list out) except *:
    cdef Node n
    for n in h._d.values():
        p = prefix + n.key
        v = n.value
        # a HASH_POINTER is a leaf (as in C++, where it is not a Hash), so unflatten can rebuild it
        if n.type == T_HASH and not isinstance(v, (NDArray, ImageData)) and (<Hash>v)._d:
            collect_paths(<Hash>v, p + sep, sep, out)
        else:
            out.append(p)


cdef void flatten_into(Hash h, str prefix, str sep, Hash out) except *:
    cdef Node n, m
    for n in h._d.values():
        p = prefix + n.key
        v = n.value
        if n.type == T_HASH and not isinstance(v, (NDArray, ImageData)) and (<Hash>v)._d:
            flatten_into(<Hash>v, p + sep, sep, out)
        else:
            m = out._put(p, copy_value(v, n.type, False), n.type)
            m.attrs = copy_attrs(n.attrs, False)


cdef void merge_into(Hash target, Hash source, bint replace_attrs) except *:
    cdef Node n, mine
    for k, n in source._d.items():
        mine = target._d.get(k)
        if mine is None:
            mine = new_node(n.key, copy_value(n.value, n.type, False), n.type)
            mine.attrs = copy_attrs(n.attrs, False)
            target._d[k] = mine
            continue
        if (n.type == T_HASH and mine.type == T_HASH and type(n.value) is Hash
                and type(mine.value) is Hash):
            merge_into(<Hash>mine.value, <Hash>n.value, replace_attrs)
        else:
            if mine.attrs is not None and classed_id(mine.value) is not None and type(n.value) is not type(mine.value):
                mine.attrs._d.pop("__classId", None)   # as in _put: the old class marker no longer applies
            mine.value = copy_value(n.value, n.type, False)
            mine.type = n.type
        if replace_attrs or mine.attrs is None:
            mine.attrs = copy_attrs(n.attrs, False)
        elif n.attrs is not None:
            for name, a in (<Attributes>n.attrs)._d.items():
                mine.attrs._set(name, (<Node>a).value, (<Node>a).type)


cdef object copy_value(object v, int t, bint deep):
    cdef Hash h, c
    if isinstance(v, Hash):
        h = <Hash>v
        c = type(h).__new__(type(h))
        h._copy_into(c, deep)
        return c
    if t == T_VECTOR_HASH or t == T_VECTOR_HASH_POINTER:
        return [copy_value(x, T_HASH, deep) for x in v]
    if t == T_VECTOR_STRING or t == T_VECTOR_NONE:
        return list(v)
    if t == T_SCHEMA:
        return makeSchema((<Schema>v).rootName, copy_value((<Schema>v).hash, T_HASH, deep))
    if deep:
        if isinstance(v, _NDARRAY_T):
            return v.copy()
        if t == T_BYTE_ARRAY:
            return bytearray(v)
    return v


cdef object to_plain(object v):
    if isinstance(v, Hash):
        return (<Hash>v).toDict()
    if type(v) is list:
        return [to_plain(x) for x in v]
    return v


# ----------------------------------------------------------------------------------------------
# Equality


cdef bint value_equal(object a, object b, int t, bint strict, bint order) except -1:
    if not strict:
        # == compares what h[path] returns, where an NDArray is its numpy array; without this
        # an NDArray and an equal numeric vector compared equal one way round only
        if type(a) is NDArray:
            a = (<NDArray>a).getArray()
        if type(b) is NDArray:
            b = (<NDArray>b).getArray()
    if isinstance(a, Hash):
        return isinstance(b, Hash) and hash_equal(<Hash>a, <Hash>b, strict, order)
    if t == T_VECTOR_HASH or t == T_VECTOR_HASH_POINTER:
        if len(a) != len(b):
            return False
        for x, y in zip(a, b):
            if not (isinstance(y, Hash) and hash_equal(<Hash>x, <Hash>y, strict, order)):
                return False
        return True
    if t == T_BYTE_ARRAY or t == T_VECTOR_CHAR:
        # tobytes, not cast("B"): casting fails for zero-size multi-dimensional arrays
        return memoryview(a).tobytes() == memoryview(b).tobytes()
    if isinstance(a, _NDARRAY_T) or isinstance(b, _NDARRAY_T):
        a = np.asarray(a)
        b = np.asarray(b)
        # bitwise: NaN equals itself, so decoded data compares equal to what was encoded
        return (a.shape == b.shape and a.dtype == b.dtype
                and a.tobytes() == b.tobytes())
    if t == T_SCHEMA:
        return (isinstance(b, Schema) and (<Schema>a).rootName == (<Schema>b).rootName
                and hash_equal((<Schema>a).hash, (<Schema>b).hash, strict, order))
    if type(a) is float and type(b) is float:
        return a == b or (a != a and b != b)
    if type(a) is complex and type(b) is complex:
        return value_equal(a.real, b.real, T_DOUBLE, strict, order) and value_equal(
            a.imag, b.imag, T_DOUBLE, strict, order)
    return type(a) is type(b) and a == b


cdef bint node_equal(Node a, Node b, bint strict, bint order) except -1:
    if strict:
        if a.type != b.type:
            return False
        if not attrs_equal(a.attrs, b.attrs):
            return False
    return value_equal(a.value, b.value, a.type, strict, order)


cdef bint attrs_equal(Attributes a, Attributes b) except -1:
    cdef dict da = a._d if a is not None else {}
    cdef dict db = b._d if b is not None else {}
    if len(da) != len(db) or list(da) != list(db):
        return False
    cdef Node x
    for k, x in da.items():
        y = db[k]
        if x.type != (<Node>y).type or not value_equal(x.value, (<Node>y).value, x.type, True, True):
            return False
    return True


cdef bint hash_equal(Hash a, Hash b, bint strict, bint order) except -1:
    if len(a._d) != len(b._d):
        return False
    if order and list(a._d) != list(b._d):
        return False
    cdef Node x
    for k, x in a._d.items():
        y = b._d.get(k)
        if y is None or not node_equal(x, <Node>y, strict, order):
            return False
    return True


# ----------------------------------------------------------------------------------------------
# Type inference and coercion

cdef object infer(object v, object path, int* tout):
    """The canonical value for a plain assignment; its type code goes to ``tout[0]``."""
    tp = type(v)
    if tp is bool:
        tout[0] = T_BOOL
        return v
    if tp is int:
        tout[0] = int_type(v, path)
        return v
    if tp is float:
        tout[0] = T_DOUBLE
        return v
    if tp is str:
        tout[0] = T_STRING
        return v
    if v is None:
        tout[0] = T_NONE
        return None
    if isinstance(v, Hash):
        tout[0] = T_HASH
        return v
    if tp is dict:
        tout[0] = T_HASH
        return Hash.fromDict(v)
    if tp is list or tp is tuple:
        return infer_vector(v, path, tout)
    if tp is bytes:
        tout[0] = T_VECTOR_CHAR
        return v
    if tp is bytearray or tp is memoryview:
        tout[0] = T_BYTE_ARRAY
        return v
    if tp is complex:
        tout[0] = T_COMPLEX_DOUBLE
        return v
    if isinstance(v, _NDARRAY_T):
        tout[0] = T_HASH
        return NDArray(v)
    if isinstance(v, _NP_GENERIC):
        return infer_numpy_scalar(v, path, tout)
    if isinstance(v, Schema):
        tout[0] = T_SCHEMA
        return v
    if isinstance(v, _ENUM):
        return infer(v.value, path, tout)
    if isinstance(v, str):
        tout[0] = T_STRING
        return str.__str__(v)
    if isinstance(v, int):
        tout[0] = int_type(v, path)
        return int(v)
    if isinstance(v, float):
        tout[0] = T_DOUBLE
        return float(v)
    if isinstance(v, dict):
        tout[0] = T_HASH
        return Hash.fromDict(dict(v))
    raise TypeError(f"cannot store a {tp.__name__} at {where(path)}: no Karabo type for it")


cdef int int_type(object v, object path) except -1:
    """The narrowest of INT32, UINT32, INT64, UINT64 holding the Python int ``v``."""
    cdef int overflow
    cdef long long x = PyLong_AsLongLongAndOverflow(v, &overflow)
    if overflow == 0:
        if -0x80000000 <= x <= 0x7FFFFFFF:
            return T_INT32
        if 0 <= x <= 0xFFFFFFFF:
            return T_UINT32
        return T_INT64
    if overflow > 0 and fits_uint64(v):
        return T_UINT64
    raise ValueError(f"integer {v} at {where(path)} is outside the range of every Karabo integer type")


cdef bint fits_uint64(object v) except -1:
    """Whether the non-negative Python int ``v`` is below 2**64 (checked in C, no object compares)."""
    try:
        PyLong_AsUnsignedLongLong(v)
    except OverflowError:
        return False
    return True


cdef object infer_numpy_scalar(object v, object path, int* tout):
    kind = v.dtype.kind
    if kind == "b":
        tout[0] = T_BOOL
        return bool(v)
    if kind == "U":
        tout[0] = T_STRING
        return str(v)
    if kind == "S":
        tout[0] = T_VECTOR_CHAR
        return bytes(v)
    t = int(Types.fromDtype(v.dtype))
    tout[0] = t
    return coerce(v, t, path)


cdef object infer_vector(object seq, object path, int* tout):
    if len(seq) == 0:
        tout[0] = T_VECTOR_STRING
        return []
    if isinstance(seq[0], Hash):
        # tables: a list of Hash rows needs no element-wise inference
        for x in seq:
            if not isinstance(x, Hash):
                break
        else:
            tout[0] = T_VECTOR_HASH
            return list(seq)
    kinds = {type(x) for x in seq}
    if kinds == {bool}:
        tout[0] = T_VECTOR_BOOL
        return np.array(seq, dtype=np.bool_)
    if kinds <= {int, bool}:
        lo = min(seq)
        hi = max(seq)
        t = max(int_type(lo, path), int_type(hi, path))
        if lo < 0 and t == T_UINT32:
            t = T_INT64
        elif lo < 0 and t == T_UINT64:
            raise ValueError(f"integers at {where(path)} span more than any Karabo integer vector type")
        tout[0] = t + 1
        return coerce(seq, t + 1, path)
    if kinds <= {int, float, bool}:
        tout[0] = T_VECTOR_DOUBLE
        return coerce(seq, T_VECTOR_DOUBLE, path)
    if kinds <= {int, float, complex, bool}:
        tout[0] = T_VECTOR_COMPLEX_DOUBLE
        return coerce(seq, T_VECTOR_COMPLEX_DOUBLE, path)
    if all(isinstance(x, str) for x in seq):
        tout[0] = T_VECTOR_STRING
        return [str.__str__(x) for x in seq]
    if all(isinstance(x, (Hash, dict)) for x in seq):
        tout[0] = T_VECTOR_HASH
        return coerce(seq, T_VECTOR_HASH, path)
    if kinds == {type(None)}:
        tout[0] = T_VECTOR_NONE
        return list(seq)
    if len(kinds) == 1 and issubclass(next(iter(kinds)), _NP_GENERIC):
        t = int(Types.fromDtype(seq[0].dtype)) + 1
        tout[0] = t
        return coerce(seq, t, path)
    raise TypeError(f"cannot store a list of {sorted(k.__name__ for k in kinds)} at {where(path)}: "
                    "a vector needs elements of one Karabo type")


cdef object coerce(object v, int t, object path):
    """``v`` converted to the canonical value of type ``t``; TypeError/ValueError naming ``path``."""
    cdef double d
    cdef float f
    if t == T_BOOL:
        if v is True or v is False:
            return v
        if isinstance(v, (np.bool_, int, np.integer)) and v in (0, 1):
            return bool(v)
        raise TypeError(f"BOOL at {where(path)} needs a bool, not {v!r}")
    if T_INT8 <= t <= T_UINT64 and t % 2 == 0:
        return coerce_int(v, t, path)
    if t == T_FLOAT or t == T_DOUBLE:
        if isinstance(v, (str, bytes, complex)) or v is None or isinstance(v, (list, tuple, Hash)):
            raise TypeError(f"{type_enum(t).name} at {where(path)} needs a real number, not {v!r}")
        d = float(v)
        if t == T_DOUBLE:
            return d
        f = <float>d
        if isinf(f) and not isinf(d):
            raise ValueError(f"{d!r} at {where(path)} overflows a FLOAT")
        return <double>f
    if t == T_COMPLEX_DOUBLE or t == T_COMPLEX_FLOAT:
        if isinstance(v, (str, bytes)) or v is None:
            raise TypeError(f"{type_enum(t).name} at {where(path)} needs a complex number, not {v!r}")
        c = complex(v)
        if t == T_COMPLEX_FLOAT:
            return complex(coerce(c.real, T_FLOAT, path), coerce(c.imag, T_FLOAT, path))
        return c
    if t == T_STRING:
        if isinstance(v, str):
            return str.__str__(v.value if isinstance(v, _ENUM) else v)
        if isinstance(v, bytes):
            return v.decode("utf-8", "surrogateescape")
        raise TypeError(f"STRING at {where(path)} needs a str, not {type(v).__name__}")
    if t == T_CHAR:
        if isinstance(v, str) and len(v) == 1 and ord(v) < 256:
            return str.__str__(v)
        if isinstance(v, (bytes, bytearray)) and len(v) == 1:
            return chr(v[0])
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v < 256:
            return chr(v)
        raise TypeError(f"CHAR at {where(path)} needs one character or byte, not {v!r}")
    if is_numeric_vector(t):
        return numpy_vector(v, t, path)
    if t == T_VECTOR_CHAR:
        if isinstance(v, str):
            return v.encode("utf-8")
        try:
            return memoryview(v).tobytes()
        except TypeError:
            raise TypeError(f"VECTOR_CHAR at {where(path)} needs bytes, not {type(v).__name__}") from None
    if t == T_BYTE_ARRAY:
        return byte_array(v, path)
    if t == T_VECTOR_STRING:
        if isinstance(v, str) or not all(isinstance(x, str) for x in v):
            raise TypeError(f"VECTOR_STRING at {where(path)} needs a list of str")
        return [str.__str__(x) for x in v]
    if t == T_HASH or t == T_HASH_POINTER:
        if isinstance(v, Hash):
            return v
        if isinstance(v, dict):
            return Hash.fromDict(dict(v))
        raise TypeError(f"{type_enum(t).name} at {where(path)} needs a Hash, not {type(v).__name__}")
    if t == T_VECTOR_HASH or t == T_VECTOR_HASH_POINTER:
        if isinstance(v, (str, bytes, Hash, dict)):
            raise TypeError(f"{type_enum(t).name} at {where(path)} needs a list of Hash")
        out = []
        for x in v:
            if isinstance(x, dict):
                x = Hash.fromDict(dict(x))
            elif not isinstance(x, Hash):
                raise TypeError(f"{type_enum(t).name} at {where(path)} needs a list of Hash, "
                                f"found {type(x).__name__}")
            out.append(x)
        return out
    if t == T_SCHEMA:
        if isinstance(v, Schema):
            return v
        raise TypeError(f"SCHEMA at {where(path)} needs a Schema, not {type(v).__name__}")
    if t == T_NONE:
        if v is None:
            return None
        raise TypeError(f"NONE at {where(path)} needs None, not {v!r}")
    if t == T_VECTOR_NONE:
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            return [None] * v
        if all(x is None for x in v):
            return list(v)
        raise TypeError(f"VECTOR_NONE at {where(path)} needs a list of None")
    raise TypeError(f"{type_enum(t)!r} at {where(path)} is not a type a Hash can hold")


# Range of each integer type, indexed by type code (C arrays for the checks, tuple for messages);
# UINT64's upper bound does not fit a long long and is checked separately.
cdef long long _INT_MIN[19]
cdef long long _INT_MAX[19]
_INT_MIN[T_INT8], _INT_MAX[T_INT8] = -0x80, 0x7F
_INT_MIN[T_UINT8], _INT_MAX[T_UINT8] = 0, 0xFF
_INT_MIN[T_INT16], _INT_MAX[T_INT16] = -0x8000, 0x7FFF
_INT_MIN[T_UINT16], _INT_MAX[T_UINT16] = 0, 0xFFFF
_INT_MIN[T_INT32], _INT_MAX[T_INT32] = -0x80000000, 0x7FFFFFFF
_INT_MIN[T_UINT32], _INT_MAX[T_UINT32] = 0, 0xFFFFFFFF
_INT_MIN[T_INT64], _INT_MAX[T_INT64] = -0x8000000000000000, 0x7FFFFFFFFFFFFFFF
_INT_MIN[T_UINT64], _INT_MAX[T_UINT64] = 0, 0x7FFFFFFFFFFFFFFF

cdef tuple _INT_RANGE = (
    None, None, None, None, (-0x80, 0x7F), None, (0, 0xFF), None, (-0x8000, 0x7FFF), None, (0, 0xFFFF),
    None, (-0x80000000, 0x7FFFFFFF), None, (0, 0xFFFFFFFF), None,
    (-0x8000000000000000, 0x7FFFFFFFFFFFFFFF), None, (0, 0xFFFFFFFFFFFFFFFF))


cdef object coerce_int(object v, int t, object path):
    cdef int overflow
    cdef long long x
    if type(v) is not int:
        if isinstance(v, bool) or isinstance(v, np.bool_):
            v = int(v)
        elif isinstance(v, (int, np.integer)):
            v = int(v)
        elif isinstance(v, (float, np.floating)) and float(v).is_integer():
            v = int(v)
        else:
            raise TypeError(f"{type_enum(t).name} at {where(path)} needs an integer, not {v!r}")
    # range check in C: comparing Python ints against big constants costs more than the rest
    x = PyLong_AsLongLongAndOverflow(v, &overflow)
    if overflow == 0 and _INT_MIN[t] <= x and (t == T_UINT64 or x <= _INT_MAX[t]):
        return v
    if overflow > 0 and t == T_UINT64 and fits_uint64(v):
        return v
    lo, hi = _INT_RANGE[t]
    raise ValueError(f"{v} at {where(path)} is out of range for {type_enum(t).name} [{lo}, {hi}]")


cdef object numpy_vector(object v, int t, object path):
    dt = _DTYPE_OF[t - 1]
    if isinstance(v, (str, bytes, Hash, dict)):
        raise TypeError(f"{type_enum(t).name} at {where(path)} needs a sequence of numbers, not {type(v).__name__}")
    if isinstance(v, _NDARRAY_T) and v.dtype == dt and v.ndim == 1:
        return v if v.flags.c_contiguous else np.ascontiguousarray(v)
    if dt.kind in "iu" and not isinstance(v, _NDARRAY_T):
        # exact Python ints: numpy would pass a mix of huge and negative ints through float64
        items = list(v)
        if all(isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)) for x in items):
            info = np.iinfo(dt)
            if items and (min(items) < info.min or max(items) > info.max):
                raise ValueError(f"values at {where(path)} are out of range for {type_enum(t).name} "
                                 f"[{info.min}, {info.max}]")
            return np.array(items, dtype=dt)
    try:
        src = np.asarray(v)
    except (ValueError, TypeError) as e:
        raise TypeError(f"{type_enum(t).name} at {where(path)}: {e}") from None
    if src.size == 0:
        return np.empty(0, dt)
    if src.ndim != 1:
        raise ValueError(f"{type_enum(t).name} at {where(path)} needs a 1-d sequence, got shape {src.shape}")
    if src.dtype.kind in "OUSV":
        raise TypeError(f"{type_enum(t).name} at {where(path)} needs numbers, got {src.dtype}")
    if dt.kind == "b":
        if src.dtype.kind != "b" and not np.isin(src, (0, 1)).all():
            raise ValueError(f"VECTOR_BOOL at {where(path)} needs values 0/1")
        return src.astype(dt)
    if dt.kind in "iu":
        if src.dtype.kind in "fc" and not (np.isfinite(src).all() and (src == np.round(src.real)).all()):
            raise ValueError(f"non-integer values at {where(path)} for {type_enum(t).name}")
        if src.dtype.kind == "c":
            raise TypeError(f"complex values at {where(path)} for {type_enum(t).name}")
        info = np.iinfo(dt)
        if src.min() < info.min or src.max() > info.max:
            raise ValueError(f"values at {where(path)} are out of range for {type_enum(t).name} "
                             f"[{info.min}, {info.max}]")
        return src.astype(dt)
    if dt.kind == "f" and src.dtype.kind == "c":
        raise TypeError(f"complex values at {where(path)} for {type_enum(t).name}")
    with np.errstate(over="ignore", invalid="ignore"):
        out = src.astype(dt)
    if dt.kind in "fc" and src.dtype.kind in "fc" and (np.isinf(out) & ~np.isinf(src)).any():
        raise ValueError(f"values at {where(path)} overflow {type_enum(t).name}")
    return out


cdef object byte_array(object v, object path):
    if isinstance(v, _NDARRAY_T):
        return v if v.flags.c_contiguous else np.ascontiguousarray(v)
    try:
        m = memoryview(v)
    except TypeError:
        raise TypeError(f"BYTE_ARRAY at {where(path)} needs a bytes-like object, not {type(v).__name__}") from None
    return v if m.c_contiguous else bytearray(m.tobytes())


cdef object convert(object v, int src, int dst, object path):
    """getAs: the value of type ``src`` as type ``dst`` (numbers, text, vectors)."""
    if src == dst:
        return v
    if dst == T_STRING:
        return valueToText(v, src)
    if src == T_STRING and dst != T_VECTOR_CHAR:
        return textToValue(v, dst, path)
    if dst == T_BOOL and isinstance(v, (int, float)) and not isinstance(v, bool):
        return v != 0
    if T_INT8 <= dst <= T_UINT64 and dst % 2 == 0 and isinstance(v, float):
        v = int(v)
    return coerce(v, dst, path)


# ----------------------------------------------------------------------------------------------
# Text form of values (Karabo's getValueAs<string>, used by getAs(STRING) and the XML codec)

cdef str num_text(object x, int t):
    if t == T_FLOAT or t == T_COMPLEX_FLOAT:
        return c_format(x, 7)
    if t == T_DOUBLE or t == T_COMPLEX_DOUBLE:
        return c_format(x, 15)
    if type(x) is bool or isinstance(x, np.bool_):
        return "1" if x else "0"
    return str(int(x))


cdef str c_format(object x, int digits):
    cdef double d = float(x)
    if d != d:
        return "nan"
    if isinf(d):
        return "inf" if d > 0 else "-inf"
    return "%.*g" % (digits, d)


def valueToText(value, type) -> str:
    """Karabo's text form of a value of the given type (as C++ ``getValueAs<string>`` writes it)."""
    cdef int t = type
    if t == T_STRING:
        return value
    if t == T_CHAR:
        return value
    if t == T_BOOL or (T_INT8 <= t <= T_DOUBLE and t % 2 == 0):
        return num_text(value, t)
    if t == T_COMPLEX_FLOAT or t == T_COMPLEX_DOUBLE:
        return f"({num_text(value.real, t)},{num_text(value.imag, t)})"
    if t == T_VECTOR_CHAR or t == T_BYTE_ARRAY:
        return base64.b64encode(memoryview(value).tobytes()).decode("ascii")
    if t == T_NONE:
        return "None"
    if t == T_VECTOR_NONE:
        return ",".join("None" for _ in value)
    if t == T_VECTOR_STRING:
        return ",".join(value)
    if t == T_VECTOR_COMPLEX_FLOAT or t == T_VECTOR_COMPLEX_DOUBLE:
        return ",".join(valueToText(x, t - 1) for x in value.tolist())
    if is_numeric_vector(t):
        return ",".join(num_text(x, t - 1) for x in value.tolist())
    if isinstance(value, Hash):
        return repr(value)
    raise TypeError(f"{type_enum(t)!r} has no text form")


def textToValue(str text, type, path="value"):
    """Parse Karabo's text form (``valueToText``) back into a value of ``type``."""
    cdef int t = type
    if t == T_STRING:
        return text
    if t == T_BOOL:
        s = text.strip().lower()
        if s in ("1", "true"):
            return True
        if s in ("0", "false"):
            return False
        raise ValueError(f"'{text}' at {where(path)} is not a BOOL")
    if T_INT8 <= t <= T_UINT64 and t % 2 == 0:
        return coerce_int(parse_int(text, path), t, path)
    if t == T_FLOAT or t == T_DOUBLE:
        return coerce(parse_real(text, path), t, path)
    if t == T_COMPLEX_FLOAT or t == T_COMPLEX_DOUBLE:
        s = text.strip()
        if not (s.startswith("(") and s.endswith(")")) or s.count(",") != 1:
            raise ValueError(f"'{text}' at {where(path)} is not a complex number '(re,im)'")
        re_, im = s[1:-1].split(",")
        return coerce(complex(parse_real(re_, path), parse_real(im, path)), t, path)
    if t == T_CHAR:
        return coerce(text, t, path)
    if t == T_VECTOR_CHAR or t == T_BYTE_ARRAY:
        raw = base64.b64decode(text.encode("ascii"), validate=False)
        return raw if t == T_VECTOR_CHAR else bytearray(raw)
    if t == T_NONE:
        if text.strip() not in ("", "None"):
            raise ValueError(f"'{text}' at {where(path)} is not None")
        return None
    items = [x.strip() for x in text.split(",")] if text.strip() else []
    if t == T_VECTOR_STRING:
        return [x for x in items if x]
    if t == T_VECTOR_NONE:
        return [None] * len(items)
    if t == T_VECTOR_BOOL:
        return coerce([textToValue(x, T_BOOL, path) for x in items], t, path)
    if is_numeric_vector(t) and t < T_VECTOR_COMPLEX_FLOAT:
        if t <= T_VECTOR_UINT64:
            return coerce([parse_int(x, path) for x in items], t, path)
        return coerce([parse_real(x, path) for x in items], t, path)
    if is_numeric_vector(t) and not items:
        return coerce(items, t, path)   # Karabo reads empty text as an empty complex vector too
    raise ValueError(f"{type_enum(t)!r} at {where(path)} cannot be parsed from text")


cdef double parse_real(str text, object path) except? -1.0:
    try:
        d = float(text)
    except ValueError:
        raise ValueError(f"'{text}' at {where(path)} is not a number") from None
    # Python overflows to inf where Karabo's parser refuses the text (DBL_MAX printed with %.15g)
    if isinf(d) and "inf" not in text.lower():
        raise ValueError(f"'{text}' at {where(path)} is out of range for a double")
    return d


cdef object parse_int(str text, object path):
    s = text.strip()
    try:
        return int(s, 0)
    except ValueError:
        pass
    try:
        return int(float(s))      # Karabo parses '1.9' as 1 for integer types
    except ValueError:
        raise ValueError(f"'{text}' at {where(path)} is not an integer") from None


# ----------------------------------------------------------------------------------------------
# repr


cdef void write_tree(Hash h, list lines, int depth) except *:
    cdef Node n
    pad = "  " * depth
    for n in h._d.values():
        attrs = ""
        if n.attrs is not None and n.attrs._d:
            attrs = " " + " ".join(f'{k}="{short((<Node>a).value)}"' for k, a in n.attrs._d.items())
        v = n.value
        if isinstance(v, Hash) and type(v) is not NDArray:
            lines.append(f"{pad}'{n.key}'{attrs} +")
            write_tree(<Hash>v, lines, depth + 1)
        elif n.type == T_VECTOR_HASH or n.type == T_VECTOR_HASH_POINTER:
            lines.append(f"{pad}'{n.key}'{attrs} @")
            for i, item in enumerate(v):
                lines.append(f"{pad}  [{i}]")
                write_tree(<Hash>item, lines, depth + 2)
        elif type(v) is NDArray:
            a = (<NDArray>v).getArray()
            lines.append(f"{pad}'{n.key}'{attrs} => NDArray shape={a.shape} dtype={a.dtype}")
        else:
            lines.append(f"{pad}'{n.key}'{attrs} => {short(v)} {type_enum(n.type).name}")


cdef str short(object v):
    if isinstance(v, _NDARRAY_T) and v.size > 8:
        return f"array(shape={v.shape}, dtype={v.dtype})"
    if isinstance(v, (bytes, bytearray, memoryview)) and len(v) > 32:
        return f"<{len(v)} bytes>"
    s = str(v)
    return s if len(s) <= 200 else s[:197] + "..."


# ----------------------------------------------------------------------------------------------
# NDArray, ImageData, Schema


cdef object classed_id(object value):
    if isinstance(value, Hash):
        if type(value) is NDArray:
            return "NDArray"
        if type(value) is ImageData:
            return "ImageData"
    return None


cdef object classed_hash(Attributes attrs):
    """The Hash subclass to decode into, given the attributes of a HASH element."""
    if attrs is None:
        return Hash
    cdef Node n = attrs._d.get("__classId")
    if n is None or n.type != T_STRING:
        return Hash
    if n.value == "NDArray":
        return NDArray
    if n.value == "ImageData":
        return ImageData
    return Hash


cdef object shape_vector(tuple shape):
    v = _SHAPES.get(shape)
    if v is None:
        v = np.array(shape, dtype=np.uint64)
        v.flags.writeable = False           # shared between NDArrays
        if len(_SHAPES) >= 256:
            _SHAPES.clear()
        _SHAPES[shape] = v
    return v


@cython.no_gc
cdef class NDArray(Hash):
    """A numpy array as Karabo holds it: a Hash with ``data, type, shape, isBigEndian``.

    ``NDArray(array)`` wraps an array without copying it when it is C-contiguous and
    little-endian (big-endian arrays are byte-swapped once, because the C++ reader ignores the
    byte-order flag).  ``getArray()`` returns a numpy view of ``data``.
    """

    def __init__(self, array=None):
        if array is None:
            return
        arr = array if type(array) is _NDARRAY_T else np.asarray(array)
        code = _NDARRAY_CODE.get(arr.dtype)
        if code is None:
            code = Types.fromDtype(arr.dtype) if arr.dtype.kind in "biuf" else None
            if code is None or int(code) not in _NDARRAY_DTYPES:
                raise TypeError(f"numpy dtype {arr.dtype} cannot be an NDArray (Karabo supports bool, "
                                "int8..int64, uint8..uint64, float32, float64)")
            arr = arr.astype(arr.dtype.newbyteorder("<"))       # big-endian: swap once
        if not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr)
        self._put("data", arr, T_BYTE_ARRAY)
        self._put("type", int(code), T_INT32)
        self._put("shape", shape_vector(arr.shape), T_VECTOR_UINT64)
        self._put("isBigEndian", False, T_BOOL)

    def getArray(self):
        """The array as a numpy view of the data buffer (no copy)."""
        cdef Node data = self._d.get("data")
        cdef Node code = self._d.get("type")
        cdef Node shape = self._d.get("shape")
        if data is None or code is None or shape is None:
            raise ValueError("malformed NDArray: it needs 'data', 'type' and 'shape'")
        raw = data.value
        if code.value not in _NDARRAY_DTYPES:
            raise ValueError(f"malformed NDArray: element type {code.value!r} is not an array type")
        dt = _DTYPE_OF[code.value]
        big = self._d.get("isBigEndian")
        if big is not None and (<Node>big).value is True:
            dt = dt.newbyteorder(">")
        shp = tuple(int(x) for x in (shape.value if is_numeric_vector(shape.type) else ()))
        if isinstance(raw, _NDARRAY_T) and raw.dtype == dt and raw.shape == shp:
            return raw
        buf = np.frombuffer(raw, dtype=np.uint8) if not isinstance(raw, _NDARRAY_T) else raw.reshape(-1).view(np.uint8)
        count = 1
        for x in shp:
            count *= x
        if count * dt.itemsize != buf.nbytes:
            raise ValueError(f"malformed NDArray: shape {shp} of {dt} needs {count * dt.itemsize} "
                                 f"bytes, data has {buf.nbytes}")
        return buf.view(dt).reshape(shp)

    def __array__(self, dtype=None, copy=None):
        a = self.getArray()
        return a if dtype is None else a.astype(dtype)


class Encoding(enum.IntEnum):
    """ImageData pixel encodings (src/karabo/xms/ImageData.hh)."""

    UNDEFINED = -1
    GRAY = 0
    RGB = 1
    RGBA = 2
    BGR = 3
    BGRA = 4
    BAYER_RG = 5
    BAYER_BG = 6
    BAYER_GR = 7
    BAYER_GB = 8
    YUV444 = 9
    YUV422_YUYV = 10
    YUV422_UYVY = 11
    JPEG = 12


_CHANNELS = {Encoding.RGB: 3, Encoding.BGR: 3, Encoding.RGBA: 4, Encoding.BGRA: 4, Encoding.YUV444: 3}


@cython.no_gc
cdef class ImageData(Hash):
    """A camera image with its metadata, laid out as Karabo's ImageData (C++ key order)."""

    def __init__(self, array=None, encoding=None, dims=None, bitsPerPixel=None, roiOffsets=None,
                 binning=None, rotation=0, flipX=False, flipY=False):
        if array is None:
            return
        pixels = NDArray(array)
        arr = pixels.getArray()
        if encoding is None:
            encoding = Encoding.RGB if arr.ndim == 3 and arr.shape[2] == 3 else (
                Encoding.RGBA if arr.ndim == 3 and arr.shape[2] == 4 else Encoding.GRAY)
        encoding = Encoding(encoding)
        ndim = arr.ndim
        if bitsPerPixel is None:
            bitsPerPixel = arr.dtype.itemsize * 8 * _CHANNELS.get(encoding, 1)
        if rotation not in (-1, 0, 90, 180, 270):
            raise ValueError(f"ImageData rotation must be 0, 90, 180 or 270 (or -1), not {rotation}")
        self._put("pixels", pixels, T_HASH)
        self._put("encoding", int(encoding), T_INT32)
        self._put("dims", coerce(arr.shape if dims is None else dims, T_VECTOR_UINT64, "dims"), T_VECTOR_UINT64)
        self._put("bitsPerPixel", int(bitsPerPixel), T_INT32)
        self._put("roiOffsets", coerce([0] * ndim if roiOffsets is None else roiOffsets,
                                       T_VECTOR_UINT64, "roiOffsets"), T_VECTOR_UINT64)
        self._put("binning", coerce([1] * ndim if binning is None else binning,
                                    T_VECTOR_UINT64, "binning"), T_VECTOR_UINT64)
        self._put("rotation", int(rotation), T_INT32)
        self._put("flipX", bool(flipX), T_BOOL)
        self._put("flipY", bool(flipY), T_BOOL)

    def getData(self):
        """The pixels as a numpy array (a view, no copy)."""
        return self["pixels"]

    def getEncoding(self) -> Encoding:
        """The pixel encoding."""
        return Encoding(self["encoding"])

    def getDimensions(self) -> list:
        """Image dimensions (normally the pixel array's shape)."""
        return [int(x) for x in self["dims"]]

    def getBitsPerPixel(self) -> int:
        """Bits per pixel."""
        return self["bitsPerPixel"]

    def getROIOffsets(self) -> list:
        """Offsets of the region of interest, one per dimension."""
        return [int(x) for x in self["roiOffsets"]]

    def getBinning(self) -> list:
        """Binning, one factor per dimension."""
        return [int(x) for x in self["binning"]]

    def getRotation(self) -> int:
        """Rotation in degrees (0, 90, 180, 270; -1 undefined)."""
        return self["rotation"]

    def getFlipX(self) -> bool:
        """Whether the image is flipped horizontally."""
        return self["flipX"]

    def getFlipY(self) -> bool:
        """Whether the image is flipped vertically."""
        return self["flipY"]


cdef class Schema:
    """A Karabo Schema value: a root name and its parameter Hash (the full model builds on this)."""

    def __init__(self, str rootName="", hash=None):
        self.rootName = rootName
        self.hash = Hash() if hash is None else hash

    def getRootName(self) -> str:
        """The root name (normally the class id)."""
        return self.rootName

    def getParameterHash(self) -> Hash:
        """The Hash that describes every property in its attributes."""
        return self.hash

    def __eq__(self, other):
        if not isinstance(other, Schema):
            return NotImplemented
        return self.rootName == (<Schema>other).rootName and self.hash.fullyEqual((<Schema>other).hash)

    __hash__ = None

    def __repr__(self):
        return f"Schema({self.rootName!r}, {self.hash!r})"


# The class every decoder and copy creates for SCHEMA values: pykarabo.schema installs its full
# Schema (a subclass of the core one) on import, so that no conversion step is needed anywhere.
cdef object _schema_class = Schema


def setSchemaClass(cls) -> None:
    """Make decoders and copies build SCHEMA values as ``cls``, a Schema subclass taking (rootName, hash)."""
    global _schema_class
    if not (isinstance(cls, type) and issubclass(cls, Schema)):
        raise TypeError(f"setSchemaClass needs a subclass of Schema, not {cls!r}")
    _schema_class = cls


cpdef object makeSchema(str rootName, Hash hash):
    """A SCHEMA value of the installed Schema class."""
    return _schema_class(rootName, hash)
