"""Running middlelayer tests on a private embedded broker: one loop, a client, devices cleaned up afterwards."""

from __future__ import annotations

import asyncio
import itertools
import os
from typing import Any, Awaitable, Callable

from pykarabo.middlelayer import configureClient
from pykarabo.middlelayer.proxy import getClient, stopClient
from pykarabo.middlelayer.synchronization import eventLoop
from pykarabo.net.broker.embedded import privateEmbeddedUrl

T = 20.0   # bound of every test's coroutine
_topics = itertools.count()


class Bus:
    """A private broker URL and topic; :meth:`run` runs a test coroutine with a client and cleans up."""

    def __init__(self) -> None:
        self.url = privateEmbeddedUrl()
        self.topic = f"mdltest{os.getpid()}_{next(_topics)}"
        self.devices: list = []

    async def start(self, device: Any) -> Any:
        """Put ``device`` on the bus (killed when the test ends)."""
        self.devices.append(device)
        await device.startInstance(broker=self.url, topic=self.topic)
        return device

    def run(self, test: Callable[[], Awaitable], timeout: float = T) -> Any:
        """Run ``test()`` in a fresh loop whose DeviceClient hosts the broker."""
        configureClient(self.url, self.topic)

        async def main() -> Any:
            await getClient()   # first on the bus: hosts the broker for the whole test
            try:
                return await asyncio.wait_for(test(), timeout)
            finally:
                for device in self.devices:
                    if device._killed is not None and not device._stopping:
                        await device.slotKillDevice()
                await stopClient()
        try:
            return asyncio.run(main())
        finally:
            # a test may also have used the blocking functions, whose client lives in the background loop
            asyncio.run_coroutine_threadsafe(stopClient(), eventLoop()).result(T)
