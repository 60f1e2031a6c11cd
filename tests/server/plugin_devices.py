"""Devices loaded by the server tests (``--plugins tests.server.plugin_devices``)."""

from pathlib import Path

from pykarabo.middlelayer import AccessMode, Device, Int32, Slot, State, String


class Recorder(Device):
    """Writes ``destroyed`` into ``markerFile`` when it is destroyed (to see the hook ran in another process)."""

    __version__ = "1.0"

    markerFile = String(defaultValue="", accessMode=AccessMode.INITONLY)
    hits = Int32(defaultValue=0, accessMode=AccessMode.READONLY)

    @Slot(displayedName="Hit")
    async def hit(self):
        self.hits = self.hits.value + 1

    async def onInitialization(self):
        self.state = State.ON

    async def onDestruction(self):
        if self.markerFile.value:
            Path(self.markerFile.value).write_text("destroyed")


class NotADevice:
    """Found in the module but not offered: only Device subclasses are."""
