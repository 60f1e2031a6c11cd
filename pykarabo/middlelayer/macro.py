"""``Macro``: a device-like script whose slots run in the background, switching between PASSIVE and ACTIVE."""

from __future__ import annotations

import asyncio
from typing import Any

from pykarabo import Hash
from pykarabo.access import AccessMode
from pykarabo.errors import KaraboError
from pykarabo.middlelayer.configurable import Configurable
from pykarabo.middlelayer.descriptors import Overwrite, Slot, String
from pykarabo.middlelayer.device import Device
from pykarabo.states import State

__all__ = ["Macro"]


class Macro(Device):
    """Slots of a macro may only start in the passive state; while one runs the macro is active.

    ``cancel`` stops the running slot. ``currentSlot`` names it.
    """

    abstractActiveState = State.ACTIVE
    abstractPassiveState = State.PASSIVE

    state = Overwrite(defaultValue=State.PASSIVE)
    currentSlot = String(displayedName="Current slot", description="The slot being executed",
                         accessMode=AccessMode.READONLY, defaultValue="")

    @Slot(displayedName="Cancel", allowedStates=[State.ACTIVE])
    async def cancel(self):
        """Cancel the running slot."""
        if self._running is not None:
            self._running.cancel()

    def __init__(self, configuration: Any = None) -> None:
        super().__init__(configuration)
        self._running: asyncio.Task | None = None

    def _instanceInfo(self) -> Hash:
        info = super()._instanceInfo()
        info["type"] = "macro"
        return info

    async def _callSlot(self, descriptor: Slot, owner: Configurable) -> Any:
        if descriptor is type(self).cancel:
            return await super()._callSlot(descriptor, owner)
        if self.state != self.abstractPassiveState:
            raise KaraboError(f'Calling slot "{descriptor.key}" not allowed in state "{self.state}"')
        self.state = self.abstractActiveState
        self.currentSlot = descriptor.key
        self._running = self._background(self._runBody(descriptor, owner))
        return None

    async def _runBody(self, descriptor: Slot, owner: Configurable) -> None:
        try:
            await self._run(descriptor.method, owner)
        except asyncio.CancelledError:
            self.logger.info("%s: slot %s cancelled", self._core.deviceId, descriptor.key)
        finally:
            self._running = None
            self.currentSlot = ""
            self.state = self.abstractPassiveState
