"""What every Karabo device does regardless of its API: configuration bookkeeping and standard-slot replies."""

from pykarabo.device.core import KARABO_VERSION, LOG_LEVELS, STANDARD_SLOTS, DeviceCore, instanceStatus
from pykarabo.device.store import ConfigurationStore, leafPaths, mergeLeaves, setLeaf

__all__ = ["ConfigurationStore", "DeviceCore", "KARABO_VERSION", "LOG_LEVELS", "STANDARD_SLOTS", "instanceStatus",
           "leafPaths", "mergeLeaves", "setLeaf"]
