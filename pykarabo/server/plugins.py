"""Discovery of device classes: entry points (Karabo's groups and ours) and explicit ``module:Class`` specs."""

from __future__ import annotations

import importlib
import inspect
import logging
from importlib.metadata import entry_points
from typing import Iterable

from pykarabo.middlelayer.device import Device

log = logging.getLogger(__name__)

__all__ = ["ENTRY_POINT_GROUPS", "discoverClasses", "loadPlugin"]

# Karabo's middlelayer group, Karabo's bound group and our own.
ENTRY_POINT_GROUPS = ("pykarabo.device", "karabo.middlelayer_device", "karabo.bound_device")


def _deviceClasses(obj: object) -> list[type]:
    if inspect.isclass(obj):
        return [obj] if issubclass(obj, Device) else []
    return [v for v in vars(obj).values()
            if inspect.isclass(v) and issubclass(v, Device) and v.__module__ == obj.__name__]


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
        raise ValueError(f"plugin {spec!r} holds no pykarabo middlelayer Device class")
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
                log.info("skipping %s of %s: not a pykarabo middlelayer device", ep.name, group)
            for cls in found:
                classes.setdefault(cls.__name__, cls)
    for spec in plugins:
        for cls in loadPlugin(spec):
            classes[cls.__name__] = cls
    return classes
