"""Karabo's middlelayer API on asyncio: devices, descriptors, proxies, macros and scripting functions.

A device written for Karabo's ``karabo.middlelayer`` runs here after changing the import to
``pykarabo.middlelayer``.
"""

from pykarabo import Hash, Schema, Types
from pykarabo._core.hash import Encoding
from pykarabo.access import AccessLevel, AccessMode, ArchivePolicy, Assignment, DaqDataType, NodeType
from pykarabo.alarms import AlarmCondition
from pykarabo.errors import KaraboError
from pykarabo.middlelayer.channels import PipelineMetaData
from pykarabo.middlelayer.client import (call, callNoWait, connectDevice, disconnectDevice, execute, executeNoWait,
                                         findDevices, findServers, getClasses, getClassSchema, getClients,
                                         getConfiguration, getDevice, getDevices, getInstanceInfo,
                                         getOutputChannelInfo, getProperties, getSchema, getServers,
                                         getSystemInfo, getTimeInfo, getTopology, instantiate, instantiateNoWait,
                                         isAlive, lock, setNoWait, setWait, shutdown, shutdownNoWait, updateDevice,
                                         waitUntil, waitUntilNew, waitWhile)
from pykarabo.middlelayer.configurable import Configurable
from pykarabo.middlelayer.descriptors import (Bool, ByteArray, Char, Double, Float, Image, InputChannel, Int8, Int16,
                                              Int32, Int64, NDArray, Node, OutputChannel, Overwrite, RegexString,
                                              Signal, Slot, String, TypeHash, TypeSchema, UInt8, UInt16, UInt32,
                                              UInt64, VectorBool, VectorChar, VectorDouble, VectorFloat, VectorHash,
                                              VectorInt8, VectorInt16, VectorInt32, VectorInt64, VectorString,
                                              VectorUInt8, VectorUInt16, VectorUInt32, VectorUInt64, slot)
from pykarabo.middlelayer.device import Device
from pykarabo.middlelayer.macro import Macro, MacroSlot, run_macro
from pykarabo.middlelayer.proxy import DeviceClient, Proxy, configureClient
from pykarabo.middlelayer.synchronization import (allCompleted, background, firstCompleted, firstException, gather,
                                                  sleep, synchronize)
from pykarabo.middlelayer.values import KaraboValue, isSet
from pykarabo.states import State, StateSignifier
from pykarabo.timestamp import Timestamp
from pykarabo.units import MetricPrefix, Unit

coslot = slot   # Karabo's legacy name of @slot


def __getattr__(name: str):
    # ``unit`` (Karabo's pint registry) imports pint on first use only; it is not in __all__ for that reason.
    if name == "unit":
        from pykarabo.middlelayer.quantities import unitRegistry
        return unitRegistry()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "AccessLevel", "AccessMode", "AlarmCondition", "ArchivePolicy", "Assignment", "Bool", "ByteArray", "Char",
    "Configurable", "DaqDataType", "Device", "DeviceClient", "Double", "Encoding", "Float", "Hash", "Image",
    "InputChannel", "Int8", "Int16", "Int32", "Int64", "KaraboError", "KaraboValue", "Macro", "MacroSlot",
    "MetricPrefix", "NDArray", "Node", "NodeType", "OutputChannel", "Overwrite", "PipelineMetaData", "Proxy",
    "RegexString", "Schema", "Signal", "Slot", "State", "StateSignifier", "String", "Timestamp", "TypeHash",
    "TypeSchema", "Types", "UInt8", "UInt16", "UInt32", "UInt64", "Unit", "VectorBool", "VectorChar", "VectorDouble",
    "VectorFloat", "VectorHash", "VectorInt8", "VectorInt16", "VectorInt32", "VectorInt64", "VectorString",
    "VectorUInt8", "VectorUInt16", "VectorUInt32", "VectorUInt64", "allCompleted", "background", "call", "callNoWait",
    "configureClient", "connectDevice", "coslot", "disconnectDevice", "execute", "executeNoWait", "findDevices",
    "findServers", "firstCompleted", "firstException", "gather", "getClasses", "getClassSchema", "getClients",
    "getConfiguration", "getDevice", "getDevices", "getInstanceInfo", "getOutputChannelInfo", "getProperties",
    "getSchema", "getServers", "getSystemInfo", "getTimeInfo", "getTopology", "instantiate", "instantiateNoWait",
    "isAlive", "isSet", "lock", "run_macro", "setNoWait", "setWait", "shutdown", "shutdownNoWait", "sleep", "slot",
    "synchronize", "updateDevice", "waitUntil", "waitUntilNew", "waitWhile",
]
