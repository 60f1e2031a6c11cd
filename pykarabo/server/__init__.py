"""The device server: hosts middlelayer devices discovered through entry points (``pykarabo server``)."""

from pykarabo.server.plugins import ENTRY_POINT_GROUPS, discoverClasses, loadPlugin
from pykarabo.server.server import DeviceServer, defaultServerId

__all__ = ["DeviceServer", "ENTRY_POINT_GROUPS", "defaultServerId", "discoverClasses", "loadPlugin"]
