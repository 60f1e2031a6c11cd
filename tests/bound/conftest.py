"""Bound devices on a private embedded broker, with a threaded client to call them; killed after each test."""

from __future__ import annotations

import itertools
import os
from typing import Any

import pytest

from pykarabo.bound import startDevice
from pykarabo.net.broker.embedded import privateEmbeddedUrl
from pykarabo.net.broker.threads import ThreadedSignalSlotable
from tests.messaging.conftest import rabbitmq  # noqa: F401  (the session's RabbitMQ, for the interop tests)

T = 10.0   # seconds any reply may take
_ids = itertools.count()


class BoundBus:
    """A private broker URL and topic, a client instance on it and the devices a test started."""

    def __init__(self) -> None:
        n = next(_ids)
        self.url = privateEmbeddedUrl()
        self.topic = f"boundtest{os.getpid()}_{n}"
        self.client = ThreadedSignalSlotable(f"boundtest-client-{os.getpid()}-{n}", broker=self.url,
                                             topic=self.topic)
        self.client.start()   # first on the bus: hosts the broker
        self.devices: list = []

    def start(self, cls: type, configuration: Any) -> Any:
        device = startDevice(cls, configuration, broker=self.url, topic=self.topic)
        self.devices.append(device)
        return device

    def request(self, target: str, slot: str, *args: Any) -> tuple:
        return self.client.request(target, slot, *args).waitForReply(int(T * 1000))

    def close(self) -> None:
        for device in self.devices:
            device.slotKillDevice()
        self.client.stop()


@pytest.fixture
def bus():
    b = BoundBus()
    yield b
    b.close()
