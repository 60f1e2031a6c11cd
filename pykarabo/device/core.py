"""The API-independent part of a Karabo device: configuration bookkeeping, locks, and the replies of the
standard slots, shared by the middlelayer (asyncio) and bound (threads) device APIs.

Nothing here sends messages: methods return the values a slot replies with, or raise
:class:`~pykarabo.errors.KaraboError` with Karabo's texts, and the API layer carries them over the bus.
"""

from __future__ import annotations

import getpass
import os
import socket

from pykarabo import Hash, Types, __version__
from pykarabo.device.store import ConfigurationStore, setLeaf
from pykarabo.access import AccessType
from pykarabo.errors import KaraboError
from pykarabo.schema import AssemblyRules, Schema
from pykarabo.states import State
from pykarabo.timestamp import Timestamp

__all__ = ["DeviceCore", "STANDARD_SLOTS", "instanceStatus", "KARABO_VERSION", "LOG_LEVELS"]

KARABO_VERSION = f"pykarabo-{__version__}"
LOG_LEVELS = ["DEBUG", "INFO", "WARN", "ERROR", "FATAL"]

# Slots every device answers (besides slotPing/slotHasSlot/slotDiscover, answered by the messaging core).
STANDARD_SLOTS = ("slotReconfigure", "slotGetConfiguration", "slotGetConfigurationSlice", "slotGetSchema",
                  "slotKillDevice", "slotClearLock", "slotGetTime", "slotGetSystemInfo",
                  "slotGetOutputChannelInformation", "slotGetOutputChannelNames")


def instanceStatus(state: str) -> str:
    """The instanceInfo ``status`` Karabo derives from a state: error, unknown or ok."""
    return {"ERROR": "error", "UNKNOWN": "unknown"}.get(str(state), "ok")


class DeviceCore(ConfigurationStore):
    """The configuration, schema, lock and slot rules of one device."""

    def __init__(self, schema: Schema, configuration: Hash, classId: str):
        """Validate the instantiation ``configuration`` and record the read-only facts of the process."""
        super().__init__(schema, configuration)
        if not self.parameters.get("deviceId", ""):
            raise KaraboError(f"cannot create a {classId} without a deviceId")
        facts = Hash()
        for key, value in (("classId", classId), ("karaboVersion", KARABO_VERSION),
                           ("hostName", self.parameters.get("hostName", "") or socket.gethostname())):
            if schema.has(key):
                facts[key] = value
        if schema.has("pid"):
            facts.setAs("pid", os.getpid(), schema.getValueType("pid"))
        self.set(facts)

    @property
    def deviceId(self) -> str:
        """The device's instance id."""
        return self.parameters["deviceId"]

    @property
    def state(self) -> str:
        """The current state name."""
        return self.parameters.get("state", State.UNKNOWN.value)

    # ---- rules of the standard slots --------------------------------------------------------------

    def checkLock(self, caller: str) -> None:
        """Refuse ``caller`` if another instance holds the lock."""
        lockedBy = self.parameters.get("lockedBy", "")
        if lockedBy and lockedBy != caller:
            raise KaraboError(f'Device "{self.deviceId}" is locked by "{lockedBy}"')

    def validateReconfiguration(self, changes: Hash, caller: str) -> Hash:
        """``changes`` of ``slotReconfigure`` validated against the state-dependent schema (not yet applied)."""
        if not isinstance(changes, Hash):
            raise KaraboError(f"slotReconfigure expects a Hash, not {type(changes).__name__}")
        self.checkLock(caller)
        return self._internal.validate(self.schema, changes, Timestamp(), reconfiguring=True,
                                       currentState=self.state)

    def checkSlotCall(self, slot: str, caller: str) -> None:
        """Refuse a call of schema slot ``slot`` when locked by another instance or not allowed in the state."""
        if slot == "slotClearLock":
            return
        self.checkLock(caller)
        if self.schema.has(slot) and self.schema.hasAllowedStates(slot):
            allowed = [s.value for s in self.schema.getAllowedStates(slot)]
            if self.state not in allowed:
                raise KaraboError(f'Command "{slot}" is not allowed in current state "{self.state}" of device '
                                  f'"{self.deviceId}"')

    def commandRecord(self, slot: str, caller: str) -> Hash:
        """The ``lastCommand`` change recording that ``caller`` called ``slot``."""
        return Hash("lastCommand", f"{slot} <- {caller}")

    # ---- replies --------------------------------------------------------------------------------

    def configuration(self) -> Hash:
        """The full current configuration (what ``slotGetConfiguration`` replies with)."""
        return self.parameters.copy()

    def configurationSlice(self, request: Hash) -> Hash:
        """The values at ``request["paths"]`` (``slotGetConfigurationSlice``)."""
        out = Hash()
        for path in request.get("paths", []):
            if not self.parameters.has(path):
                raise KaraboError(f'Device "{self.deviceId}" has no property "{path}"')
            setLeaf(out, path, self.parameters.getNode(path))
        return out

    def schemaReply(self, onlyCurrentState: bool) -> Schema:
        """The full schema, or only what can be written in the current state (``slotGetSchema``)."""
        if not onlyCurrentState:
            return self.schema
        return self.schema.subSchemaByRules(AssemblyRules(AccessType.WRITE, self.state))

    def timeInfo(self) -> Hash:
        """``slotGetTime``: now, the time server (none) and the reference of the last tick (now)."""
        h = Hash()
        now = Timestamp()
        h["time"] = True
        now.toHashAttributes(h, "time")
        h["timeServerId"] = "None"
        h["reference"] = True
        now.toHashAttributes(h, "reference")
        return h

    def systemInfo(self, brokerUrl: str) -> Hash:
        """``slotGetSystemInfo``: time info, broker and user."""
        h = Hash()
        h["timeInfo"] = self.timeInfo()
        h["broker"] = brokerUrl
        try:
            h["user"] = getpass.getuser()
        except (KeyError, OSError):
            h["user"] = "unknown"
        return h

    def instanceInfo(self) -> Hash:
        """The instanceInfo a device announces on the bus."""
        p = self.parameters
        info = Hash()
        info["type"] = "device"
        info["classId"] = p.get("classId", "")
        info["serverId"] = p.get("serverId", "") or "__none__"
        info["host"] = p.get("hostName", "") or socket.gethostname()
        info["status"] = instanceStatus(self.state)
        info.setAs("capabilities", self._capabilities(), Types.UINT32)
        info.setAs("heartbeatInterval", int(p.get("heartbeatInterval", 120)), Types.INT32)
        info["karaboVersion"] = KARABO_VERSION
        return info

    def _capabilities(self) -> int:
        bits = 0
        for bit, key in ((1, "availableScenes"), (2, "availableMacros"), (4, "interfaces")):
            if self.schema.has(key):
                bits |= bit
        return bits
