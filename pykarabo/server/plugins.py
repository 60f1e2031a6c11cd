"""Discovery of device classes: entry points (Karabo's groups and ours) and explicit ``module:Class`` specs."""

from __future__ import annotations

import importlib
import inspect
import logging
from importlib.metadata import entry_points
from typing import Iterable

from pykarabo.bound import PythonDevice
from pykarabo.middlelayer.device import Device

log = logging.getLogger(__name__)

__all__ = ["ENTRY_POINT_GROUPS", "classId", "discoverClasses", "isDeviceClass", "loadPlugin"]

# Our own group, Karabo's middlelayer, bound and macro groups.
ENTRY_POINT_GROUPS = ("pykarabo.device", "karabo.middlelayer_device", "karabo.bound_device", "karabo.macro_device")


def isDeviceClass(obj: object) -> bool:
    """Whether ``obj`` is a device class we can host: a middlelayer ``Device`` or a bound ``PythonDevice``
    named by ``KARABO_CLASSINFO``."""
    return inspect.isclass(obj) and (issubclass(obj, Device) or
                                     (issubclass(obj, PythonDevice) and "__classid__" in vars(obj)))


def classId(cls: type) -> str:
    """Karabo's class id: the ``KARABO_CLASSINFO`` name of a bound class, the class name otherwise."""
    return vars(cls).get("__classid__", cls.__name__)


def _deviceClasses(obj: object) -> list[type]:
    if inspect.isclass(obj):
        return [obj] if isDeviceClass(obj) else []
    return [v for v in vars(obj).values() if isDeviceClass(v) and v.__module__ == obj.__name__]


def loadPlugin(spec: str) -> list[type]:
    """The device classes of ``module:Class`` or of every Device subclass defined in ``module``."""
    module, _, name = spec.partition(":")
    try:
        obj = importlib.import_module(module)
        if name:
            obj = getattr(obj, name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load plugin {spec!r}: {exc}") from None
    classes = _deviceClasses(obj)
    if not classes:
        raise ValueError(f"plugin {spec!r} holds no pykarabo device class (middlelayer Device or bound PythonDevice)")
    return classes


def discoverClasses(groups: Iterable[str] = ENTRY_POINT_GROUPS, plugins: Iterable[str] = ()) -> dict[str, type]:
    """classId → class of every loadable device class; entry points that fail or are not ours are skipped."""
    classes: dict[str, type] = {}
    for group in groups:
        for ep in entry_points(group=group):
            try:
                obj = ep.load()
            except Exception as exc:   # a broken plugin must not keep the server from starting
                log.warning("skipping plugin %s of %s: %s", ep.name, group, exc)
                continue
            found = _deviceClasses(obj)
            if not found:
                log.info("skipping %s of %s: not a pykarabo device class", ep.name, group)
            for cls in found:
                classes.setdefault(classId(cls), cls)
    for spec in plugins:
        for cls in loadPlugin(spec):
            classes[classId(cls)] = cls
    return classes
