"""Topology tracking: which instances are alive, with their instanceInfo, kept from broadcasts and heartbeats."""

from __future__ import annotations

from dataclasses import dataclass

from pykarabo import Hash

__all__ = ["Topology", "BRANCHES"]

BRANCHES = ("device", "server", "macro", "client", "unknown")


@dataclass
class _Entry:
    info: Hash
    lastSeen: float
    interval: float


class Topology:
    """Alive instances; an instance missing ``numBeats`` heartbeat intervals is declared gone."""

    def __init__(self, numBeats: int = 3, checkInterval: float = 3.0):
        self.numBeats = numBeats
        self.checkInterval = checkInterval
        self._entries: dict[str, _Entry] = {}

    def __contains__(self, instanceId: str) -> bool:
        return instanceId in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def instanceIds(self) -> list[str]:
        """Ids of all alive instances."""
        return sorted(self._entries)

    def instanceInfo(self, instanceId: str) -> Hash | None:
        """The last known instanceInfo of ``instanceId`` (None if unknown)."""
        entry = self._entries.get(instanceId)
        return None if entry is None else entry.info

    def update(self, instanceId: str, info: Hash, now: float) -> bool:
        """Record ``info`` for ``instanceId``; returns whether the instance is new."""
        isNew = instanceId not in self._entries
        interval = float(info.get("heartbeatInterval", 20) or 20)
        self._entries[instanceId] = _Entry(info, now, interval)
        return isNew

    def beat(self, instanceId: str, beat: Hash, now: float) -> bool:
        """Record a heartbeat; returns whether the instance was known."""
        entry = self._entries.get(instanceId)
        if entry is None:
            return False
        entry.lastSeen = now
        if isinstance(beat, Hash) and beat.has("heartbeatInterval"):
            entry.interval = float(beat["heartbeatInterval"] or entry.interval)
        return True

    def remove(self, instanceId: str) -> list[tuple[str, Hash]]:
        """Forget ``instanceId`` and, if it is a server, its devices; returns what was removed."""
        entry = self._entries.pop(instanceId, None)
        if entry is None:
            return []
        gone = [(instanceId, entry.info)]
        if entry.info.get("type", None) == "server":
            for other, e in list(self._entries.items()):
                if e.info.get("type", None) == "device" and e.info.get("serverId", None) == instanceId:
                    del self._entries[other]
                    gone.append((other, e.info))
        return gone

    def expire(self, now: float) -> list[tuple[str, Hash]]:
        """Remove instances whose heartbeats stopped; returns what was removed."""
        gone = []
        for instanceId, entry in list(self._entries.items()):
            if instanceId in self._entries and now - entry.lastSeen > self.numBeats * entry.interval:
                gone += self.remove(instanceId)
        return gone

    def systemTopology(self) -> Hash:
        """Karabo's systemTopology Hash: branches by type, children keyed by id, instanceInfo as attributes."""
        topo = Hash()
        for branch in BRANCHES:
            topo[branch] = Hash()
        for instanceId, entry in sorted(self._entries.items()):
            kind = entry.info.get("type", "unknown")
            branch = topo[kind if kind in BRANCHES else "unknown"]
            # '\0' as separator: instance ids contain '/' and must stay one key.
            branch.set(instanceId, Hash(), sep="\0")
            for key in entry.info.getKeys():
                node = entry.info.getNode(key)
                branch.setAttribute(instanceId, key, node.getValue(), node.getType(), sep="\0")
        return topo
