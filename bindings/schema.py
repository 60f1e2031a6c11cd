"""The schema every bound device has, class registration (``KARABO_CLASSINFO``) and the ``Configurator``."""

from __future__ import annotations

from typing import Any, Callable

from pykarabo.device import LOG_LEVELS
from pykarabo.errors import KaraboError
from pykarabo.schema import Schema
from pykarabo.states import State
from pykarabo.units import Unit

from .elements import (ALARM_ELEMENT, INT32_ELEMENT, NODE_ELEMENT, SLOT_ELEMENT, STATE_ELEMENT, STRING_ELEMENT,
                       UINT32_ELEMENT)

__all__ = ["Configurator", "KARABO_CLASSINFO", "baseParameters", "classSchema"]

BOUND_HEARTBEAT = 30   # seconds: a bound device's default heartbeat interval (Karabo 3, E2E)

_registry: dict[str, type] = {}


def KARABO_CLASSINFO(classId: str, version: str) -> Callable[[type], type]:
    """Class decorator: name the class ``classId`` (with ``version``) and register it for the Configurator."""
    if not isinstance(classId, str) or not classId:
        raise ValueError(f"KARABO_CLASSINFO needs a non-empty class id, not {classId!r}")

    def register(cls: type) -> type:
        cls.__classid__ = classId
        cls.__version__ = str(version)
        cls._classSchema = None   # a subclass must not reuse its base's cached schema
        _registry[classId] = cls
        return cls
    return register


def classSchema(cls: type) -> Schema:
    """The schema of a device class: ``expectedParameters`` of every base, base first (cached per class)."""
    schema = cls.__dict__.get("_classSchema")
    if schema is None:
        schema = Schema(getattr(cls, "__classid__", cls.__name__))
        for base in reversed(cls.__mro__):
            if "expectedParameters" in vars(base):
                base.expectedParameters(schema)
        cls._classSchema = schema
    return schema


class Configurator:
    """Karabo's factory of registered classes: ``Configurator(PythonDevice).getSchema("MyDevice")``."""

    def __init__(self, base: type) -> None:
        self.base = base

    def getRegisteredClasses(self) -> list[str]:
        """The class ids registered below ``base``."""
        return [cid for cid, cls in _registry.items() if issubclass(cls, self.base)]

    def getClass(self, classId: str) -> type:
        cls = _registry.get(classId)
        if cls is None or not issubclass(cls, self.base):
            raise KaraboError(f'No class "{classId}" is registered for {self.base.__name__}')
        return cls

    def getSchema(self, classId: str) -> Schema:
        return classSchema(self.getClass(classId))

    def create(self, classId: str, configuration: Any) -> Any:
        """An instance of ``classId`` built from ``configuration`` (not yet online)."""
        return self.getClass(classId)(configuration)


def baseParameters(expected: Schema) -> None:
    """The properties every bound device has (Karabo 3 minus ``performanceStatistics``)."""
    (
        STRING_ELEMENT(expected).key("deviceId").displayedName("DeviceID")
        .description("The device instance ID uniquely identifies a device instance in the distributed system")
        .assignmentInternal().noDefaultValue().init().commit(),
        INT32_ELEMENT(expected).key("heartbeatInterval").displayedName("Heartbeat interval")
        .description("The heartbeat interval").unit(Unit.SECOND).expertAccess()
        .assignmentOptional().defaultValue(BOUND_HEARTBEAT).minInc(10).init().commit(),
        STRING_ELEMENT(expected).key("serverId").displayedName("ServerID")
        .description("The server on which this device runs").expertAccess()
        .assignmentInternal().noDefaultValue().init().commit(),
        STRING_ELEMENT(expected).key("classId").displayedName("ClassID")
        .description("The (factory)-name of the class of this device").readOnly().commit(),
        STRING_ELEMENT(expected).key("classVersion").displayedName("Class version")
        .description("The version of the class of this device").expertAccess().readOnly().commit(),
        STRING_ELEMENT(expected).key("karaboVersion").displayedName("Karabo version")
        .description("The version of the Karabo framework").expertAccess().readOnly().commit(),
        STRING_ELEMENT(expected).key("hostName").displayedName("Host")
        .description("The name of the host where this device runs").expertAccess()
        .assignmentInternal().noDefaultValue().init().commit(),
        UINT32_ELEMENT(expected).key("pid").displayedName("Process ID")
        .description("The unix process ID of the device").expertAccess().readOnly().commit(),
        STATE_ELEMENT(expected).key("state").displayedName("State")
        .description("The current state the device is in").initialValue(State.UNKNOWN).commit(),
        STRING_ELEMENT(expected).key("status").displayedName("Status")
        .description("A more detailed status description").readOnly().initialValue("").commit(),
        ALARM_ELEMENT(expected).key("alarmCondition").displayedName("Alarm condition")
        .description("The current alarm condition of the device").commit(),
        STRING_ELEMENT(expected).key("lockedBy").displayedName("Locked by").setSpecialDisplayType("lockedBy")
        .assignmentOptional().defaultValue("").reconfigurable().commit(),
        SLOT_ELEMENT(expected).key("slotClearLock").displayedName("Clear Lock")
        .description("Clear the lock on this device.").expertAccess().commit(),
        STRING_ELEMENT(expected).key("lastCommand").displayedName("Last command")
        .description("The last slot called").expertAccess().readOnly().initialValue("").commit(),
        NODE_ELEMENT(expected).key("log").displayedName("Logging").description("Logging settings").commit(),
        STRING_ELEMENT(expected).key("log.level").displayedName("Logging Level")
        .description("The log level of this device").options(LOG_LEVELS)
        .assignmentOptional().defaultValue("INFO").reconfigurable().commit(),
    )
