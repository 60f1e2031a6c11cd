# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Karabo's binary Hash format (``BinarySerializer<Hash>``, "Bin"), byte-identical with Karabo 3.

Reading is bounds-checked everywhere (the C++ reader is not): malformed input raises
``DeserializationError`` naming the offset and what was expected, and no count can make the
reader allocate more than the input could hold.  Arrays (BYTE_ARRAY, numeric vectors and so
NDArray/ImageData data) come back as numpy views into the input buffer.  Writing can return the
serialization as a list of buffers in which every BYTE_ARRAY element value is the caller's own
memory, split exactly like Karabo's BufferSet.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyObject_GetBuffer, PyBuffer_Release
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_DecodeUTF8

cdef extern from "Python.h":
    dict _PyDict_NewPresized(Py_ssize_t minused)
from libc.stdint cimport (int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t,
                          uint64_t)
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memchr, memcmp, memcpy, memset

from pykarabo._core.types cimport *
from pykarabo._core.hash cimport (Attributes, Hash, Node, Schema, classed_hash, makeSchema,
                                  new_node)

import sys

import numpy as np

from pykarabo.errors import DeserializationError

MAX_DEPTH = 1000
"""Deepest nesting of Hash / vector of Hash / Schema values the reader accepts."""

cdef int _MAX_DEPTH = MAX_DEPTH
# In encodeBinary, BYTE_ARRAY values at least this large are copied straight into the result
# (with the GIL released) instead of through the growing scratch buffer.
cdef Py_ssize_t _BIG = 1 << 16
cdef uint64_t _U32_LIMIT = 0xFFFFFFFF

cdef dict _DTYPES = {
    T_VECTOR_BOOL: np.dtype(np.bool_), T_VECTOR_INT8: np.dtype("<i1"), T_VECTOR_UINT8: np.dtype("<u1"),
    T_VECTOR_INT16: np.dtype("<i2"), T_VECTOR_UINT16: np.dtype("<u2"), T_VECTOR_INT32: np.dtype("<i4"),
    T_VECTOR_UINT32: np.dtype("<u4"), T_VECTOR_INT64: np.dtype("<i8"), T_VECTOR_UINT64: np.dtype("<u8"),
    T_VECTOR_FLOAT: np.dtype("<f4"), T_VECTOR_DOUBLE: np.dtype("<f8"),
    T_VECTOR_COMPLEX_FLOAT: np.dtype("<c8"), T_VECTOR_COMPLEX_DOUBLE: np.dtype("<c16"),
}
cdef object _U8 = np.dtype(np.uint8)
cdef object _frombuffer = np.frombuffer
cdef object _empty = np.empty


cdef inline int item_size(int code) noexcept:
    """Bytes per element of a packed numeric vector type (0 for other types)."""
    if code == T_VECTOR_BOOL or code == T_VECTOR_INT8 or code == T_VECTOR_UINT8:
        return 1
    if code == T_VECTOR_INT16 or code == T_VECTOR_UINT16:
        return 2
    if code == T_VECTOR_INT32 or code == T_VECTOR_UINT32 or code == T_VECTOR_FLOAT:
        return 4
    if code == T_VECTOR_INT64 or code == T_VECTOR_UINT64 or code == T_VECTOR_DOUBLE or code == T_VECTOR_COMPLEX_FLOAT:
        return 8
    if code == T_VECTOR_COMPLEX_DOUBLE:
        return 16
    return 0


# ==============================================================================================
# Writer


@cython.final
cdef class _Writer:
    cdef char* buf
    cdef Py_ssize_t size
    cdef Py_ssize_t cap
    cdef list parts         # finished pieces: bytes (copied) or memoryview (caller's memory)
    cdef bint split_all     # BufferSet mode: every BYTE_ARRAY element value is its own piece
    cdef int schema_depth   # > 0 while writing a Schema (its u32 length is patched in place)

    def __cinit__(self):
        self.cap = 256
        self.buf = <char*>malloc(self.cap)
        if self.buf == NULL:
            raise MemoryError()
        self.parts = []

    def __dealloc__(self):
        free(self.buf)

    cdef inline int reserve(self, Py_ssize_t n) except -1:
        cdef Py_ssize_t cap
        cdef char* nb
        if self.size + n <= self.cap:
            return 0
        cap = self.cap * 2
        while cap < self.size + n:
            cap *= 2
        nb = <char*>realloc(self.buf, cap)
        if nb == NULL:
            raise MemoryError()
        self.buf = nb
        self.cap = cap
        return 0

    cdef inline int put(self, const void* data, Py_ssize_t n) except -1:
        self.reserve(n)
        memcpy(self.buf + self.size, data, n)
        self.size += n
        return 0

    cdef inline int u8(self, uint8_t v) except -1:
        self.reserve(1)
        self.buf[self.size] = <char>v
        self.size += 1
        return 0

    cdef inline int u32(self, uint32_t v) except -1:
        self.reserve(4)
        memcpy(self.buf + self.size, &v, 4)
        self.size += 4
        return 0

    cdef inline int length(self, Py_ssize_t n, str key) except -1:
        if <uint64_t>n > _U32_LIMIT:
            raise ValueError(f"'{key}' has {n} bytes or elements: Karabo's format holds at most 2**32-1")
        return self.u32(<uint32_t>n)

    cdef int flush(self) except -1:
        self.parts.append(PyBytes_FromStringAndSize(self.buf, self.size))
        self.size = 0
        return 0

    cdef int key(self, str k) except -1:
        b = k.encode("utf-8", "surrogateescape")
        cdef Py_ssize_t n = len(b)
        if n > 255:
            raise ValueError(f"key '{k[:40]}...' is {n} bytes long: Karabo keys have at most 255")
        if memchr(PyBytes_AS_STRING(b), 0, n) != NULL:
            raise ValueError(f"key {k!r} contains NUL, which Karabo's C++ reader truncates")
        self.u8(<uint8_t>n)
        self.put(PyBytes_AS_STRING(b), n)
        return 0

    cdef int hash(self, Hash h) except -1:
        cdef Node n
        self.length(len(h._d), "<Hash>")
        for n in h._d.values():
            self.key(n.key)
            self.u32(<uint32_t>n.type)
            self.attrs(n.attrs)
            self.value(n.value, n.type, n.key, True)
        return 0

    cdef int attrs(self, Attributes a) except -1:
        cdef Node n
        if a is None:
            return self.u32(0)
        self.length(len(a._d), "<attributes>")
        for n in a._d.values():
            self.key(n.key)
            self.u32(<uint32_t>n.type)
            self.value(n.value, n.type, n.key, False)
        return 0

    cdef int buffer(self, object obj, str key, int is_element) except -1:
        """Length-prefixed raw bytes of any buffer; BYTE_ARRAY element values may become pieces."""
        cdef Py_buffer view
        PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE)
        try:
            self.length(view.len, key)
            if is_element and self.schema_depth == 0 and (self.split_all or view.len >= _BIG):
                self.flush()
                self.parts.append(memoryview(obj).cast("B") if view.len else b"")
            elif view.len >= _BIG:
                self.reserve(view.len)
                with nogil:
                    memcpy(self.buf + self.size, view.buf, view.len)
                self.size += view.len
            else:
                self.put(view.buf, view.len)
        finally:
            PyBuffer_Release(&view)
        return 0

    cdef int packed(self, object arr, int code, str key) except -1:
        """u32 count and the raw little-endian elements of a numeric vector (a numpy array)."""
        cdef Py_buffer view
        PyObject_GetBuffer(arr, &view, PyBUF_SIMPLE)
        try:
            self.length(view.len // item_size(code), key)
            self.reserve(view.len)
            if view.len >= _BIG:
                with nogil:
                    memcpy(self.buf + self.size, view.buf, view.len)
            else:
                memcpy(self.buf + self.size, view.buf, view.len)
            self.size += view.len
        finally:
            PyBuffer_Release(&view)
        return 0

    cdef int value(self, object v, int t, str key, bint is_element) except -1:
        cdef int8_t i8
        cdef int16_t i16
        cdef int32_t i32
        cdef int64_t i64
        cdef uint16_t ui16
        cdef uint32_t ui32
        cdef uint64_t ui64
        cdef float f
        cdef double d
        cdef Py_ssize_t start
        cdef uint32_t n32
        if t == T_BOOL:
            return self.u8(1 if v else 0)
        if t == T_INT32:
            i32 = v
            return self.put(&i32, 4)
        if t == T_UINT64:
            ui64 = v
            return self.put(&ui64, 8)
        if t == T_STRING:
            b = (<str>v).encode("utf-8", "surrogateescape")
            self.length(len(b), key)
            return self.put(PyBytes_AS_STRING(b), len(b))
        if t == T_DOUBLE:
            d = v
            return self.put(&d, 8)
        if t == T_HASH or t == T_HASH_POINTER:
            return self.hash(<Hash>v)
        if t == T_INT64:
            i64 = v
            return self.put(&i64, 8)
        if t == T_UINT32:
            ui32 = v
            return self.put(&ui32, 4)
        if t == T_FLOAT:
            f = <float><double>v
            return self.put(&f, 4)
        if t == T_INT8:
            i8 = v
            return self.put(&i8, 1)
        if t == T_UINT8:
            return self.u8(<uint8_t>v)
        if t == T_INT16:
            i16 = v
            return self.put(&i16, 2)
        if t == T_UINT16:
            ui16 = v
            return self.put(&ui16, 2)
        if t == T_CHAR:
            return self.u8(<uint8_t>ord(v))
        if t == T_COMPLEX_FLOAT:
            f = <float>v.real
            self.put(&f, 4)
            f = <float>v.imag
            return self.put(&f, 4)
        if t == T_COMPLEX_DOUBLE:
            d = v.real
            self.put(&d, 8)
            d = v.imag
            return self.put(&d, 8)
        if is_numeric_vector(t):
            return self.packed(v, t, key)
        if t == T_BYTE_ARRAY:
            return self.buffer(v, key, is_element)
        if t == T_VECTOR_CHAR:
            return self.buffer(v, key, False)
        if t == T_VECTOR_STRING:
            self.length(len(v), key)
            for s in v:
                b = (<str>s).encode("utf-8", "surrogateescape")
                self.length(len(b), key)
                self.put(PyBytes_AS_STRING(b), len(b))
            return 0
        if t == T_VECTOR_HASH or t == T_VECTOR_HASH_POINTER:
            self.length(len(v), key)
            for item in v:
                self.hash(<Hash>item)
            return 0
        if t == T_SCHEMA:
            return self.schema(<Schema>v, key)
        if t == T_NONE:
            return self.u32(0)
        if t == T_VECTOR_NONE:
            self.length(len(v), key)
            start = len(v) * 4
            self.reserve(start)
            memset(self.buf + self.size, 0, start)
            self.size += start
            return 0
        raise TypeError(f"'{key}' has type code {t}, which Karabo's binary format cannot hold")

    cdef int schema(self, Schema s, str key) except -1:
        # u32 byte length of what follows (patched once known), u8 name length, name, Hash
        cdef Py_ssize_t at
        cdef uint32_t n32
        name = s.rootName.encode("utf-8")
        if len(name) > 255:
            raise ValueError(f"Schema root name of '{key}' is {len(name)} bytes: at most 255")
        if b"\0" in name:
            raise ValueError(f"Schema root name of '{key}' contains NUL, which Karabo's C++ reader truncates")
        self.u32(0)
        at = self.size
        self.schema_depth += 1
        self.u8(<uint8_t>len(name))
        self.put(PyBytes_AS_STRING(name), len(name))
        self.hash(s.hash)
        self.schema_depth -= 1
        if <uint64_t>(self.size - at) > _U32_LIMIT:
            raise ValueError(f"Schema '{key}' is larger than 2**32-1 bytes")
        n32 = <uint32_t>(self.size - at)
        memcpy(self.buf + at - 4, &n32, 4)
        return 0


cdef _Writer write(Hash h, bint split_all):
    if not isinstance(h, Hash):
        raise TypeError(f"expected a Hash, got {type(h).__name__}")
    cdef _Writer w = _Writer()
    w.split_all = split_all
    w.hash(h)
    return w


def encodeBinary(Hash hash) -> bytes:
    """The Karabo binary serialization of ``hash`` as one ``bytes`` object."""
    cdef _Writer w = write(hash, False)
    if not w.parts:
        return PyBytes_FromStringAndSize(w.buf, w.size)
    # Large BYTE_ARRAY payloads were kept as views: gather everything once into the result.
    w.flush()
    cdef Py_ssize_t total = 0, pos = 0
    for p in w.parts:
        total += len(p)
    out = PyBytes_FromStringAndSize(NULL, total)
    cdef char* dst = PyBytes_AS_STRING(out)
    cdef Py_buffer view
    for p in w.parts:
        PyObject_GetBuffer(p, &view, PyBUF_SIMPLE)
        with nogil:
            memcpy(dst + pos, view.buf, view.len)
        pos += view.len
        PyBuffer_Release(&view)
    return out


def encodeBinaryBuffers(Hash hash) -> list:
    """The serialization as a list of buffers (Karabo's BufferSet split), arrays not copied.

    Serialized bytes alternate with the BYTE_ARRAY element values (so the data of every NDArray
    and ImageData), which are memoryviews of the original memory.  Their concatenation equals
    ``encodeBinary(hash)``.
    """
    cdef _Writer w = write(hash, True)
    w.flush()
    return w.parts


def encodeBinaryLayout(Hash hash) -> tuple:
    """``(buffers, kinds)``: ``encodeBinaryBuffers`` plus Karabo's buffer kinds (0 copy, 1 byte array)."""
    parts = encodeBinaryBuffers(hash)
    return parts, [0 if i % 2 == 0 else 1 for i in range(len(parts))]


# ==============================================================================================
# Reader


# Keys repeat all the time (timestamp attributes on every property, column names in every table
# row).  A small direct-mapped cache of decoded keys returns the same str object again, which
# saves its allocation, its UTF-8 decoding and, because str caches its hash, the dict's hashing.
DEF _KEY_SLOTS = 1024
cdef Py_ssize_t _KEY_CACHE_MAX_LEN = 40
cdef object _key_cache = [None] * _KEY_SLOTS


cdef inline Py_ssize_t key_slot(const unsigned char* p, Py_ssize_t n) noexcept:
    cdef uint32_t h = 2166136261u
    cdef Py_ssize_t i
    for i in range(n):
        h = (h ^ p[i]) * 16777619u
    return h & (_KEY_SLOTS - 1)


cdef inline str cached_key(const unsigned char* p, Py_ssize_t n):
    cdef object k = (<list>_key_cache)[key_slot(p, n)]
    cdef Py_ssize_t size
    cdef const char* utf8
    if k is None:
        return None
    utf8 = PyUnicode_AsUTF8AndSize(k, &size)
    if size == n and memcmp(utf8, p, n) == 0:
        return <str>k
    return None


cdef inline void remember_key(const unsigned char* p, Py_ssize_t n, str k) noexcept:
    (<list>_key_cache)[key_slot(p, n)] = k


# Most keys are at most 8 bytes long ("value", "sec", "frac", "tid", column names): on a
# little-endian host such a key is one masked 64-bit load, and that word both picks the slot and
# identifies the key, so a hit costs a multiply and two compares.
cdef bint _WORD_KEYS = sys.byteorder == "little"
cdef uint64_t _short_word[_KEY_SLOTS]
cdef uint8_t _short_len[_KEY_SLOTS]       # 0: empty slot (empty keys take the general path)
cdef object _short_keys = [None] * _KEY_SLOTS
# Short STRING values repeat as much as keys (states, units, names): a second such cache, so
# that they do not evict the keys.
cdef uint64_t _value_word[_KEY_SLOTS]
cdef uint8_t _value_len[_KEY_SLOTS]
cdef object _short_values = [None] * _KEY_SLOTS
cdef uint64_t _MASK[9]
_MASK[:] = [0, 0xFF, 0xFFFF, 0xFFFFFF, 0xFFFFFFFF, 0xFFFFFFFFFF, 0xFFFFFFFFFFFF, 0xFFFFFFFFFFFFFF,
            0xFFFFFFFFFFFFFFFF]


cdef inline Py_ssize_t word_slot(uint64_t w, Py_ssize_t n) noexcept:
    return <Py_ssize_t>(((w ^ <uint64_t>n) * <uint64_t>0x9E3779B97F4A7C15) >> (64 - 10))


# Bit c set: type code c may appear in the binary format (VECTOR_SCHEMA, 34 and UNKNOWN..POINTER
# may not), so validating a code is a shift instead of a chain of compares.
cdef uint64_t readable_mask() noexcept:
    cdef uint64_t m = 0
    cdef int c
    for c in range(T_MAX_CODE + 1):
        if c != T_VECTOR_SCHEMA and c != 34 and not T_UNKNOWN <= c <= T_POINTER:
            m |= (<uint64_t>1) << c
    return m


cdef uint64_t _READABLE = readable_mask()


cdef inline bint readable_type(uint32_t t) noexcept:
    return t <= T_MAX_CODE and (_READABLE >> t) & 1


cdef int bad_type(Py_ssize_t at, uint32_t t, str key) except -1:
    raise DeserializationError(f"offset {at}: unknown or unsupported type code {t} for '{key}'")


cdef str describe(str what, str key):
    return what if key is None else f"{what} of '{key}'"


# No cycle collection: a reader holds only the input buffer.
@cython.final
@cython.no_gc
@cython.freelist(8)
cdef class _Reader:
    # Descriptions of what is read are constant strings plus the key: the message is only
    # formatted when something is wrong, so reading good input builds no strings for errors.
    cdef const unsigned char* p
    cdef Py_ssize_t pos
    cdef Py_ssize_t end
    cdef object base        # the caller's buffer object: arrays are views into it
    cdef int depth

    cdef inline int need(self, Py_ssize_t n, str what, str key) except -1:
        if n > self.end - self.pos:
            raise DeserializationError(f"offset {self.pos}: expected {describe(what, key)} ({n} bytes) "
                                       f"but only {self.end - self.pos} remain")
        return 0

    cdef inline uint32_t u32(self, str what, str key) except? 0xFFFFFFFF:
        cdef uint32_t v
        self.need(4, what, key)
        memcpy(&v, self.p + self.pos, 4)
        self.pos += 4
        return v

    cdef inline uint32_t count(self, Py_ssize_t min_item, str what, str key) except? 0xFFFFFFFF:
        """A u32 count whose items (each at least ``min_item`` bytes) must fit in the input."""
        cdef Py_ssize_t at = self.pos
        cdef uint32_t n = self.u32(what, key)
        if <uint64_t>n * <uint64_t>min_item > <uint64_t>(self.end - self.pos):
            raise DeserializationError(
                f"offset {at}: {describe(what, key)} {n} needs at least {<uint64_t>n * min_item} "
                f"bytes but only {self.end - self.pos} remain")
        return n

    cdef str text(self, Py_ssize_t n, str what, str key, bint strict):
        """``n`` bytes of UTF-8; ``strict`` for keys and names: valid UTF-8 and no NUL."""
        cdef const void* nul
        self.need(n, what, key)
        if strict:
            nul = memchr(self.p + self.pos, 0, n)
            if nul != NULL:
                raise DeserializationError(
                    f"offset {<const unsigned char*>nul - self.p}: NUL in {describe(what, key)} "
                    "(Karabo's C++ reader would truncate it there)")
        try:
            s = PyUnicode_DecodeUTF8(<const char*>(self.p + self.pos), n,
                                     "strict" if strict else "surrogateescape")
        except UnicodeDecodeError as e:
            raise DeserializationError(f"offset {self.pos + e.start}: invalid UTF-8 in "
                                       f"{describe(what, key)}") from None
        self.pos += n
        return s

    cdef inline str short_text(self, Py_ssize_t n, str key):
        """A STRING value of 1..8 bytes, at least 8 bytes before the end: from the value cache."""
        cdef uint64_t w
        memcpy(&w, self.p + self.pos, 8)
        w &= _MASK[n]
        cdef Py_ssize_t slot = word_slot(w, n)
        if _value_len[slot] == n and _value_word[slot] == w:
            self.pos += n
            return <str>(<list>_short_values)[slot]
        s = self.text(n, "STRING", key, False)
        _value_word[slot] = w
        _value_len[slot] = n
        (<list>_short_values)[slot] = s
        return s

    cdef str key(self, str what, str owner):
        self.need(1, what, owner)
        cdef Py_ssize_t n = self.p[self.pos]
        cdef str k
        cdef uint64_t w
        cdef Py_ssize_t slot
        self.pos += 1
        if _WORD_KEYS and 0 < n <= 8 and self.end - self.pos >= 8:
            memcpy(&w, self.p + self.pos, 8)
            w &= _MASK[n]
            slot = word_slot(w, n)
            if _short_len[slot] == n and _short_word[slot] == w:
                self.pos += n
                return <str>(<list>_short_keys)[slot]
            k = self.text(n, what, owner, True)
            _short_word[slot] = w
            _short_len[slot] = n
            (<list>_short_keys)[slot] = k
            return k
        if n > _KEY_CACHE_MAX_LEN or n > self.end - self.pos:
            return self.text(n, what, owner, True)
        k = cached_key(self.p + self.pos, n)
        if k is None:
            k = self.text(n, what, owner, True)
            remember_key(self.p + self.pos - n, n, k)
        else:
            self.pos += n
        return k

    cdef inline int type_code(self, str key) except -1:
        cdef uint32_t t = self.u32("type code", key)
        if not readable_type(t):
            bad_type(self.pos - 4, t, key)
        return <int>t

    cdef Hash hash(self, object cls):
        cdef Hash h = Hash.__new__(Hash) if cls is Hash else cls.__new__(cls)
        cdef Py_ssize_t at = self.pos
        cdef uint32_t n = self.count(10, "element count", None)
        if n > 5:       # an empty dict has room for 5: size it once instead of growing it
            h._d = _PyDict_NewPresized(n)
        cdef uint32_t i, t32, na
        cdef Node node
        cdef str k
        cdef int t
        cdef Attributes a
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise DeserializationError(f"offset {at}: Hash nesting deeper than {_MAX_DEPTH} levels")
        for i in range(n):
            k = self.key("key", None)
            if self.end - self.pos >= 8:
                # type code and attribute count at once; no attributes is the common case
                memcpy(&t32, self.p + self.pos, 4)
                memcpy(&na, self.p + self.pos + 4, 4)
                if not readable_type(t32):
                    bad_type(self.pos, t32, k)
                t = <int>t32
                if na == 0:
                    self.pos += 8
                    a = None
                else:
                    self.pos += 4
                    a = self.attrs(k)
            else:
                t = self.type_code(k)
                a = self.attrs(k)
            if t == T_HASH or t == T_HASH_POINTER:
                v = self.hash(classed_hash(a))
            else:
                v = self.value(t, k)
            node = new_node(k, v, t)
            node.attrs = a
            h._d[k] = node
        self.depth -= 1
        return h

    cdef Attributes attrs(self, str owner):
        cdef uint32_t n = self.count(6, "attribute count", owner)
        if n == 0:
            return None
        cdef Attributes a = Attributes.__new__(Attributes)
        cdef uint32_t i
        cdef str k
        cdef int t
        a._d = {}
        for i in range(n):
            k = self.key("attribute key", owner)
            t = self.type_code(k)
            if t == T_HASH or t == T_HASH_POINTER:
                v = self.hash(Hash)
            else:
                v = self.value(t, k)
            a._d[k] = new_node(k, v, t)
        return a

    cdef object array(self, int t, str key):
        cdef Py_ssize_t size = item_size(t)
        cdef uint32_t n = self.count(size, "element count", key)
        cdef Py_ssize_t nbytes = n * size
        cdef Py_ssize_t at = self.pos
        if n == 0:
            return _empty(0, _DTYPES[t])
        if t == T_VECTOR_BOOL:
            for i in range(at, at + nbytes):
                if self.p[i] > 1:
                    raise DeserializationError(f"offset {i}: BOOL byte {self.p[i]} in '{key}' is not 0 or 1")
        self.pos += nbytes
        return _frombuffer(self.base, _DTYPES[t], n, at)

    cdef object value(self, int t, str key):
        cdef int8_t i8
        cdef int16_t i16
        cdef int32_t i32
        cdef int64_t i64
        cdef uint16_t ui16
        cdef uint32_t ui32
        cdef uint64_t ui64
        cdef float f, f2
        cdef double d, d2
        cdef uint32_t n, i
        cdef Py_ssize_t at = self.pos
        if t == T_BOOL:
            self.need(1, "BOOL value", key)
            ui32 = self.p[self.pos]
            if ui32 > 1:
                raise DeserializationError(f"offset {at}: BOOL byte {ui32} of '{key}' is not 0 or 1")
            self.pos += 1
            return ui32 == 1
        if t == T_INT32:
            self.need(4, "INT32 value", key)
            memcpy(&i32, self.p + self.pos, 4)
            self.pos += 4
            return i32
        if t == T_UINT64:
            self.need(8, "UINT64 value", key)
            memcpy(&ui64, self.p + self.pos, 8)
            self.pos += 8
            return ui64
        if t == T_STRING:
            n = self.u32("STRING length", key)
            if _WORD_KEYS and 0 < n <= 8 and self.end - self.pos >= 8:
                return self.short_text(n, key)
            return self.text(n, "STRING", key, False)
        if t == T_DOUBLE:
            self.need(8, "DOUBLE value", key)
            memcpy(&d, self.p + self.pos, 8)
            self.pos += 8
            return d
        if t == T_INT64:
            self.need(8, "INT64 value", key)
            memcpy(&i64, self.p + self.pos, 8)
            self.pos += 8
            return i64
        if t == T_UINT32:
            self.need(4, "UINT32 value", key)
            memcpy(&ui32, self.p + self.pos, 4)
            self.pos += 4
            return ui32
        if t == T_FLOAT:
            self.need(4, "FLOAT value", key)
            memcpy(&f, self.p + self.pos, 4)
            self.pos += 4
            return <double>f
        if t == T_INT8:
            self.need(1, "INT8 value", key)
            i8 = <int8_t>self.p[self.pos]
            self.pos += 1
            return i8
        if t == T_UINT8:
            self.need(1, "UINT8 value", key)
            self.pos += 1
            return self.p[self.pos - 1]
        if t == T_INT16:
            self.need(2, "INT16 value", key)
            memcpy(&i16, self.p + self.pos, 2)
            self.pos += 2
            return i16
        if t == T_UINT16:
            self.need(2, "UINT16 value", key)
            memcpy(&ui16, self.p + self.pos, 2)
            self.pos += 2
            return ui16
        if t == T_CHAR:
            self.need(1, "CHAR value", key)
            self.pos += 1
            return chr(self.p[self.pos - 1])
        if t == T_COMPLEX_FLOAT:
            self.need(8, "COMPLEX_FLOAT value", key)
            memcpy(&f, self.p + self.pos, 4)
            memcpy(&f2, self.p + self.pos + 4, 4)
            self.pos += 8
            return complex(<double>f, <double>f2)
        if t == T_COMPLEX_DOUBLE:
            self.need(16, "COMPLEX_DOUBLE value", key)
            memcpy(&d, self.p + self.pos, 8)
            memcpy(&d2, self.p + self.pos + 8, 8)
            self.pos += 16
            return complex(d, d2)
        if is_numeric_vector(t):
            return self.array(t, key)
        if t == T_BYTE_ARRAY:
            n = self.count(1, "length of BYTE_ARRAY", key)
            self.pos += n
            return _frombuffer(self.base, _U8, n, at + 4) if n else _empty(0, _U8)
        if t == T_VECTOR_CHAR:
            n = self.count(1, "length of VECTOR_CHAR", key)
            self.pos += n
            return PyBytes_FromStringAndSize(<const char*>(self.p + at + 4), n)
        if t == T_VECTOR_STRING:
            n = self.count(4, "element count of VECTOR_STRING", key)
            out = []
            for i in range(n):
                out.append(self.text(self.u32("item length", key), "item", key, False))
            return out
        if t == T_VECTOR_HASH or t == T_VECTOR_HASH_POINTER:
            n = self.count(4, "element count of VECTOR_HASH", key)
            return [self.hash(Hash) for i in range(n)]
        if t == T_SCHEMA:
            return self.schema(key)
        if t == T_NONE:
            if self.u32("NONE value", key) != 0:
                raise DeserializationError(f"offset {at}: NONE value of '{key}' must be a u32 zero")
            return None
        if t == T_VECTOR_NONE:
            n = self.count(4, "element count of VECTOR_NONE", key)
            for i in range(n):
                if self.u32("VECTOR_NONE item", key) != 0:
                    raise DeserializationError(f"offset {self.pos - 4}: VECTOR_NONE item of '{key}' must be zero")
            return [None] * n
        raise DeserializationError(f"offset {at}: type code {t} of '{key}' cannot be read")

    cdef Schema schema(self, str key):
        cdef Py_ssize_t at = self.pos
        cdef uint32_t n = self.count(1, "byte length of SCHEMA", key)
        if n == 0:       # C++ accepts an empty Schema this way
            return makeSchema("", Hash())
        cdef Py_ssize_t outer_end = self.end
        self.end = self.pos + n
        self.depth += 1
        try:
            name = self.key("root name of SCHEMA", key)
            h = self.hash(Hash)
            if self.pos != self.end:
                raise DeserializationError(
                    f"offset {self.pos}: SCHEMA '{key}' declares {n} bytes at offset {at} but its "
                    f"content ends {self.end - self.pos} bytes earlier")
        finally:
            self.end = outer_end
            self.depth -= 1
        return makeSchema(name, h)


cdef Hash decode(object buffer, Py_ssize_t offset, Py_ssize_t* used, Py_ssize_t* size):
    cdef Py_buffer view
    cdef _Reader r = _Reader.__new__(_Reader)
    if type(buffer) is bytes:       # immutable and its own memory: no buffer request needed
        return read_from(r, buffer, <const unsigned char*>PyBytes_AS_STRING(buffer),
                         PyBytes_GET_SIZE(buffer), offset, used, size)
    PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE)
    try:
        return read_from(r, buffer, <const unsigned char*>view.buf, view.len, offset, used, size)
    finally:
        PyBuffer_Release(&view)


cdef Hash read_from(_Reader r, object base, const unsigned char* p, Py_ssize_t n, Py_ssize_t offset,
                    Py_ssize_t* used, Py_ssize_t* size):
    if offset < 0 or offset > n:
        raise ValueError(f"offset {offset} is outside the buffer of {n} bytes")
    r.p = p
    r.pos = offset
    r.end = n
    r.base = base
    h = r.hash(Hash)
    used[0] = r.pos - offset
    size[0] = n
    return h


def decodeBinary(buffer) -> Hash:
    """Decode one Hash that fills ``buffer`` (any buffer-protocol object) exactly.

    Arrays in the result are numpy views into ``buffer`` (read-only unless it is writable).
    Raises DeserializationError on malformed input, including trailing bytes.
    """
    cdef Py_ssize_t used, size
    h = decode(buffer, 0, &used, &size)
    if used != size:
        raise DeserializationError(f"offset {used}: {size - used} trailing bytes after the Hash")
    return h


def decodeBinaryPos(buffer, Py_ssize_t offset=0) -> tuple:
    """Decode the Hash starting at ``offset``: ``(hash, bytes_consumed)``, for concatenated streams."""
    cdef Py_ssize_t used, size
    h = decode(buffer, offset, &used, &size)
    return h, used
