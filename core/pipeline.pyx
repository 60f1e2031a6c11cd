# cython: language_level=3, boundscheck=False, wraparound=False
"""The Karabo pipeline (p2p) protocol as a sans-I/O core, for both ends of a connection.

Nothing here owns a socket, a thread or an event loop: the cores take received bytes and return
*actions* (bytes to send on a connection, connections to close) and deliverable items.  The
asyncio and the threaded transports (``pykarabo.net``) only move bytes between sockets and these
objects, so every protocol rule lives here once.

Wire facts (see ``pipeline-protocol.md``): every message starts with a little-endian u32 length;
input -> output messages are single ``bin(Hash)`` control messages (``hello``, ``update``);
output -> input messages are two-part (header Hash, then a body that concatenates the items'
serializations, split by ``byteSizes``).  Readiness is a flag set by ``hello``/``update`` and
cleared by sending one message; it is never a counter.

Received bodies land in blocks of a :class:`BufferPool`; decoded arrays are views into the
block, which goes back to the pool when the last of them is garbage.
"""

cimport cython
from cpython.buffer cimport PyBUF_FORMAT, PyBUF_ND, PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_DecodeUTF8
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcmp, memcpy, strlen

from pykarabo._core.hash cimport Hash

import logging
import struct
import time
from collections import deque
from operator import index

import numpy as np

from pykarabo._core.binary import decodeBinary, encodeBinary, encodeBinaryBuffers
from pykarabo._core.types import Types
from pykarabo.errors import KaraboError

log = logging.getLogger(__name__)

__all__ = [
    "BufferPool", "END_OF_STREAM", "EndOfStream", "InputCore", "MetaData", "OutputCore",
    "ProtocolError", "SEND", "CLOSE", "DELIVER", "POLICIES", "DEFAULT_MAX_QUEUE_LENGTH",
    "carryOut", "defaultPool", "encodeControl", "helloHash", "updateHash",
]

SEND = "send"
"""Action kind: ``(SEND, conn, parts)``, write the buffers ``parts`` in order as one message."""
CLOSE = "close"
"""Action kind: ``(CLOSE, conn, reason)``, close that connection (its peer misbehaved or was replaced)."""
DELIVER = "deliver"
"""Action kind: ``(DELIVER, conn, items)``, hand ``items`` (a list of ``(data, MetaData)``, or
END_OF_STREAM) to the input of this process behind ``conn`` (see :meth:`OutputCore.setLocal`)."""

POLICIES = ("drop", "wait", "queueDrop")
"""The slowness policies Karabo 3 accepts; legacy ``queue``/``throw`` break a real output."""
DEFAULT_MAX_QUEUE_LENGTH = 2
"""Karabo's default ``maxQueueLength`` for ``queueDrop``."""
SHARED_QUEUE_LIMIT = 2056
"""Chunks the common shared queue holds under ``queueDrop`` (Karabo's per-channel chunk pool)."""

cdef object _U32 = struct.Struct("<I")
cdef object _pack_u32 = _U32.pack
cdef Py_ssize_t _SCRATCH = 1 << 16


class ProtocolError(KaraboError, ValueError):
    """A peer broke the pipeline protocol (malformed frame, oversized length, wrong type)."""


class EndOfStream:
    """The end-of-stream event an input delivers after all its outputs ended their stream."""

    def __repr__(self) -> str:
        return "END_OF_STREAM"


END_OF_STREAM = EndOfStream()


@cython.final
cdef class MetaData:
    """Per-item metadata: the data ``source`` and its timestamp (``sec``, ``frac`` attoseconds, ``tid``)."""

    cdef readonly str source
    cdef readonly object sec
    cdef readonly object frac
    cdef readonly object tid

    def __init__(self, str source="", sec=0, frac=0, tid=0):
        self.source = source
        self.sec = int(sec)
        self.frac = int(frac)
        self.tid = int(tid)

    @property
    def trainId(self) -> int:
        """The train ID of the item."""
        return self.tid

    @property
    def timestamp(self) -> tuple:
        """``(sec, frac, tid)``."""
        return (self.sec, self.frac, self.tid)

    def __eq__(self, other):
        if not isinstance(other, MetaData):
            return NotImplemented
        return (self.source, self.sec, self.frac, self.tid) == (
            (<MetaData>other).source, (<MetaData>other).sec, (<MetaData>other).frac, (<MetaData>other).tid)

    def __hash__(self):
        return hash((self.source, self.sec, self.frac, self.tid))

    def __repr__(self):
        return f"MetaData(source={self.source!r}, sec={self.sec}, frac={self.frac}, tid={self.tid})"


# ==============================================================================================
# Buffer pool


cdef Py_ssize_t size_class(Py_ssize_t n) noexcept:
    """Capacity of the block serving ``n`` bytes: powers of two up to 1 MiB, then whole MiB."""
    cdef Py_ssize_t c = 4096
    if n <= (1 << 20):
        while c < n:
            c <<= 1
        return c
    return ((n + (1 << 20) - 1) >> 20) << 20


@cython.final
cdef class BufferPool:
    """Reusable receive blocks; a block returns here when nothing references its memory any more."""

    cdef dict _free            # capacity -> list of addresses (size_t) of free blocks
    cdef readonly Py_ssize_t maxBytes
    cdef readonly Py_ssize_t freeBytes
    cdef readonly Py_ssize_t allocations
    cdef readonly Py_ssize_t reuses

    def __init__(self, Py_ssize_t maxBytes=1 << 30):
        self._free = {}
        self.maxBytes = maxBytes

    def __dealloc__(self):
        if self._free is not None:
            for lst in self._free.values():
                for addr in lst:
                    free(<void*><size_t>addr)

    cpdef _Block take(self, Py_ssize_t n):
        """A writable block of at least ``n`` bytes (its buffer exposes exactly ``n``)."""
        cdef Py_ssize_t cap = size_class(n)
        cdef list lst = self._free.get(cap)
        cdef char* p
        if lst:
            p = <char*><size_t>lst.pop()
            self.freeBytes -= cap
            self.reuses += 1
        else:
            p = <char*>malloc(cap)
            if p == NULL:
                raise MemoryError(f"cannot allocate a receive buffer of {cap} bytes")
            self.allocations += 1
        cdef _Block b = _Block.__new__(_Block)
        b.ptr = p
        b.size = n
        b.cap = cap
        b.pool = self
        return b

    cdef void give(self, char* p, Py_ssize_t cap):
        if self.freeBytes + cap > self.maxBytes:
            free(p)
            return
        lst = self._free.get(cap)
        if lst is None:
            self._free[cap] = lst = []
        lst.append(<size_t>p)
        self.freeBytes += cap


@cython.final
cdef class _Block:
    """One pooled allocation exposed through the buffer protocol (writable)."""

    cdef char* ptr
    cdef Py_ssize_t size
    cdef Py_ssize_t cap
    cdef BufferPool pool
    cdef Py_ssize_t shape[1]

    def __getbuffer__(self, Py_buffer* view, int flags):
        self.shape[0] = self.size
        view.buf = self.ptr
        view.obj = self
        view.len = self.size
        view.readonly = 0
        view.itemsize = 1
        view.format = NULL
        if flags & PyBUF_FORMAT:
            view.format = b"B"
        view.ndim = 1
        view.shape = NULL
        if flags & PyBUF_ND:
            view.shape = self.shape
        view.strides = NULL
        view.suboffsets = NULL
        view.internal = NULL

    def __releasebuffer__(self, Py_buffer* view):
        pass

    def __len__(self):
        return self.size

    def __dealloc__(self):
        if self.ptr != NULL:
            if self.pool is not None:
                self.pool.give(self.ptr, self.cap)
            else:
                free(self.ptr)
            self.ptr = NULL


cdef BufferPool _default_pool = BufferPool()


def defaultPool() -> BufferPool:
    """The process-wide pool used by inputs that are not given their own."""
    return _default_pool


# ==============================================================================================
# Framing


cdef inline uint32_t _get_u32(const unsigned char* p) noexcept:
    return <uint32_t>p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


cdef inline uint64_t _get_u64(const unsigned char* p) noexcept:
    return <uint64_t>_get_u32(p) | (<uint64_t>_get_u32(p + 4) << 32)


@cython.final
cdef class _FrameReader:
    """Splits a byte stream into messages: single-part (control) or two-part (header + body).

    Small reads go through a scratch buffer; once a body's length is known the rest of the body
    is received straight into its pooled block (``getBuffer`` hands that block out).
    """

    cdef bytearray scratch
    cdef Py_ssize_t start, end          # unparsed bytes are scratch[start:end]
    cdef bint two_part
    cdef int state                      # 0 header length, 1 header, 2 body length, 3 body
    cdef Py_ssize_t need                # length of the header/control Hash being read
    cdef object header                  # bytes of the header Hash (two-part)
    cdef _Block body
    cdef Py_ssize_t filled
    cdef bint direct                    # the last getBuffer() exposed the body block
    cdef Py_ssize_t max_header
    cdef Py_ssize_t max_body
    cdef BufferPool pool
    cdef str peer

    def __init__(self, bint two_part, Py_ssize_t max_header, Py_ssize_t max_body, BufferPool pool, str peer):
        self.scratch = bytearray(_SCRATCH)
        self.two_part = two_part
        self.max_header = max_header
        self.max_body = max_body
        self.pool = pool
        self.peer = peer

    cdef object get_buffer(self):
        if self.state == 3 and self.start == self.end and self.filled < self.body.size:
            self.direct = True
            return memoryview(self.body)[self.filled:]
        self.direct = False
        if self.start == self.end:
            self.start = self.end = 0
        elif self.end == len(self.scratch):
            if self.start > 0:
                # Compact: memmove within the same bytearray (resizing is refused while exported).
                self.scratch[0:self.end - self.start] = self.scratch[self.start:self.end]
                self.end -= self.start
                self.start = 0
            else:
                # A header larger than the scratch: continue in a bigger one (the old one may
                # still be exported by the caller's memoryview, so it is not resized).
                bigger = bytearray(2 * len(self.scratch))
                bigger[:self.end] = self.scratch[:self.end]
                self.scratch = bigger
        return memoryview(self.scratch)[self.end:]

    cdef list updated(self, Py_ssize_t n):
        """Account for ``n`` bytes written into the last buffer; returns completed messages."""
        if n < 0:
            raise ValueError("negative byte count")
        if self.direct:
            self.direct = False
            self.filled += n
            out = []
            if self.filled == self.body.size:
                out.append(self.finish())
            return out
        self.end += n
        return self.parse()

    cdef list parse(self):
        cdef list out = []
        cdef Py_ssize_t avail, take
        cdef uint32_t v
        while True:
            avail = self.end - self.start
            if self.state == 0 or self.state == 2:
                if avail < 4:
                    return out
                v = _get_u32(<const unsigned char*><char*>self.scratch + self.start)
                self.start += 4
                if self.state == 0:
                    if v > <uint32_t>self.max_header:
                        raise ProtocolError(f"{self.peer}: {'header' if self.two_part else 'message'} "
                                            f"length {v} exceeds the limit of {self.max_header} bytes")
                    self.need = v
                    self.state = 1
                else:
                    if v > <uint32_t>self.max_body:
                        raise ProtocolError(f"{self.peer}: body length {v} exceeds the limit of "
                                            f"{self.max_body} bytes")
                    self.body = self.pool.take(v)
                    self.filled = 0
                    self.state = 3
                    if v == 0:
                        out.append(self.finish())
            elif self.state == 1:
                if avail < self.need:
                    return out
                data = PyBytes_FromStringAndSize(<char*>self.scratch + self.start, self.need)
                self.start += self.need
                if self.two_part:
                    self.header = data
                    self.state = 2
                else:
                    self.state = 0
                    out.append(data)
            else:
                take = min(avail, self.body.size - self.filled)
                if take > 0:
                    memcpy(self.body.ptr + self.filled,
                           <char*>self.scratch + self.start, take)
                    self.filled += take
                    self.start += take
                if self.filled < self.body.size:
                    return out
                out.append(self.finish())

    cdef tuple finish(self):
        msg = (self.header, self.body)
        self.header = None
        self.body = None
        self.state = 0
        return msg


cdef Py_ssize_t _read_from(core, _FrameReader reader, key, recv_into) except -1:
    buf = reader.get_buffer()
    try:
        n = recv_into(buf)
    finally:
        buf = None              # a pooled block must not stay exported once filled
    if n:
        core.bufferUpdated(key, n)
    return n


def carryOut(list actions, dict conns) -> None:
    """Carry out a core's actions on the transport's connection objects, found by key in
    ``conns`` (actions for a key no longer there are moot): ``conn.send(parts)``,
    ``conn.deliver(items)`` for DELIVER, ``conn.abort()`` for CLOSE."""
    for kind, key, payload in actions:
        conn = conns.get(key)
        if conn is None:
            continue
        if kind is SEND:
            conn.send(payload)
        elif kind is DELIVER:
            conn.deliver(payload)
        else:
            conn.abort()


def encodeControl(Hash h) -> bytes:
    """A single-part message: u32 LE length, then ``bin(h)``."""
    b = encodeBinary(h)
    return _pack_u32(len(b)) + b


def helloHash(str instanceId, str dataDistribution="copy", str onSlowness="drop",
              maxQueueLength=DEFAULT_MAX_QUEUE_LENGTH, str memoryLocation="remote") -> Hash:
    """The ``hello`` an input sends after connecting: six keys in Karabo's order and types.

    ``memoryLocation`` "local" is only for an output known to live in this process: a real
    output then sends chunk ids instead of data.
    """
    if onSlowness not in POLICIES:
        raise ValueError(f"onSlowness must be one of {POLICIES}, not {onSlowness!r}")
    if dataDistribution not in ("copy", "shared"):
        raise ValueError(f"dataDistribution must be 'copy' or 'shared', not {dataDistribution!r}")
    h = Hash()
    h["reason"] = "hello"
    h["instanceId"] = instanceId
    if memoryLocation not in ("remote", "local"):
        raise ValueError(f"memoryLocation must be 'remote' or 'local', not {memoryLocation!r}")
    h["memoryLocation"] = memoryLocation
    h["dataDistribution"] = dataDistribution
    h["onSlowness"] = onSlowness
    h.setAs("maxQueueLength", int(maxQueueLength), Types.UINT32)   # anything else breaks C++
    return h


def updateHash(str instanceId) -> Hash:
    """The ``update`` (readiness) message of an input."""
    h = Hash()
    h["reason"] = "update"
    h["instanceId"] = instanceId
    return h


# ==============================================================================================
# Output side


@cython.final
cdef class _Chunk:
    """One message ready to send (to any number of inputs: its buffers are shared, not copied).

    Its wire form (``parts``) is built when a remote input needs it; inputs of this process get
    the items themselves (``local``), without serialization or sockets.
    """

    cdef readonly list parts        # None until serialized
    cdef readonly bint eos
    cdef readonly Py_ssize_t nItems
    cdef list items                 # the _Item list (data messages)
    cdef bint layout
    cdef bint handedOut             # the items' snapshots went to a local input already

    cdef list wire(self):
        if self.parts is None:
            for obj in self.items:
                if (<_Item>obj).parts is None:
                    _serialize(<_Item>obj, (<_Item>obj).data, False)
            _build_parts(self)
        return self.parts

    cdef object local(self):
        """The items as ``(data, MetaData)`` for an input of this process, or None if the
        output did not keep them (then the wire form goes, through the socket)."""
        if self.eos:
            return END_OF_STREAM
        cdef _Item it
        cdef MetaData m
        out = []
        for obj in self.items:
            it = <_Item>obj
            if it.data is None:
                return None
            m = MetaData.__new__(MetaData)
            m.source, m.sec, m.frac, m.tid = it.source, it.sec, it.frac, it.tid
            # Every local receiver gets its own tree; the arrays are shared, like the chunk
            # memory Karabo's local inputs read from.
            out.append((it.data.copy() if self.handedOut else it.data, m))
        self.handedOut = True
        return out


cdef object _copy_buffer(object part):
    """A private copy of ``part`` (for ``copyAllData``), made without holding the GIL."""
    cdef Py_buffer src
    cdef char* dst
    PyObject_GetBuffer(part, &src, PyBUF_SIMPLE)
    try:
        out = bytearray(src.len)
        dst = out
        with nogil:
            memcpy(dst, src.buf, src.len)
    finally:
        PyBuffer_Release(&src)
    return out


# The data header is written directly (not through a Hash): its layout is fixed by the protocol
# (spec section 4, byte-identical with a C++ output) and building Hash objects per item cost more
# than moving a small item.  The tests check it against ``encodeBinary`` of the same header Hash.
# Type codes and entry sizes of bin(Hash): key = u8 length + bytes; type u32; attribute count u32.
cdef enum:
    _BOOL = 0
    _INT32 = 12
    _VECTOR_INT32 = 13
    _UINT32 = 14
    _VECTOR_UINT32 = 15
    _INT64 = 16
    _UINT64 = 18
    _STRING = 28
    _VECTOR_HASH = 31
    _SMALL_MESSAGE = 1 << 15     # below this many bytes, a message goes out as one joined buffer


@cython.final
cdef class _Item:
    """One written item: its serialized parts, the BufferSet split and its metadata."""

    cdef list parts                 # body bytes, in order (one joined buffer for small items), or None
    cdef Hash data                  # a snapshot of the written Hash for local inputs, or None
    cdef list sizes                 # sizes of the BufferSet split (copy, array, copy, ...)
    cdef Py_ssize_t size
    cdef str source
    cdef uint64_t sec, frac, tid


cdef inline char* _put_u32(char* w, uint32_t v) noexcept:
    cdef int i
    for i in range(4):
        w[i] = <char>(v >> (8 * i))        # little-endian whatever the host
    return w + 4


cdef inline char* _put_u64(char* w, uint64_t v) noexcept:
    cdef int i
    for i in range(8):
        w[i] = <char>(v >> (8 * i))
    return w + 8


cdef inline char* _put_key(char* w, const char* key, uint32_t kind, uint32_t attrs) noexcept:
    cdef size_t n = strlen(key)
    w[0] = <char>n
    memcpy(w + 1, key, n)
    w = _put_u32(w + 1 + n, kind)
    return _put_u32(w, attrs)


cdef inline char* _put_attr_u64(char* w, const char* key, uint64_t v) noexcept:
    cdef size_t n = strlen(key)
    w[0] = <char>n
    memcpy(w + 1, key, n)
    w = _put_u32(w + 1 + n, _UINT64)
    return _put_u64(w, v)


cdef bytes _data_prefix(list items, bint layout, Py_ssize_t body):
    """u32 header length, bin(header), u32 body length: everything of a data message but the body."""
    cdef _Item it
    cdef Py_ssize_t n = len(items), size = 4 + 23 + 18 + 22 + 4 * n, k
    cdef const char* src
    cdef Py_ssize_t src_len
    for obj in items:
        it = <_Item>obj
        PyUnicode_AsUTF8AndSize(it.source, &src_len)      # cached by the str for the second pass
        size += 91 + src_len
        if layout:
            size += 40 + 8 * len(it.sizes)
    if layout:
        size += 30
    out = PyBytes_FromStringAndSize(<char*>NULL, size + 8)
    cdef char* w = PyBytes_AS_STRING(out)
    w = _put_u32(w, <uint32_t>size)
    w = _put_u32(w, 4 if layout else 3)
    w = _put_key(w, b"sourceInfo", _VECTOR_HASH, 0)
    w = _put_u32(w, <uint32_t>n)
    for obj in items:
        it = <_Item>obj
        src = PyUnicode_AsUTF8AndSize(it.source, &src_len)
        w = _put_u32(w, 2)
        w = _put_key(w, b"source", _STRING, 0)
        w = _put_u32(w, <uint32_t>src_len)
        memcpy(w, src, src_len)
        w = _put_key(w + src_len, b"timestamp", _BOOL, 3)
        w = _put_attr_u64(w, b"sec", it.sec)
        w = _put_attr_u64(w, b"frac", it.frac)
        w = _put_attr_u64(w, b"tid", it.tid)
        w[0] = 1
        w += 1
    if layout:
        w = _put_key(w, b"_bufferSetLayout_", _VECTOR_HASH, 0)
        w = _put_u32(w, <uint32_t>n)
        for obj in items:
            it = <_Item>obj
            w = _put_u32(w, 2)
            w = _put_key(w, b"sizes", _VECTOR_UINT32, 0)
            w = _put_u32(w, <uint32_t>len(it.sizes))
            for s in it.sizes:
                w = _put_u32(w, <uint32_t>s)
            w = _put_key(w, b"types", _VECTOR_INT32, 0)
            w = _put_u32(w, <uint32_t>len(it.sizes))
            for k in range(len(it.sizes)):
                w = _put_u32(w, <uint32_t>(k & 1))     # 0 serialized bytes, 1 array payload
    w = _put_key(w, b"nData", _UINT32, 0)
    w = _put_u32(w, <uint32_t>n)
    w = _put_key(w, b"byteSizes", _VECTOR_UINT32, 0)
    w = _put_u32(w, <uint32_t>n)
    for obj in items:
        w = _put_u32(w, <uint32_t>(<_Item>obj).size)
    _put_u32(w, <uint32_t>body)
    return out


cdef _Chunk make_chunk(list items, bint layout, bint serialize):
    """A data message of ``items`` (a list of _Item), serialized now if ``serialize``."""
    cdef _Chunk c = _Chunk()
    c.items = items
    c.layout = layout
    c.nItems = len(items)
    if serialize:
        _build_parts(c)
    return c


cdef _build_parts(_Chunk c):
    """Header + body of the data message of ``c`` (every item serialized)."""
    cdef Py_ssize_t total = 0
    cdef list body = []
    cdef list items = c.items
    cdef bint layout = c.layout
    for obj in items:
        total += (<_Item>obj).size
        for p in (<_Item>obj).parts:
            if len(p):
                body.append(p)
    if total > 0xFFFFFFFF:
        raise ValueError(f"a chunk of {total} bytes exceeds the 4 GiB limit of the wire format")
    prefix = _data_prefix(items, layout, total)
    if total < _SMALL_MESSAGE:
        # One buffer: a single plain send, no gather list to build per connection.
        body.insert(0, prefix)
        c.parts = [b"".join(body)]
    else:
        c.parts = [prefix] + body


cdef _serialize(_Item it, Hash data, bint copyAllData):
    """The wire form of one item (arrays copied if ``copyAllData``)."""
    parts = encodeBinaryBuffers(data)
    it.sizes = [len(p) for p in parts]
    it.size = sum(it.sizes)
    if it.size < _SMALL_MESSAGE:
        it.parts = [b"".join(parts)]        # a copy anyway: copyAllData costs nothing more
    elif copyAllData:
        it.parts = [p if isinstance(p, bytes) else _copy_buffer(p) for p in parts]
    else:
        it.parts = parts


cdef _Chunk make_eos(bint layout):
    cdef Hash header = Hash()
    header["endOfStream"] = True
    if layout:
        header.setAs("_bufferSetLayout_", [], Types.VECTOR_HASH)
        header.setAs("nData", 0, Types.UINT32)
    header.setAs("byteSizes", [], Types.VECTOR_UINT32)
    hb = encodeBinary(header)
    cdef _Chunk c = _Chunk()
    c.parts = [_pack_u32(len(hb)) + hb + _pack_u32(0)]
    c.eos = True
    return c


@cython.final
cdef class _Peer:
    """One connection to the output, and (after its hello) the input registered on it."""

    cdef object conn
    cdef str peer
    cdef _FrameReader reader
    cdef str instanceId
    cdef bint shared
    cdef str policy
    cdef Py_ssize_t maxQueueLength
    cdef bint ready
    cdef object queue               # deque of _Chunk waiting for this input's readiness
    cdef bytes update               # bin(update Hash) of the registered input
    cdef bint inProcess             # the transport vouches that the input lives in this process
    cdef bint local                 # ... and it asked for "local": chunks go as items (DELIVER)


def _as_int(Hash h, str key, default):
    if not h.has(key):
        return default
    v = h[key]
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise ProtocolError(f"'{key}' must be an integer, got {type(v).__name__}")
    return int(v)


def _as_str(Hash h, str key, default=None):
    if not h.has(key):
        if default is None:
            raise ProtocolError(f"'{key}' is missing")
        return default
    v = h[key]
    if not isinstance(v, str):
        raise ProtocolError(f"'{key}' must be a string, got {type(v).__name__}")
    return v


cdef class OutputCore:
    """Output side (TCP server): registers inputs, distributes chunks, applies slowness policies.

    The transport reports ``connect``/``receive``/``disconnect`` per connection id and drains
    :meth:`takeActions`.  The producer calls :meth:`write` per item and :meth:`update` per chunk;
    while :attr:`mustWait` is true a ``wait`` receiver still holds an unsent chunk and the
    producer has to block (the transport re-checks after each state change).
    """

    cdef dict _conns                 # conn -> _Peer
    cdef dict _inputs                # instanceId -> _Peer
    cdef object _sharedReady         # deque of _Peer (ready shared inputs, first-ready first)
    cdef object _sharedQueue         # deque of _Chunk (noInputShared queueDrop / wait)
    cdef list _pending               # items written since the last update()
    cdef list _actions
    cdef readonly str noInputShared
    cdef readonly str source
    cdef readonly bint bufferSetLayout
    cdef readonly Py_ssize_t maxControlSize
    cdef readonly Py_ssize_t sharedQueueLimit
    cdef readonly Py_ssize_t dropped        # chunk deliveries skipped by drop / queueDrop
    cdef object _selector             # registerSharedInputSelector's callable, or None
    cdef Py_ssize_t _nLocal           # registered inputs served in memory

    def __init__(self, str source="pykarabo:output", str noInputShared="drop", bint bufferSetLayout=True,
                 Py_ssize_t maxControlSize=1 << 20, Py_ssize_t sharedQueueLimit=SHARED_QUEUE_LIMIT):
        if noInputShared not in POLICIES:
            raise ValueError(f"noInputShared must be one of {POLICIES}, not {noInputShared!r}")
        self._conns = {}
        self._inputs = {}
        self._sharedReady = deque()
        self._sharedQueue = deque()
        self._pending = []
        self._actions = []
        self.noInputShared = noInputShared
        self.source = source
        self.bufferSetLayout = bufferSetLayout
        self.maxControlSize = maxControlSize
        self.sharedQueueLimit = sharedQueueLimit

    # ---- connections --------------------------------------------------------------------

    def connect(self, conn, str peer="?") -> None:
        """A new TCP connection ``conn`` (any hashable id) from ``peer`` (used in log messages)."""
        cdef _Peer p = _Peer()
        p.conn = conn
        p.peer = peer
        p.reader = _FrameReader(False, self.maxControlSize, 0, _default_pool, peer)
        p.queue = deque()
        self._conns[conn] = p

    def setLocal(self, conn) -> None:
        """The input on ``conn`` lives in this process: if its hello asks for memoryLocation
        "local", its chunks are handed over as items (DELIVER actions) instead of bytes."""
        (<_Peer>self._conns[conn]).inProcess = True

    def getBuffer(self, conn):
        """A writable buffer to receive the next bytes of ``conn`` into (``recv_into``)."""
        return (<_Peer>self._conns[conn]).reader.get_buffer()

    def bufferUpdated(self, conn, Py_ssize_t n) -> None:
        """``n`` bytes were written into the last buffer of ``conn``; a protocol violation queues
        a CLOSE of that connection only."""
        cdef _Peer p = self._conns.get(conn)
        if p is None:
            return
        try:
            for msg in p.reader.updated(n):
                self._control(p, msg)
                if conn not in self._conns:
                    return
        except (ProtocolError, ValueError) as e:
            log.error("output %s: closing the connection from %s: %s", self.source, p.peer, e)
            self._drop(p, f"protocol error: {e}")

    def readFrom(self, conn, recv_into) -> int:
        """One read of ``conn``: ``recv_into(buffer)`` (a socket's) fills the connection's next
        buffer, then the bytes are processed; returns the count (0: the peer closed).  The
        transport's socket errors propagate (nothing was received then)."""
        return _read_from(self, (<_Peer>self._conns[conn]).reader, conn, recv_into)

    def receive(self, conn, data) -> None:
        """Bytes received on ``conn`` (copying variant of getBuffer/bufferUpdated)."""
        cdef Py_ssize_t pos = 0, n, total = len(data)
        mv = memoryview(data)
        while pos < total and conn in self._conns:
            buf = self.getBuffer(conn)
            n = min(len(buf), total - pos)
            buf[:n] = mv[pos:pos + n]
            del buf
            pos += n
            self.bufferUpdated(conn, n)

    def disconnect(self, conn) -> None:
        """The connection ``conn`` is gone: unregister its input and free its queue."""
        cdef _Peer p = self._conns.pop(conn, None)
        if p is not None:
            self._unregister(p)

    cdef _drop(self, _Peer p, str reason):
        self._conns.pop(p.conn, None)
        self._unregister(p)
        self._actions.append((CLOSE, p.conn, reason))

    cdef _unregister(self, _Peer p):
        if p.instanceId is not None and self._inputs.get(p.instanceId) is p:
            del self._inputs[p.instanceId]
            if p.local:
                self._nLocal -= 1
            log.info("output %s: input %s (%s) left", self.source, p.instanceId, p.peer)
        try:
            self._sharedReady.remove(p)
        except ValueError:
            pass
        p.queue.clear()
        p.ready = False
        p.instanceId = None
        p.update = None
        p.local = False

    def takeActions(self) -> list:
        """The pending ``(SEND, conn, parts)`` / ``(DELIVER, conn, items)`` / ``(CLOSE, conn, reason)``
        actions, in order (see :func:`carryOut`)."""
        out = self._actions
        self._actions = []
        return out

    # ---- control messages ---------------------------------------------------------------

    cdef _control(self, _Peer p, bytes raw):
        if raw == p.update and self._inputs.get(p.instanceId) is p:
            # The input's own update, byte for byte what every update of it is: no decoding.
            self._ready(p)
            return
        try:
            h = decodeBinary(raw)
        except ValueError as e:
            raise ProtocolError(f"undecodable control message: {e}") from None
        reason = h.get("reason") if h.has("reason") else None
        if reason == "hello":
            self._hello(p, h)
        elif reason == "update":
            iid = h.get("instanceId") if h.has("instanceId") else None
            target = self._inputs.get(iid) if isinstance(iid, str) else None
            if target is None:
                log.warning("output %s: an input (%s) from %s updated, but is not registered",
                            self.source, iid, p.peer)
                return
            self._ready(<_Peer>target)
        else:
            log.warning("output %s: ignoring a control message with reason %r from %s",
                        self.source, reason, p.peer)

    cdef _hello(self, _Peer p, Hash h):
        iid = _as_str(h, "instanceId")
        dist = _as_str(h, "dataDistribution", "copy")
        policy = _as_str(h, "onSlowness", "drop")
        location = _as_str(h, "memoryLocation", "remote")
        qlen = _as_int(h, "maxQueueLength", DEFAULT_MAX_QUEUE_LENGTH)
        if policy == "queue":
            log.warning("output %s: input %s asks for legacy onSlowness 'queue', using 'queueDrop'",
                        self.source, iid)
            policy = "queueDrop"
        elif policy == "throw":
            log.warning("output %s: input %s asks for legacy onSlowness 'throw', using 'drop'",
                        self.source, iid)
            policy = "drop"
        elif policy not in POLICIES:
            raise ProtocolError(f"unknown onSlowness {policy!r}")
        if location != "remote" and not (location == "local" and p.inProcess):
            # "local" means the same process in Karabo; across processes data must be sent.
            log.debug("output %s: input %s says memoryLocation %r, sending data anyway",
                      self.source, iid, location)
        old = self._inputs.get(iid)
        if old is not None:
            if (<_Peer>old) is not p:
                log.warning("output %s: input %s reconnected from %s, closing its old connection from %s",
                            self.source, iid, p.peer, (<_Peer>old).peer)
                self._drop(<_Peer>old, f"replaced by a new connection of {iid}")
            else:
                self._unregister(p)
        elif p.instanceId is not None:
            self._unregister(p)
        p.instanceId = iid
        p.update = encodeBinary(updateHash(iid))
        p.shared = dist == "shared"
        p.policy = policy
        p.maxQueueLength = max(0, qlen)
        p.local = location == "local" and p.inProcess
        if p.local:
            self._nLocal += 1
        self._inputs[iid] = p
        log.info("output %s: input %s connected from %s (%s, %s)", self.source, iid, p.peer, dist, policy)
        self._ready(p)

    cdef _ready(self, _Peer p):
        """The input said it can take one message: send it the next queued one, or remember."""
        cdef _Chunk c
        if p.queue:
            self._send(p, p.queue.popleft())
        elif p.shared and self._sharedQueue:
            c = self._sharedQueue.popleft()
            if c.eos:
                # Every shared input gets its own end-of-stream.
                for other in self._inputs.values():
                    if (<_Peer>other).shared and other is not p:
                        self._deliver_or_queue(<_Peer>other, c)
            self._send(p, c)
        elif not p.ready:
            p.ready = True
            if p.shared:
                self._sharedReady.append(p)

    cdef _send(self, _Peer p, _Chunk c):
        p.ready = False
        if p.local:
            items = c.local()
            if items is not None:
                self._actions.append((DELIVER, p.conn, items))
                return
        self._actions.append((SEND, p.conn, c.wire()))

    cdef _deliver_or_queue(self, _Peer p, _Chunk c):
        if p.ready and not p.queue:
            if p.shared:
                try:
                    self._sharedReady.remove(p)
                except ValueError:
                    pass
            self._send(p, c)
        else:
            p.queue.append(c)

    # ---- producer -----------------------------------------------------------------------

    def write(self, Hash data, str source=None, timestamp=None, bint copyAllData=True) -> None:
        """Add one item to the next chunk; ``timestamp`` = (sec, frac, tid) or None for now/0.

        With ``copyAllData`` false the arrays of ``data`` are sent from the caller's memory,
        which must then stay unchanged until the chunk is sent.
        """
        if timestamp is None:
            t = time.time_ns()
            timestamp = (t // 1_000_000_000, (t % 1_000_000_000) * 1_000_000_000, 0)
        if source is None:
            source = self.source
        cdef _Item it = _Item()
        try:
            sec, frac, tid = timestamp
            it.sec, it.frac, it.tid = index(sec), index(frac), index(tid)    # integers, not floats
        except (OverflowError, TypeError, ValueError):
            raise ValueError(f"timestamp must be (sec, frac, tid), three integers in [0, 2**64), "
                             f"not {timestamp!r}") from None
        it.source = source
        if self._nLocal:
            # Inputs of this process take a snapshot (the caller may reuse the Hash and, with
            # copyAllData, its arrays); the wire form is made when a remote input needs it.
            it.data = data.__deepcopy__(None) if copyAllData else data.copy()
        if self._nLocal == 0 or len(self._inputs) > self._nLocal:
            _serialize(it, data, copyAllData)
        self._pending.append(it)

    def update(self) -> None:
        """Send everything written since the last call as one chunk, following the policies."""
        if not self._pending:
            return
        items = self._pending
        self._pending = []
        self._distribute(make_chunk(items, self.bufferSetLayout,
                                    self._nLocal == 0 or len(self._inputs) > self._nLocal))

    def signalEndOfStream(self) -> None:
        """Flush pending items, then send end-of-stream to every input (never dropped)."""
        self.update()
        self._distribute(make_eos(self.bufferSetLayout))

    cdef _distribute(self, _Chunk c):
        cdef _Peer p
        for obj in list(self._inputs.values()):
            p = <_Peer>obj
            if p.shared:
                continue
            if p.ready and not p.queue:
                self._send(p, c)
            elif c.eos or p.policy == "wait":
                p.queue.append(c)
            elif p.policy == "queueDrop" and len(p.queue) < p.maxQueueLength:
                p.queue.append(c)
            else:
                self.dropped += 1
        self._distribute_shared(c)

    def registerSharedInputSelector(self, selector) -> None:
        """Let ``selector(sharedInputIds) -> instanceId`` choose the shared input of each chunk.

        An unknown choice drops the chunk; a busy chosen input gets it under ``noInputShared``
        (dropped, or queued for that input).  None restores load-balancing.
        """
        self._selector = selector

    cdef _distribute_shared(self, _Chunk c):
        cdef _Peer p
        cdef bint any_shared = False
        for obj in self._inputs.values():
            if (<_Peer>obj).shared:
                any_shared = True
                break
        if not any_shared:
            return
        if self._selector is not None and not c.eos:
            self._distribute_selected(c)
            return
        if c.eos:
            if self._sharedQueue:
                self._sharedQueue.append(c)     # copied to every shared input once it is taken
            else:
                for obj in list(self._inputs.values()):
                    if (<_Peer>obj).shared:
                        self._deliver_or_queue(<_Peer>obj, c)
            return
        while self._sharedReady:
            p = self._sharedReady.popleft()
            if p.ready and not p.queue:
                self._send(p, c)
                return
        if self.noInputShared == "drop":
            self.dropped += 1
            return
        if self.noInputShared == "queueDrop" and len(self._sharedQueue) >= self.sharedQueueLimit:
            for i, q in enumerate(self._sharedQueue):
                if not (<_Chunk>q).eos:
                    del self._sharedQueue[i]
                    self.dropped += 1
                    break
        self._sharedQueue.append(c)

    cdef _distribute_selected(self, _Chunk c):
        cdef _Peer p
        ids = [(<_Peer>obj).instanceId for obj in self._inputs.values() if (<_Peer>obj).shared]
        try:
            chosen = self._selector(ids)
        except Exception:
            log.exception("output %s: the shared input selector failed, dropping a chunk", self.source)
            chosen = None
        target = self._inputs.get(chosen) if isinstance(chosen, str) else None
        if target is None or not (<_Peer>target).shared:
            self.dropped += 1
            return
        p = <_Peer>target
        if p.ready and not p.queue:
            try:
                self._sharedReady.remove(p)
            except ValueError:
                pass
            self._send(p, c)
        elif self.noInputShared == "wait" or (self.noInputShared == "queueDrop"
                                              and len(p.queue) < p.maxQueueLength):
            p.queue.append(c)
        else:
            self.dropped += 1

    @property
    def mustWait(self) -> bool:
        """True while a ``wait`` receiver (copy input, or the shared group) holds an unsent chunk."""
        cdef _Peer p
        for obj in self._inputs.values():
            p = <_Peer>obj
            if p.queue and (p.policy == "wait" if not p.shared else self.noInputShared == "wait"):
                return True
        if self.noInputShared == "wait" and self._sharedQueue:
            for obj in self._inputs.values():
                if (<_Peer>obj).shared:
                    return True
        return False

    @property
    def pendingItems(self) -> int:
        """Items written but not yet grouped by :meth:`update`."""
        return len(self._pending)

    def inputs(self) -> list:
        """``(instanceId, dataDistribution, onSlowness)`` of every registered input."""
        cdef _Peer p
        out = []
        for obj in self._inputs.values():
            p = <_Peer>obj
            out.append((p.instanceId, "shared" if p.shared else "copy", p.policy))
        return out

    def queueLengths(self) -> dict:
        """Chunks queued per input id, and under ``None`` in the common shared queue."""
        out = {(<_Peer>p).instanceId: len((<_Peer>p).queue) for p in self._inputs.values()}
        out[None] = len(self._sharedQueue)
        return out


# ==============================================================================================
# Input side


# Reading the data header: the headers real outputs send (C++: sourceInfo, _bufferSetLayout_,
# nData, byteSizes; MDL: nData, byteSizes, sourceInfo; end-of-stream) are read straight from the
# bytes.  Anything else - other keys, attributes, types or widths - returns None and is read with
# the generic decoder, so both paths accept the same headers; the tests compare them.


@cython.final
cdef class _Cursor:
    """Bounds-checked reading of a bin(Hash); ``ok`` turns false at the first unexpected byte."""

    cdef const unsigned char* p
    cdef const unsigned char* end
    cdef bint ok

    cdef inline bint need(self, Py_ssize_t n) noexcept:
        if self.ok and self.end - self.p >= n:
            return True
        self.ok = False
        return False

    cdef inline uint32_t u32(self) noexcept:
        if not self.need(4):
            return 0
        cdef uint32_t v = _get_u32(self.p)
        self.p += 4
        return v

    cdef inline bint key(self, const char* expected) noexcept:
        """True (and consumed) if the next key is ``expected``."""
        cdef size_t n = strlen(expected)
        if self.need(1 + n) and self.p[0] == n and memcmp(self.p + 1, expected, n) == 0:
            self.p += 1 + n
            return True
        return False

    cdef inline bint entry(self, const char* key, uint32_t kind) noexcept:
        """True (and consumed) if the next entry is ``key`` of type ``kind`` without attributes.

        Another key leaves the cursor where it is; this key with another type or with
        attributes is unexpected.
        """
        if not self.key(key):
            return False
        if self.u32() == kind and self.u32() == 0:
            return True
        self.ok = False
        return False

    cdef inline bint skip_u32_vector(self) noexcept:
        cdef uint32_t n = self.u32()
        if self.need(4 * <Py_ssize_t>n):
            self.p += 4 * <Py_ssize_t>n
            return True
        return False


cdef object _read_int_attr(_Cursor c):
    """An integer attribute value of the widths real peers use, or None."""
    cdef uint32_t kind = c.u32()
    cdef const unsigned char* p = c.p
    if kind == _UINT64 and c.need(8):
        c.p += 8
        return _get_u64(p)
    if kind == _INT64 and c.need(8):
        c.p += 8
        return <int64_t>_get_u64(p)
    if kind == _UINT32 and c.need(4):
        c.p += 4
        return _get_u32(p)
    if kind == _INT32 and c.need(4):
        c.p += 4
        return <int32_t>_get_u32(p)
    c.ok = False
    return None


cdef MetaData _read_metadata(_Cursor c):
    """One ``sourceInfo`` Hash: ``source`` STRING and ``timestamp`` BOOL with sec/frac/tid."""
    cdef MetaData m = MetaData.__new__(MetaData)
    m.source = ""
    m.sec = m.frac = m.tid = 0
    cdef uint32_t entries = c.u32(), nattrs, i, j, n
    for i in range(entries):
        if c.entry(b"source", _STRING):
            n = c.u32()
            if not c.need(n):
                return m
            try:
                m.source = PyUnicode_DecodeUTF8(<const char*>c.p, n, NULL)
            except UnicodeDecodeError:
                c.ok = False
                return m
            c.p += n
        elif c.key(b"timestamp"):
            if c.u32() != _BOOL:
                c.ok = False
                return m
            nattrs = c.u32()
            for j in range(nattrs):
                if c.key(b"sec"):
                    m.sec = _read_int_attr(c)
                elif c.key(b"frac"):
                    m.frac = _read_int_attr(c)
                elif c.key(b"tid"):
                    m.tid = _read_int_attr(c)
                else:
                    c.ok = False
                if not c.ok:
                    return m
            if not c.need(1):
                return m
            c.p += 1
        else:
            c.ok = False
        if not c.ok:
            return m
    return m


cdef tuple _read_header(bytes header):
    """``(endOfStream, byteSizes, metadata)`` of a header in the usual layouts, or None."""
    cdef _Cursor c = _Cursor.__new__(_Cursor)
    c.p = <const unsigned char*>PyBytes_AS_STRING(header)
    c.end = c.p + len(header)
    c.ok = True
    cdef uint32_t entries = c.u32(), i, j, k, n, nlay
    cdef bint eos = False
    sizes = None
    metas = []
    for i in range(entries):
        if c.entry(b"sourceInfo", _VECTOR_HASH):
            n = c.u32()
            for j in range(n):
                metas.append(_read_metadata(c))
                if not c.ok:
                    return None
        elif c.entry(b"byteSizes", _VECTOR_UINT32):
            n = c.u32()
            if not c.need(4 * <Py_ssize_t>n):
                return None
            sizes = [_get_u32(c.p + 4 * k) for k in range(n)]
            c.p += 4 * <Py_ssize_t>n
        elif c.entry(b"nData", _UINT32):
            c.u32()
        elif c.entry(b"endOfStream", _BOOL):
            if not c.need(1):
                return None
            c.p += 1
            eos = True
        elif c.entry(b"_bufferSetLayout_", _VECTOR_HASH):
            n = c.u32()
            for j in range(n):
                nlay = c.u32()
                for k in range(nlay):
                    if not ((c.entry(b"sizes", _VECTOR_UINT32) or c.entry(b"types", _VECTOR_INT32))
                            and c.skip_u32_vector()):
                        return None
        else:
            return None
        if not c.ok:
            return None
    if not c.ok or c.p != c.end or (sizes is None and not eos):
        return None
    return eos, sizes, metas


cdef list split_message(bytes header_bytes, _Block body, str peer):
    """Items of one data message, or None for end-of-stream, checking every size against the body."""
    cdef tuple fast = _read_header(header_bytes)
    if fast is not None:
        if fast[0]:
            return None
        return _items(fast[1], fast[2], body, peer)
    try:
        h = decodeBinary(header_bytes)
    except ValueError as e:
        raise ProtocolError(f"{peer}: undecodable message header: {e}") from None
    if h.has("endOfStream"):
        return None
    cdef Py_ssize_t total = body.size
    sizes = None
    if h.has("byteSizes"):
        sizes = h["byteSizes"]
    elif h.has("_bufferSetLayout_"):
        try:
            sizes = [sum([int(s) for s in lay["sizes"]]) for lay in h["_bufferSetLayout_"]]
        except (KeyError, TypeError, ValueError) as e:
            raise ProtocolError(f"{peer}: malformed _bufferSetLayout_: {e}") from None
    elif total > 0:
        log.warning("%s: data header without byteSizes, taking the body as one item", peer)
        sizes = [total]
    else:
        sizes = []
    if isinstance(sizes, np.ndarray):
        if sizes.dtype.kind not in "iu" or sizes.ndim != 1:
            raise ProtocolError(f"{peer}: byteSizes has element type {sizes.dtype}")
        sizes = sizes.tolist()
    elif not isinstance(sizes, list) or not all([type(s) is int for s in sizes]):
        raise ProtocolError(f"{peer}: byteSizes is not a vector of integers")
    infos = h["sourceInfo"] if h.has("sourceInfo") else []
    if not isinstance(infos, list):
        raise ProtocolError(f"{peer}: sourceInfo is not a vector of Hash")
    return _items(sizes, [_metadata(info) for info in infos], body, peer)


cdef list _items(list sizes, list metas, _Block body, str peer):
    """Decode the items of ``body`` split by ``sizes`` (checked), paired with their metadata."""
    cdef object total = 0
    for s in sizes:
        if s <= 0:
            raise ProtocolError(f"{peer}: byteSizes {sizes[:8]} contains a non-positive size")
        total += s
    if total != body.size:
        raise ProtocolError(f"{peer}: byteSizes add up to {total}, but the body has {body.size} bytes")
    cdef list items = []
    cdef Py_ssize_t off = 0, i, n, nmeta = len(metas)
    mv = memoryview(body)
    for i in range(len(sizes)):
        n = sizes[i]
        try:
            data = decodeBinary(mv[off:off + n] if n != body.size else mv)
        except ValueError as e:
            raise ProtocolError(f"{peer}: item {i} of a message: {e}") from None
        off += n
        items.append((data, metas[i] if i < nmeta else _metadata(None)))
    return items


cdef MetaData _metadata(info):
    cdef MetaData m = MetaData.__new__(MetaData)
    m.source = ""
    m.sec = m.frac = m.tid = 0
    if not isinstance(info, Hash):
        return m
    src = info.get("source") if info.has("source") else ""
    m.source = src if isinstance(src, str) else str(src)
    if info.has("timestamp"):
        attrs = info.getAttributes("timestamp")
        for name in ("sec", "frac", "tid"):
            if name in attrs:
                v = attrs[name]
                if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
                    setattr_meta(m, name, int(v))
    return m


cdef setattr_meta(MetaData m, str name, v):
    if name == "sec":
        m.sec = v
    elif name == "frac":
        m.frac = v
    else:
        m.tid = v


@cython.final
cdef class _Link:
    """One connection of an input to one output."""

    cdef object key
    cdef str peer
    cdef _FrameReader reader
    cdef bint eos
    cdef bint owed                 # an update is due as soon as the delivery queue has room


cdef class InputCore:
    """Input side (TCP client to one or more outputs): parses messages, grants readiness, merges.

    Deliveries are queued as whole messages; an ``update`` is granted to a connection as long as
    fewer than ``queueCapacity`` messages wait for the consumer, otherwise it is owed and sent
    when the consumer catches up (that back-pressure lets the output apply its policies).  One
    END_OF_STREAM is delivered once every connected output has ended its stream.
    """

    cdef readonly str instanceId
    cdef readonly str dataDistribution
    cdef readonly str onSlowness
    cdef readonly Py_ssize_t maxQueueLength
    cdef readonly Py_ssize_t queueCapacity
    cdef readonly Py_ssize_t maxHeaderSize
    cdef readonly Py_ssize_t maxBodySize
    cdef BufferPool pool
    cdef dict _links
    cdef object _queue              # deque of [items, index] or END_OF_STREAM
    cdef list _actions
    cdef bytes _update
    cdef bytes _hello
    cdef bytes _helloLocal

    def __init__(self, str instanceId, str dataDistribution="copy", str onSlowness="drop",
                 Py_ssize_t maxQueueLength=DEFAULT_MAX_QUEUE_LENGTH, Py_ssize_t queueCapacity=2,
                 Py_ssize_t maxHeaderSize=16 << 20, Py_ssize_t maxBodySize=0xFFFFFFFF,
                 BufferPool pool=None):
        self._update = encodeControl(updateHash(instanceId))
        self._hello = encodeControl(helloHash(instanceId, dataDistribution, onSlowness, maxQueueLength))
        self.instanceId = instanceId
        self.dataDistribution = dataDistribution
        self.onSlowness = onSlowness
        self.maxQueueLength = maxQueueLength
        self.queueCapacity = max(1, queueCapacity)
        self.maxHeaderSize = maxHeaderSize
        self.maxBodySize = maxBodySize
        self.pool = pool if pool is not None else _default_pool
        self._links = {}
        self._queue = deque()
        self._actions = []

    def connect(self, key, str peer="?", bint local=False) -> None:
        """Connection ``key`` to an output is established: queues its hello.

        ``local``: the output lives in this process and hands chunks over with :meth:`deliver`
        (the hello says memoryLocation "local"; never say so to an output elsewhere).
        """
        cdef _Link l = _Link()
        l.key = key
        l.peer = peer
        l.reader = _FrameReader(True, self.maxHeaderSize, self.maxBodySize, self.pool, peer)
        self._links[key] = l
        if local and self._helloLocal is None:
            self._helloLocal = encodeControl(helloHash(self.instanceId, self.dataDistribution, self.onSlowness,
                                                       self.maxQueueLength, "local"))
        self._actions.append((SEND, key, [self._helloLocal if local else self._hello]))

    def deliver(self, key, items) -> None:
        """A message handed over in memory by an output of this process on ``key``: a list of
        ``(data, MetaData)``, or END_OF_STREAM."""
        cdef _Link l = self._links.get(key)
        if l is not None:
            self._accept(l, None if items is END_OF_STREAM else items)

    def disconnect(self, key) -> None:
        """Connection ``key`` is gone; may complete an end-of-stream the others already sent."""
        if self._links.pop(key, None) is None:
            return
        self._check_eos()

    def getBuffer(self, key):
        """A writable buffer to receive the next bytes of ``key`` into (``recv_into``)."""
        return (<_Link>self._links[key]).reader.get_buffer()

    def bufferUpdated(self, key, Py_ssize_t n) -> None:
        """``n`` bytes were written into the last buffer of ``key``; malformed data queues CLOSE."""
        cdef _Link l = self._links.get(key)
        if l is None:
            return
        try:
            for header, body in l.reader.updated(n):
                self._message(l, header, body)
        except ProtocolError as e:
            log.error("input %s: closing the connection to %s: %s", self.instanceId, l.peer, e)
            self._links.pop(key, None)
            self._actions.append((CLOSE, key, str(e)))
            self._check_eos()

    def readFrom(self, key, recv_into) -> int:
        """One read of ``key``: ``recv_into(buffer)`` (a socket's) fills the connection's next
        buffer (a pooled body block once a body streams in), then the bytes are processed;
        returns the count (0: the peer closed).  The transport's socket errors propagate."""
        return _read_from(self, (<_Link>self._links[key]).reader, key, recv_into)

    def receive(self, key, data) -> None:
        """Bytes received on ``key`` (copying variant of getBuffer/bufferUpdated)."""
        cdef Py_ssize_t pos = 0, n, total = len(data)
        mv = memoryview(data)
        while pos < total and key in self._links:
            buf = self.getBuffer(key)
            n = min(len(buf), total - pos)
            buf[:n] = mv[pos:pos + n]
            del buf
            pos += n
            self.bufferUpdated(key, n)

    cdef _message(self, _Link l, bytes header, _Block body):
        self._accept(l, split_message(header, body, l.peer))

    cdef _accept(self, _Link l, list items):
        """Queue the items of one message (None: end-of-stream) and grant the next one."""
        if items is None:
            l.eos = True
            self._check_eos()
        elif items:
            self._queue.append([items, 0])
        if len(self._queue) < self.queueCapacity:
            self._actions.append((SEND, l.key, [self._update]))
        else:
            l.owed = True

    cdef _check_eos(self):
        if not self._links:
            return
        for l in self._links.values():
            if not (<_Link>l).eos:
                return
        for l in self._links.values():
            (<_Link>l).eos = False
        self._queue.append(END_OF_STREAM)

    def take(self):
        """The next ``(data, MetaData)`` or END_OF_STREAM, or None when nothing is queued."""
        if not self._queue:
            return None
        head = self._queue[0]
        if head is END_OF_STREAM:
            self._queue.popleft()
            self._grant()
            return END_OF_STREAM
        items, i = head
        item = items[i]
        items[i] = None               # the consumer alone keeps the data (and the pooled block)
        if i + 1 == len(items):
            self._queue.popleft()
            self._grant()
        else:
            head[1] = i + 1
        return item

    def takeMessage(self):
        """The remaining items of the next message as a list of ``(data, MetaData)``, END_OF_STREAM,
        or None when nothing is queued (for handlers that take a message at a time)."""
        if not self._queue:
            return None
        head = self._queue.popleft()
        self._grant()
        if head is END_OF_STREAM:
            return END_OF_STREAM
        items, i = head
        return items[i:] if i else items

    cdef _grant(self):
        if len(self._queue) >= self.queueCapacity:
            return
        for l in self._links.values():
            if (<_Link>l).owed:
                (<_Link>l).owed = False
                self._actions.append((SEND, (<_Link>l).key, [self._update]))

    def takeActions(self) -> list:
        """The pending ``(SEND, key, parts)`` / ``(CLOSE, key, reason)`` actions, in order."""
        out = self._actions
        self._actions = []
        return out

    @property
    def hasActions(self) -> bool:
        """True when :meth:`takeActions` has something (after :meth:`take`: an owed update)."""
        return len(self._actions) > 0

    @property
    def queuedMessages(self) -> int:
        """Messages (or end-of-stream events) waiting for the consumer."""
        return len(self._queue)

    def connections(self) -> list:
        """Keys of the connections currently established."""
        return list(self._links)
