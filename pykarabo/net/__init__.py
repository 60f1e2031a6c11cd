"""Transports: they move bytes between sockets and the sans-I/O protocol cores in ``pykarabo._core``."""

from __future__ import annotations

import itertools
import os

from pykarabo import Hash, Types

_ids = itertools.count(1)


def defaultInputId() -> str:
    """A process-unique input ``instanceId`` (outputs key inputs by it, so it must not be shared)."""
    return f"pykarabo-{os.getpid()}-{next(_ids)}:input"


def parseOutputAddress(address) -> tuple[str, int]:
    """``(host, port)`` from ``"host:port"``, a ``(host, port)`` pair or a connection-info Hash/dict."""
    if isinstance(address, (Hash, dict)):
        return str(address["hostname"]), int(address["port"])
    if isinstance(address, str):
        host, sep, port = address.rpartition(":")
        if not sep or not host:
            raise ValueError(f"expected HOST:PORT, got {address!r}")
        return host, int(port)
    host, port = address
    return str(host), int(port)


def connectionInfo(hostname: str, port: int) -> Hash:
    """The connection-info Hash Karabo's ``slotGetOutputChannelInformation`` replies with."""
    h = Hash()
    h["connectionType"] = "tcp"
    h["hostname"] = hostname
    h.setAs("port", port, Types.UINT32)
    h["memoryLocation"] = "remote"
    return h


def sendParts(sock, parts: list, maxParts: int = 512) -> None:
    """Gather-write ``parts`` completely (``sendmsg`` releases the GIL and copies nothing)."""
    views = [memoryview(p).cast("B") for p in parts if len(p)]
    i = 0
    while i < len(views):
        sent = sock.sendmsg(views[i:i + maxParts])
        while sent:
            n = len(views[i])
            if sent >= n:
                sent -= n
                i += 1
            else:
                views[i] = views[i][sent:]
                sent = 0
