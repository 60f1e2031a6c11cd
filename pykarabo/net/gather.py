"""Gather-writes of message parts (lists of buffers) to sockets, shared by both pipeline transports."""

from __future__ import annotations

import socket


def gatherViews(parts: list) -> list:
    """Byte views of the non-empty ``parts``, for :func:`sendViews`."""
    return [memoryview(p).cast("B") for p in parts if len(p)]


def sendViews(sock: socket.socket, views: list, flags: int = 0) -> int:
    """Gather-write ``views`` (consumed from the front) until done or the socket would block
    (full, or its send timeout expired); returns the number of bytes sent."""
    total = 0
    while views:
        try:
            sent = sock.sendmsg(views[:512], [], flags)
        except BlockingIOError:
            return total
        total += sent
        while sent:
            n = len(views[0])
            if sent >= n:
                sent -= n
                views.pop(0)
            else:
                views[0] = views[0][sent:]
                sent = 0
    return total


def sendNow(sock: socket.socket, parts: list, flags: int = 0) -> list:
    """Send as much of the message ``parts`` as the socket takes without waiting (non-blocking
    socket, or ``MSG_DONTWAIT`` in ``flags``); returns the unsent rest as views for :func:`sendViews`."""
    if len(parts) == 1 and type(parts[0]) is bytes:
        # Small messages are one joined buffer: a plain send, no views to build.
        part = parts[0]
        try:
            sent = sock.send(part, flags)
        except BlockingIOError:
            sent = 0
        return [] if sent == len(part) else [memoryview(part)[sent:]]
    views = gatherViews(parts)
    sendViews(sock, views, flags)
    return views
