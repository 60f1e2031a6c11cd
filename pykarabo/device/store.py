"""A configuration store: a Schema plus the current configuration Hash, written only through the Validator."""

from __future__ import annotations

from pykarabo import Hash, ImageData, NDArray, Types
from pykarabo.schema import Schema, ValidationRules, Validator
from pykarabo.timestamp import Timestamp

__all__ = ["ConfigurationStore", "mergeLeaves", "leafPaths", "setLeaf"]

# Karabo's device-internal validator: no defaults, missing keys allowed, unknown keys refused, timestamps
# injected where a value has none.
INTERNAL_RULES = ValidationRules(injectDefaults=False, allowMissingKeys=True, allowAdditionalKeys=False,
                                 injectTimestamps=True)
# Instantiation: defaults injected, mandatory keys required, every value time-stamped.
INIT_RULES = ValidationRules(injectDefaults=True, allowMissingKeys=False, allowAdditionalKeys=False,
                             injectTimestamps=True)


def _isLeafValue(value) -> bool:
    return not isinstance(value, Hash) or isinstance(value, (NDArray, ImageData))


def setLeaf(dst: Hash, path: str, node) -> None:
    """Copy the Hash node ``node`` (value with its type, and attributes) to ``path`` of ``dst``."""
    value = node.getValue()
    if isinstance(value, Hash) or node.getType() == Types.HASH:   # NDArray nodes read back as arrays
        dst.set(path, value)
    else:
        dst.setAs(path, value, node.getType())
    dst.setAttributes(path, node.getAttributes())


def mergeLeaves(dst: Hash, src: Hash, prefix: str = "") -> None:
    """Write every leaf of ``src`` (with type and attributes) into ``dst``; nodes are merged, not replaced."""
    for node in src.nodes():
        key = node.getKey()
        path = prefix + key
        value = node.getValue()
        if not _isLeafValue(value):
            if not dst.has(path):
                dst.set(path, Hash())
            mergeLeaves(dst, value, path + ".")
            continue
        setLeaf(dst, path, node)


def leafPaths(h: Hash, prefix: str = "") -> list[str]:
    """Dotted paths of the leaves of ``h`` (NDArray and ImageData count as leaves)."""
    paths = []
    for node in h.nodes():
        value = node.getValue()
        path = prefix + node.getKey()
        if _isLeafValue(value):
            paths.append(path)
        else:
            paths += leafPaths(value, path + ".")
    return paths


class ConfigurationStore:
    """The Schema and the validated current values of a configurable object."""

    def __init__(self, schema: Schema, configuration: Hash | None = None, *, validate: bool = True):
        """Validate ``configuration`` for instantiation (defaults injected) and keep the result."""
        self.schema = schema
        self._internal = Validator(INTERNAL_RULES)
        config = Hash() if configuration is None else configuration
        self.parameters = Validator(INIT_RULES).validate(schema, config) if validate else config.copy()

    def validate(self, changes: Hash, timestamp: Timestamp | None = None) -> Hash:
        """``changes`` checked and time-stamped against the schema (ValidationError if invalid)."""
        return self._internal.validate(self.schema, changes, timestamp)

    def apply(self, validated: Hash) -> None:
        """Merge already validated values."""
        mergeLeaves(self.parameters, validated)

    def set(self, changes: Hash, timestamp: Timestamp | None = None) -> Hash:
        """Validate and apply ``changes``; returns what was applied (with timestamps)."""
        validated = self.validate(changes, timestamp)
        self.apply(validated)
        return validated

    def get(self, path: str, default=None):
        """The current value at ``path`` (``default`` if unset)."""
        return self.parameters.get(path, default)

    def has(self, path: str) -> bool:
        """Whether ``path`` has a value."""
        return self.parameters.has(path)
