"""Karabo's bound (threaded) device API: ``from pykarabo.bound import PythonDevice, ...``.

A device written for ``karabo.bound`` runs here after changing the import: ``PythonDevice`` with
``@KARABO_CLASSINFO``, ``expectedParameters`` with the fluent element builders, ``set``/``get``,
slots, signals, pipelines and ``Worker`` threads.  ``startDevice`` hosts a device in this process.
"""

from pykarabo import Hash, ImageData, NDArray, Types
from pykarabo.access import AccessLevel, AccessMode, ArchivePolicy, Assignment, DaqDataType
from pykarabo.alarms import AlarmCondition
from pykarabo.schema import Schema
from pykarabo.states import State
from pykarabo.timestamp import Epochstamp, TimeId, Timestamp
from pykarabo.units import MetricPrefix, Unit

from .channels import ChannelMetaData, InputView
from .device import PythonDevice, currentCaller
from .elements import (ALARM_ELEMENT, BOOL_ELEMENT, BYTEARRAY_ELEMENT, DOUBLE_ELEMENT, FLOAT_ELEMENT,
                       IMAGEDATA_ELEMENT, INPUT_CHANNEL, INT32_ELEMENT, INT64_ELEMENT, NDARRAY_ELEMENT,
                       NODE_ELEMENT, OUTPUT_CHANNEL, OVERWRITE_ELEMENT, SLOT_ELEMENT, STATE_ELEMENT,
                       STRING_ELEMENT, TABLE_ELEMENT, UINT32_ELEMENT, UINT64_ELEMENT, VECTOR_BOOL_ELEMENT,
                       VECTOR_CHAR_ELEMENT, VECTOR_DOUBLE_ELEMENT, VECTOR_FLOAT_ELEMENT, VECTOR_INT32_ELEMENT,
                       VECTOR_INT64_ELEMENT, VECTOR_STRING_ELEMENT, VECTOR_UINT32_ELEMENT, VECTOR_UINT64_ELEMENT)
from .hosting import startDevice
from .schema import KARABO_CLASSINFO, Configurator
from .worker import Worker

__all__ = [
    "ALARM_ELEMENT", "AccessLevel", "AccessMode", "AlarmCondition", "ArchivePolicy", "Assignment",
    "BOOL_ELEMENT", "BYTEARRAY_ELEMENT", "ChannelMetaData", "Configurator", "DOUBLE_ELEMENT", "DaqDataType",
    "Epochstamp", "FLOAT_ELEMENT", "Hash", "IMAGEDATA_ELEMENT", "INPUT_CHANNEL", "INT32_ELEMENT", "INT64_ELEMENT",
    "ImageData", "InputView", "KARABO_CLASSINFO", "MetricPrefix", "NDARRAY_ELEMENT", "NDArray", "NODE_ELEMENT",
    "OUTPUT_CHANNEL", "OVERWRITE_ELEMENT", "PythonDevice", "SLOT_ELEMENT", "STATE_ELEMENT", "STRING_ELEMENT",
    "Schema", "State", "TABLE_ELEMENT", "TimeId", "Timestamp", "Types", "UINT32_ELEMENT", "UINT64_ELEMENT",
    "Unit", "VECTOR_BOOL_ELEMENT", "VECTOR_CHAR_ELEMENT", "VECTOR_DOUBLE_ELEMENT", "VECTOR_FLOAT_ELEMENT",
    "VECTOR_INT32_ELEMENT", "VECTOR_INT64_ELEMENT", "VECTOR_STRING_ELEMENT", "VECTOR_UINT32_ELEMENT",
    "VECTOR_UINT64_ELEMENT", "Worker", "currentCaller", "startDevice",
]
