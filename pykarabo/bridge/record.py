"""Record Karabo Bridge messages exactly as received and replay them byte for byte.

On-disk format: a directory holding ``messages.kbr``, a flat binary file (all integers
little-endian)::

    magic        8 bytes   b"KBRREC01"
    then per message:
      time       float64   Unix time the message was received (seconds)
      nframes    uint32    number of ZeroMQ frames
      per frame:
        length   uint64    frame size in bytes
        bytes    length    the frame, unchanged

Frames are not decoded when recording, so any protocol version (and even malformed messages)
round-trips.  Replay memory-maps the file and sends views of it (no copies).
"""

from __future__ import annotations

import logging
import mmap
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import zmq

__all__ = ["CLIENT_SOCKETS", "FILE_NAME", "MAGIC", "Recorder", "connect", "read_messages", "receive_raw", "record"]

log = logging.getLogger(__name__)

MAGIC = b"KBRREC01"
FILE_NAME = "messages.kbr"
_MESSAGE = struct.Struct("<dI")
_FRAME = struct.Struct("<Q")

CLIENT_SOCKETS = {"REP": zmq.REQ, "PUB": zmq.SUB, "PUSH": zmq.PULL}


class Recorder:
    """Append raw multipart messages to ``DIR/messages.kbr``."""

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / FILE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")
        self._file.write(MAGIC)
        self.messages = 0
        self.bytes = 0

    def write(self, frames: list, received: float | None = None) -> None:
        """Store one message (frames as bytes, memoryviews or ``zmq.Frame``)."""
        views = [f.buffer if isinstance(f, zmq.Frame) else memoryview(f) for f in frames]
        self._file.write(_MESSAGE.pack(time.time() if received is None else received, len(views)))
        for view in views:
            self._file.write(_FRAME.pack(view.nbytes))
            self._file.write(view)
            self.bytes += view.nbytes
        self.messages += 1

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_messages(directory: str | Path) -> Iterator[tuple[float, list[memoryview]]]:
    """Yield ``(receive time, frames)`` of a recording; frames are views of a memory map."""
    path = Path(directory) / FILE_NAME
    with open(path, "rb") as f:
        size = path.stat().st_size
        if size < len(MAGIC) or f.read(len(MAGIC)) != MAGIC:
            raise ValueError(f"{path} is not a bridge recording (bad magic)")
        if size == len(MAGIC):
            return
        buf = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
    pos = len(MAGIC)
    while pos < len(buf):
        if pos + _MESSAGE.size > len(buf):
            raise ValueError(f"{path}: truncated message header at byte {pos}")
        received, nframes = _MESSAGE.unpack_from(buf, pos)
        pos += _MESSAGE.size
        frames = []
        for _ in range(nframes):
            if pos + _FRAME.size > len(buf):
                raise ValueError(f"{path}: truncated frame header at byte {pos}")
            (length,) = _FRAME.unpack_from(buf, pos)
            pos += _FRAME.size
            if pos + length > len(buf):
                raise ValueError(f"{path}: truncated frame at byte {pos}")
            frames.append(buf[pos:pos + length])
            pos += length
        yield received, frames


def connect(endpoint: str, sock: str = "REP", context: zmq.Context | None = None) -> zmq.Socket:
    """A raw client socket (REQ, SUB or PULL for a REP, PUB or PUSH server) connected to ``endpoint``."""
    socket = (context or zmq.Context.instance()).socket(CLIENT_SOCKETS[sock])
    socket.linger = 0
    if sock == "PUB":
        socket.subscribe(b"")
    socket.connect(endpoint)
    return socket


def receive_raw(socket: zmq.Socket, timeout: float | None) -> list[zmq.Frame] | None:
    """One raw message (sending ``next`` first on REQ); None after ``timeout`` s of silence."""
    if socket.type == zmq.REQ:
        socket.send(b"next")
    if not socket.poll(None if timeout is None else int(timeout * 1000), zmq.POLLIN):
        return None
    return socket.recv_multipart(copy=False)


def record(endpoint: str, directory: str | Path, sock: str = "REP", ntrains: int | None = None,
           timeout: float | None = None, context: zmq.Context | None = None) -> int:
    """Receive raw messages from a bridge server (``sock`` names the server's socket) into ``directory``.

    Stops after ``ntrains`` messages or when nothing arrived for ``timeout`` s; returns the count.
    """
    socket = connect(endpoint, sock, context)
    try:
        with Recorder(directory) as recorder:
            while ntrains is None or recorder.messages < ntrains:
                frames = receive_raw(socket, timeout)
                if frames is None:
                    log.info("no message from %s within %s s, stopping", endpoint, timeout)
                    break
                recorder.write(frames)
            return recorder.messages
    finally:
        socket.close(linger=0)
