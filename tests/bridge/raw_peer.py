"""A ZeroMQ PULL peer on a plain TCP socket, for tests that need a peer ZeroMQ does not read for.

Running this module (``python -m tests.bridge.raw_peer ROUNDS MAX_DELAY``) is the vanishing-peer
check: each round a server sends a train to a peer that does not read and so is left in the
middle of the message; the peer then leaves (TCP reset) within ``MAX_DELAY`` s of ``stop()``.
"""

from __future__ import annotations

import random
import socket
import struct
import sys
import threading
import time

import numpy as np

from pykarabo.bridge import BridgeServer

_GREETING = b"\xff" + bytes(8) + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\0") + b"\0" + bytes(31)
_READY = b"\x05READY" + b"\x0bSocket-Type" + struct.pack(">I", 4) + b"PULL"


class RawPullPeer:
    """ZMTP 3.0 with the NULL mechanism, a small receive buffer, and reading only when told."""

    def __init__(self, endpoint: str) -> None:
        host, port = endpoint.rsplit("/", 1)[1].rsplit(":", 1)
        self.socket = socket.socket()
        # A small buffer stalls the sender early, in the middle of a large message.
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.socket.connect((host, int(port)))
        self.socket.sendall(_GREETING + bytes([0x04, len(_READY)]) + _READY)

    def read_messages(self, timeout: float) -> list[list[bytes]]:
        """Everything the server sends until it closes the connection, as multipart messages."""
        self.socket.settimeout(timeout)
        chunks = []
        while chunk := self.socket.recv(1 << 20):
            chunks.append(chunk)
        return _parse(b"".join(chunks))

    def vanish(self) -> None:
        """Leave as a killed process does: the connection is reset, unread data is dropped."""
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.socket.close()


def _parse(stream: bytes) -> list[list[bytes]]:
    """ZMTP 3 frames after the greeting; commands (READY) are skipped; a cut-off message is left out."""
    pos, messages, parts = len(_GREETING), [], []
    while pos < len(stream):
        flags = stream[pos]
        if flags & 0x02:
            if pos + 9 > len(stream):
                break
            size, pos = struct.unpack_from(">Q", stream, pos + 1)[0], pos + 9
        else:
            if pos + 2 > len(stream):
                break
            size, pos = stream[pos + 1], pos + 2
        if pos + size > len(stream):
            break
        body, pos = stream[pos:pos + size], pos + size
        if flags & 0x04:
            continue
        parts.append(body)
        if not flags & 0x01:
            messages.append(parts)
            parts = []
    return messages


def train_in_flight(server: BridgeServer, data: np.ndarray, tid: int) -> None:
    """Put a train whose large array is not its last frame; return once ZeroMQ has it."""
    server.put({"det": {"data": data, "tail": data[:10], "metadata": {"source": "det", "timestamp.tid": tid}}})
    deadline = time.monotonic() + 10
    while server.trains_sent < 1:
        if time.monotonic() > deadline:
            raise TimeoutError("the server did not send the train")
        time.sleep(0.001)


def vanishing_peers(rounds: int, max_delay: float) -> None:
    data = np.ones(50_000_000, np.uint8)
    for tid in range(1, rounds + 1):
        server = BridgeServer(0, "PUSH").start()
        peer = RawPullPeer(server.endpoint)
        train_in_flight(server, data, tid)
        time.sleep(0.005)
        delay = random.random() * max_delay
        leaving = threading.Thread(target=lambda: (time.sleep(delay), peer.vanish()))
        leaving.start()
        server.stop()
        leaving.join()
    print("rounds done:", rounds, flush=True)


if __name__ == "__main__":
    vanishing_peers(int(sys.argv[1]), float(sys.argv[2]))
