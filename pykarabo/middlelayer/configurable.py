"""``Configurable``: a class whose descriptors declare a Schema and whose instances hold validated values."""

from __future__ import annotations

from enum import Enum
from typing import Any

from pykarabo import Hash, Types
from pykarabo.device.store import ConfigurationStore
from pykarabo.errors import ValidationError
from pykarabo.middlelayer.descriptors import Descriptor, Overwrite, Type
from pykarabo.middlelayer.quantities import isQuantity
from pykarabo.middlelayer.values import KaraboValue, NoneValue
from pykarabo.schema import Schema

__all__ = ["Configurable", "toHash"]


def toHash(configuration: Any) -> Hash:
    """A configuration Hash from a Hash or a (possibly nested, dotted) dict; enums and values made raw."""
    if configuration is None:
        return Hash()
    if isinstance(configuration, Hash):
        return configuration
    h = Hash()
    for key, value in configuration.items():
        if isinstance(value, dict):
            value = toHash(value)
        elif isinstance(value, KaraboValue):
            value = value.value
        h[key] = value.value if isinstance(value, Enum) else value
    return h


class Configurable:
    """Base of devices, nodes, table rows and pipeline data: descriptors in the class body form the Schema."""

    _descriptors: dict[str, Descriptor] = {}
    daqDataType = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._collectDescriptors()

    @classmethod
    def _collectDescriptors(cls) -> None:
        """Gather the declarations of the bases and of this class (again after an injection)."""
        descriptors: dict[str, Descriptor] = {}
        for base in reversed(cls.__mro__[1:]):
            descriptors.update(getattr(base, "_descriptors", {}))
        for name, value in list(cls.__dict__.items()):
            if isinstance(value, Overwrite):
                if name not in descriptors:
                    raise TypeError(f"{cls.__name__}.{name}: Overwrite needs an inherited '{name}'")
                new = descriptors[name].withOverwrite(value.kwargs)
                new.key = name
                setattr(cls, name, new)
                descriptors[name] = new
            elif isinstance(value, Descriptor):
                value.key = name   # also for declarations assigned after the class was made
                descriptors[name] = value
        cls._descriptors = descriptors
        cls._classSchema = None

    @classmethod
    def getClassSchema(cls) -> Schema:
        """The Schema of this class (root name: the class name)."""
        if cls.__dict__.get("_classSchema") is None:
            schema = Schema(cls.__name__)
            cls.commitChildren(schema, "")
            cls._classSchema = schema
        return cls._classSchema

    @classmethod
    def commitChildren(cls, schema: Schema, prefix: str) -> None:
        """Add every declaration of this class to ``schema`` under ``prefix``."""
        for name, descriptor in cls._descriptors.items():
            descriptor.commit(schema, prefix + name)

    def __init__(self, configuration: Any = None) -> None:
        """Create an instance with ``configuration`` (Hash or dict) validated against the class schema."""
        self._bind(ConfigurationStore(self.getClassSchema(), toHash(configuration)), "", self)

    def _bind(self, store: ConfigurationStore, prefix: str, root: Configurable) -> None:
        self._store = store
        self._prefix = prefix
        self._root = root
        self._children: dict[str, Configurable] = {}

    def configurationAsHash(self) -> Hash:
        """The current values (of this node) as a Hash."""
        if not self._prefix:
            return self._store.parameters.copy()
        return self._store.parameters[self._prefix[:-1]].copy()

    # ---- what descriptors call ---------------------------------------------------------------------

    def _readValue(self, descriptor: Type) -> Any:
        path = self._prefix + descriptor.key
        params = self._store.parameters
        if not params.has(path):
            value = NoneValue()
            value.descriptor = descriptor
            return value
        node = params.getNode(path)
        return descriptor.fromRaw(node.getValue(), node.getAttributes())

    def _writeValue(self, descriptor: Type, value: Any) -> None:
        path = self._prefix + descriptor.key
        timestamp = value.timestamp if isinstance(value, KaraboValue) else None
        h = Hash()
        try:
            raw = descriptor.toRaw(value)
            # NDArray and ImageData values are Hashes of their own kind: stored as they are.
            h.set(path, raw) if descriptor.valueType == Types.HASH else h.setAs(path, raw, descriptor.valueType)
        except (TypeError, ValueError, OverflowError) as exc:
            if isQuantity(value):
                raise   # pint's DimensionalityError, as Karabo's middlelayer lets it through
            raise ValidationError(f'Value {value!r} does not fit "{path}" '
                                  f"({descriptor.valueType.name}): {exc}") from None
        self._root._changed(self._store.set(h, timestamp))

    def _changed(self, validated: Hash) -> None:
        """Called with every applied change (devices publish them)."""

    def _child(self, descriptor: Descriptor) -> Configurable:
        child = self._children.get(descriptor.key)
        if child is None:
            child = descriptor.cls.__new__(descriptor.cls)
            child._bind(self._store, f"{self._prefix}{descriptor.key}.", self._root)
            self._children[descriptor.key] = child
        return child

    def _device(self) -> Any:
        if self._root is self:
            raise TypeError(f"{type(self).__name__} is not part of a Device: it has no channels or signals")
        return self._root

    def _output(self, descriptor: Descriptor) -> Any:
        return self._device()._output(descriptor)

    def _input(self, descriptor: Descriptor) -> Any:
        return self._device()._input(descriptor)

    def _emit(self, signal: str, *args: Any) -> None:
        self._device()._emit(signal, *args)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._prefix[:-1] or 'root'}>"
