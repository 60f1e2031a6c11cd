# cython: language_level=3, boundscheck=False, wraparound=False
"""Zero-copy multipart sends on a pyzmq socket without pyzmq's garbage-collector thread.

``socket.send_multipart(frames, copy=False)`` hands each large frame to ZeroMQ together with a
callback that ZeroMQ's I/O thread calls once the frame is sent.  pyzmq's callback sends a message
to a Python thread of its own, which then drops the frame's reference: for every large frame a
thread wakes up and takes the GIL.  On a bridge server that was 0.2 ms of CPU per AGIPD module
train, 4 % of the CPU that serving the train takes (the rest is mostly the kernel's copy).

Here the callback only sets a flag.  The sender keeps each large frame's buffer (and so its
owner) until ZeroMQ has set that flag, and lets go of finished ones at its next send or on
``reclaim()``.  Small frames (below ``copy_threshold``, as pyzmq does) are copied.

libzmq is called through the functions pyzmq's own extension is linked with, looked up at import
(``AVAILABLE`` is False where they cannot be, e.g. with pyzmq's CFFI backend; callers then use
pyzmq's ``send_multipart``).  The sender touches the socket only inside ``send_multipart``, from
the caller's thread: like any pyzmq socket, one thread at a time.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.exc cimport PyErr_CheckSignals
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.errno cimport EAGAIN, EINTR, ENOTSOCK
from libc.stdint cimport uintptr_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

import ctypes

import zmq

__all__ = ["AVAILABLE", "ZeroCopySender"]

cdef extern from *:
    """
    /* zmq.h's message type: 64 opaque bytes, pointer-aligned (libzmq >= 4.1). */
    typedef struct { unsigned char bytes[64] __attribute__((aligned(sizeof(void *)))); } pk_zmq_msg_t;

    /* Called by ZeroMQ's I/O thread (or by zmq_msg_close) when it is done with a frame. */
    static void pk_frame_released(void *data, void *hint) {
        (void)data;
        __atomic_store_n((int *)hint, 1, __ATOMIC_RELEASE);
    }
    static int pk_is_released(int *flag) { return __atomic_load_n(flag, __ATOMIC_ACQUIRE); }
    """
    ctypedef struct pk_zmq_msg_t:
        pass
    void pk_frame_released(void *data, void *hint) noexcept nogil
    int pk_is_released(int *flag) noexcept nogil

cdef enum:
    ZMQ_DONTWAIT = 1      # zmq.h's send flags, part of its ABI
    ZMQ_SNDMORE = 2

ctypedef int (*init_size_t)(pk_zmq_msg_t *msg, size_t size) noexcept nogil
ctypedef void (*free_fn_t)(void *data, void *hint) noexcept nogil
ctypedef int (*init_data_t)(pk_zmq_msg_t *msg, void *data, size_t size, free_fn_t ffn, void *hint) noexcept nogil
ctypedef void *(*data_t)(pk_zmq_msg_t *msg) noexcept nogil
ctypedef int (*send_t)(pk_zmq_msg_t *msg, void *socket, int flags) noexcept nogil
ctypedef int (*close_t)(pk_zmq_msg_t *msg) noexcept nogil
ctypedef int (*errno_t)() noexcept nogil

cdef init_size_t _init_size = NULL
cdef init_data_t _init_data = NULL
cdef data_t _data = NULL
cdef send_t _send = NULL
cdef close_t _close = NULL
cdef errno_t _errno = NULL


def _resolve() -> bool:
    """Find libzmq's functions through pyzmq's Cython extension, which is linked with it."""
    global _init_size, _init_data, _data, _send, _close, _errno
    try:
        from zmq.backend.cython import _zmq
        lib = ctypes.CDLL(_zmq.__file__)

        def address(name: str) -> int:
            return ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
        addresses = [address(name) for name in ("zmq_msg_init_size", "zmq_msg_init_data", "zmq_msg_data",
                                                "zmq_msg_send", "zmq_msg_close", "zmq_errno")]
    except (ImportError, OSError, AttributeError):
        return False
    _init_size = <init_size_t><uintptr_t>addresses[0]
    _init_data = <init_data_t><uintptr_t>addresses[1]
    _data = <data_t><uintptr_t>addresses[2]
    _send = <send_t><uintptr_t>addresses[3]
    _close = <close_t><uintptr_t>addresses[4]
    _errno = <errno_t><uintptr_t>addresses[5]
    return True


# Frames of senders that were dropped while ZeroMQ still held them; any sender's reclaim() tidies up.
_orphans: list = []

AVAILABLE: bool = zmq.zmq_version_info() >= (4, 1) and _resolve()
"""Whether ``ZeroCopySender`` can be used with the libzmq pyzmq runs on."""


cdef class _Held:
    """A frame's buffer that ZeroMQ may still read, and the flag its I/O thread sets when done."""
    cdef Py_buffer view
    cdef int *flag

    cdef bint release(self):
        """Let go of the buffer if ZeroMQ is done with it; True then."""
        if self.flag == NULL:
            return True
        if not pk_is_released(self.flag):
            return False
        PyBuffer_Release(&self.view)
        free(self.flag)
        self.flag = NULL
        return True

    def __dealloc__(self):
        # A frame ZeroMQ still holds only gets here at interpreter exit (a dropped sender hands its
        # frames to _orphans): the buffer and the flag are then left allocated on purpose, since
        # the I/O thread may still read the one and write the other.
        self.release()


cdef class ZeroCopySender:
    """Send multipart messages on ``socket`` like ``send_multipart(frames, copy=False)``.

    Frames are anything with a contiguous buffer (bytes, memoryview, numpy array).  Errors are
    pyzmq's: ``zmq.Again`` when a ``zmq.NOBLOCK`` send cannot go now (nothing was sent), else
    ``zmq.ZMQError``.
    """
    cdef object socket
    cdef readonly Py_ssize_t copy_threshold
    cdef list _held

    def __init__(self, socket: zmq.Socket, copy_threshold: int = zmq.COPY_THRESHOLD) -> None:
        if not AVAILABLE:
            raise RuntimeError("libzmq's message functions could not be found through pyzmq")
        self.socket = socket
        self.copy_threshold = copy_threshold
        self._held = []

    @property
    def held(self) -> int:
        """Frames ZeroMQ has not finished with (their buffers are kept alive); tidies like ``reclaim``."""
        self.reclaim()
        return len(self._held)

    def reclaim(self) -> None:
        """Let go of the buffers of the frames ZeroMQ has finished with (not while another thread sends)."""
        cdef Py_ssize_t n = len(_orphans)
        if self._held:
            self._held = [held for held in self._held if not (<_Held>held).release()]
        if n:
            # In place, and only the first n: a sender dropped meanwhile (garbage collection can
            # run in the middle of this) appends its frames behind them.
            kept = [held for held in _orphans[:n] if not (<_Held>held).release()]
            del _orphans[:n]
            _orphans[:0] = kept

    def __dealloc__(self):
        if self._held:
            _orphans.extend(self._held)

    def send_multipart(self, frames, int flags=0) -> None:
        """Send ``frames`` as one message; ``flags`` as for pyzmq (``zmq.NOBLOCK``).

        Every frame's buffer is taken before the first is sent, so a frame that has none
        (``TypeError``, or ``ValueError`` from numpy for a non-contiguous array) sends nothing.
        """
        cdef list parts = frames if type(frames) is list else list(frames)
        cdef Py_ssize_t n = len(parts), i, taken = 0, consumed = 0
        cdef Py_buffer *views
        cdef int rc
        cdef void *handle
        if n == 0:
            raise ValueError("a message needs at least one frame")
        if self.socket.closed:
            raise zmq.ZMQError(ENOTSOCK)
        handle = <void *><uintptr_t>self.socket.underlying
        self.reclaim()
        views = <Py_buffer *>PyMem_Malloc(n * sizeof(Py_buffer))
        if views == NULL:
            raise MemoryError()
        try:
            for i in range(n):
                PyObject_GetBuffer(parts[i], &views[i], PyBUF_SIMPLE)
                taken += 1
            for i in range(n):
                consumed += 1         # the view is _send_view's from here on
                rc = self._send_view(handle, &views[i], flags | (ZMQ_SNDMORE if i < n - 1 else 0))
                if rc == 0:
                    continue
                # ZeroMQ accepts all frames of a message once it took the first, so only the
                # first can meet a full queue: then nothing was sent.
                if rc == EAGAIN and i == 0:
                    raise zmq.Again(rc)
                raise zmq.ZMQError(rc)
        finally:
            for i in range(consumed, taken):
                PyBuffer_Release(&views[i])
            PyMem_Free(views)

    cdef int _send_view(self, void *handle, Py_buffer *view, int flags) except -1:
        """Send one frame, taking over ``view``; 0, or the errno of a failed send (then nothing is held)."""
        cdef pk_zmq_msg_t msg
        cdef _Held held
        cdef int rc, err
        if view.len < self.copy_threshold:
            rc = _init_size(&msg, <size_t>view.len)
            if rc == 0 and view.len:
                memcpy(_data(&msg), view.buf, <size_t>view.len)
            PyBuffer_Release(view)
            if rc != 0:
                raise MemoryError("libzmq could not allocate a message")
        else:
            held = _Held.__new__(_Held)
            held.flag = <int *>malloc(sizeof(int))
            if held.flag == NULL:
                PyBuffer_Release(view)
                raise MemoryError()
            held.flag[0] = 0
            held.view = view[0]       # the buffer belongs to ``held`` from here on
            rc = _init_data(&msg, held.view.buf, <size_t>held.view.len, pk_frame_released, held.flag)
            if rc != 0:
                held.flag[0] = 1      # never given to ZeroMQ: released when ``held`` goes
                raise MemoryError("libzmq could not create a message")
            self._held.append(held)
        while True:
            if flags & ZMQ_DONTWAIT:
                rc = _send(&msg, handle, flags)
                err = _errno() if rc < 0 else 0
            else:
                with nogil:
                    rc = _send(&msg, handle, flags)
                    err = _errno() if rc < 0 else 0
            if rc >= 0:
                return 0
            if err != EINTR:
                _close(&msg)          # a held frame's flag is set by this
                return err
            try:
                PyErr_CheckSignals()
            except BaseException:
                _close(&msg)
                raise
