"""Broker backends: move Karabo messages between instances; chosen by URL (``KARABO_BROKER``).

Every backend has one API, shaped after AMQP so that RabbitMQ fits it unchanged:
``publish(exchange, routingKey, header, body)`` with exchange suffixes ``Slots``/``Global_Slots``/``Signals``,
``subscribe(exchange, bindingKey)`` with AMQP topic patterns (``*`` one word, ``#`` any number of words),
and callbacks ``onMessage(exchange, routingKey, header, body)`` and ``onConnection(connected)`` called from
the backend's own thread. Supported URLs: ``embedded://127.0.0.1:PORT`` (the default, no service needed) and
``amqp://user:password@host:port`` / ``amqps://...?cafile=CA.pem`` (RabbitMQ, Karabo 3's broker, TLS options
in :mod:`pykarabo.net.broker.amqp`; several URLs are tried in order).
"""

from __future__ import annotations

import getpass
import os
from typing import Callable, Protocol
from urllib.parse import urlsplit, urlunsplit

from pykarabo.errors import KaraboError

__all__ = ["Backend", "MessageHandler", "brokerUrls", "brokerTopic", "createBackend", "matchBindingKey",
           "redactUrl", "DEFAULT_URL"]

DEFAULT_URL = "embedded://127.0.0.1:47770"

MessageHandler = Callable[[str, str, bytes, "bytes | None"], None]


class Backend(Protocol):
    """What a broker backend offers the messaging transports.

    A backend whose class sets ``canShareLoop = True`` also takes ``start(..., loop=loop)``: it then runs
    in that (running) asyncio loop and calls back from it, instead of from a thread of its own.
    """

    url: str
    topic: str
    connected: bool

    def start(self, onMessage: MessageHandler, onConnection: Callable[[bool], None]) -> None:
        """Connect and start delivering messages to ``onMessage`` (from the backend's thread)."""

    def publish(self, exchange: str, routingKey: str, header: bytes, body: bytes) -> None:
        """Send one message (thread-safe; dropped while the broker is unreachable, like AMQP)."""

    def subscribe(self, exchange: str, bindingKey: str) -> None:
        """Receive messages of ``exchange`` whose routing key matches ``bindingKey`` (thread-safe)."""

    def unsubscribe(self, exchange: str, bindingKey: str) -> None:
        """Undo one :meth:`subscribe` (thread-safe)."""

    def sync(self, timeout: float) -> bool:
        """Wait until earlier subscriptions are effective; returns False on timeout."""

    def close(self) -> None:
        """Disconnect and stop the backend's thread."""


def brokerUrls(value: str | None = None) -> list[str]:
    """The broker URLs to try, in order, from ``value`` or ``$KARABO_BROKER`` (default: the embedded broker)."""
    value = os.environ.get("KARABO_BROKER", "") if value is None else value
    urls = [u.strip() for u in value.split(",") if u.strip()]
    return urls or [DEFAULT_URL]


def brokerTopic(value: str | None = None) -> str:
    """The topic isolating one installation: ``value``, ``$KARABO_BROKER_TOPIC``, the login name, or ``karabo``."""
    if value:
        return value
    for var in ("KARABO_BROKER_TOPIC", "LOGNAME", "USER", "LNAME", "USERNAME"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser() or "karabo"
    except (KeyError, OSError):
        return "karabo"


def createBackend(url: str | None = None, topic: str | None = None, *, instanceId: str | None = None) -> Backend:
    """A backend for the broker URLs (see :func:`brokerUrls`); ``instanceId`` names an AMQP queue."""
    urls = brokerUrls(url)
    topic = brokerTopic(topic)
    if topic.endswith("_beats"):
        raise KaraboError(f"broker topic {topic!r} must not end with '_beats'")
    first = urls[0]
    scheme = first.partition("://")[0]
    if scheme == "embedded":
        from pykarabo.net.broker.embedded import EmbeddedBackend
        return EmbeddedBackend(first, topic)
    if scheme in ("amqp", "amqps"):
        if any(u.partition("://")[0] not in ("amqp", "amqps") for u in urls):
            raise KaraboError("all broker URLs must be amqp:// or amqps:// when the first one is")
        from pykarabo.net.broker.amqp import AmqpBackend
        return AmqpBackend(urls, topic, instanceId)
    raise KaraboError(f"unsupported broker URL {redactUrl(first)!r} (expected embedded://host:port or amqp://...)")


def redactUrl(url: str) -> str:
    """``url`` with its password replaced by ``***`` (safe for logs and error messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def matchBindingKey(bindingKey: str, routingKey: str) -> bool:
    """Whether ``routingKey`` matches AMQP topic pattern ``bindingKey`` (``*``: one word, ``#``: zero or more)."""
    return _match(bindingKey.split("."), routingKey.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])
