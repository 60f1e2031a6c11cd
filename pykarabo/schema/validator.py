"""Validation of configuration Hashes against a Schema with Karabo 3's rules and messages.

A Schema is compiled once into a tree of :class:`~pykarabo._core.validate.Spec` records (cached on
the Schema until one of its modifying methods runs).  The compiled core module checks values and
walks the keys of sparse validations (every reconfiguration and ``set``) in C; this module does the
rest: defaults, mandatory keys, casts, nodes, tables, NDArrays and the error texts of access rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pykarabo._core.hash import Attributes, Hash, ImageData, NDArray
from pykarabo._core.hash import Schema as CoreSchema
from pykarabo._core.types import Types
from pykarabo._core.validate import (
    IMAGE as _IMAGE,
    MISSING as _MISSING,
    NDARRAY as _NDARRAY,
    NODE as _NODE,
    OUTPUT_SCHEMA as _OUTPUT_SCHEMA,
    SLOT as _SLOT,
    TABLE as _TABLE,
    Run,
    Spec,
    check,
    fail,
    set_special_names,
    sparse_level,
)
from pykarabo.access import AccessMode, Assignment, NodeType
from pykarabo.alarms import AlarmCondition
from pykarabo.schema.schema import IMAGEDATA, NDARRAY, OUTPUT_CHANNEL, SLOT, Schema
from pykarabo.states import State
from pykarabo.timestamp import Timestamp

__all__ = ["ValidationRules", "Validator"]

set_special_names([s.value for s in State], [a.value for a in AlarmCondition])
_UINT64 = Types.UINT64
_RECONFIGURABLE = int(AccessMode.RECONFIGURABLE)


@dataclass
class ValidationRules:
    """What a validation does besides checking (Karabo's ``Validator::ValidationRules``).

    The defaults are those of the ``ValidationRules`` struct: inject defaults, allow unrooted
    configurations and missing keys, refuse additional keys, inject timestamps.
    """

    injectDefaults: bool = True
    allowUnrootedConfiguration: bool = True
    allowAdditionalKeys: bool = False
    allowMissingKeys: bool = True
    injectTimestamps: bool = True
    forceInjectedTimestamp: bool = False
    strict: bool = False


def _compile(h: Hash, parentClass: str | None = None) -> dict[str, Spec]:
    specs: dict[str, Spec] = {}
    for node in h.nodes():
        key = node.getKey()
        attrs = node.getAttributes()
        spec = Spec(key)
        a = attrs.get("accessMode")
        if a is not None:
            spec.access = int(a)
        spec.classId = attrs.get("classId")
        if "allowedStates" in attrs:
            spec.states = frozenset(attrs["allowedStates"])
        if int(attrs.get("nodeType", 0)) == NodeType.NODE:
            value = node.getValue()
            if spec.classId == SLOT:
                spec.kind = _SLOT
            elif parentClass == OUTPUT_CHANNEL and key == "schema":
                spec.kind = _OUTPUT_SCHEMA
            else:
                spec.kind = {NDARRAY: _NDARRAY, IMAGEDATA: _IMAGE}.get(spec.classId, _NODE)
                spec.children = _compile(value, spec.classId) if isinstance(value, Hash) else {}
            specs[key] = spec
            continue
        spec.vtype = int(Types[attrs["valueType"]])
        spec.assignment = int(attrs.get("assignment", Assignment.OPTIONAL))
        if "defaultValue" in attrs:
            spec.default = attrs["defaultValue"]
        if "options" in attrs:
            options = attrs["options"]
            options = options.tolist() if hasattr(options, "tolist") else list(options)
            spec.options = frozenset(options)
            spec.optionsText = ",".join(str(x) for x in options)
        spec.minInc = attrs.get("minInc")
        spec.maxInc = attrs.get("maxInc")
        spec.minExc = attrs.get("minExc")
        spec.maxExc = attrs.get("maxExc")
        if "minSize" in attrs:
            spec.minSize = int(attrs["minSize"])
        if "maxSize" in attrs:
            spec.maxSize = int(attrs["maxSize"])
        if spec.classId in ("State", "AlarmCondition"):
            spec.special = spec.classId
        if "regex" in attrs and spec.vtype in (Types.STRING, Types.VECTOR_STRING):
            spec.regex = attrs["regex"]
            spec.pattern = _pattern(key, spec.regex)
        if "rowSchema" in attrs:
            spec.kind = _TABLE
            spec.row = _compile(attrs["rowSchema"].hash)
        spec.sized = spec.minSize is not None or spec.maxSize is not None
        spec.limited = not (spec.minInc is None and spec.maxInc is None and spec.minExc is None
                            and spec.maxExc is None)
        spec.checked = bool(spec.options is not None or spec.special or spec.sized or spec.limited
                            or spec.pattern is not None)
        specs[key] = spec
    return specs


def _pattern(key: str, regex: str) -> re.Pattern[str]:
    try:
        return re.compile(regex)
    except re.error as e:
        raise ValueError(f'The regex attribute of "{key}" is not a valid pattern: {regex!r} ({e})') from None


def _plan(schema: CoreSchema) -> dict[str, Spec]:
    """The compiled form of ``schema``, cached on full Schemas."""
    plan = getattr(schema, "_plan", None)
    if plan is None:
        plan = _compile(schema.hash)
        if isinstance(schema, Schema):
            schema._plan = plan
    return plan


def _run(rules: ValidationRules, timestamp: Timestamp | None, reconfiguring: bool, state: str | None) -> Run:
    """The settings of one validation."""
    run = Run()
    run.rules = rules
    # Every schema key must be looked at (not only the given ones) when defaults are injected,
    # mandatory keys are required or strict mode demands every key.
    run.full = rules.injectDefaults or not rules.allowMissingKeys or rules.strict
    if rules.injectTimestamps:
        ts = timestamp if timestamp is not None else Timestamp()
        run.stamp = Attributes()
        for name, value in ts.toDict().items():
            run.stamp.set(name, value, _UINT64)
    run.force = rules.forceInjectedTimestamp
    run.reconfiguring = reconfiguring
    run.state = state
    return run


class Validator:
    """Validates configuration Hashes against a Schema (Karabo's ``Validator``).

    ``Validator()`` has the rules Karabo's default constructor uses for instantiation
    configurations: inject defaults, require mandatory keys, refuse unknown keys, no timestamps.
    """

    def __init__(self, rules: ValidationRules | None = None) -> None:
        """Create a validator with ``rules`` (default: Karabo's instantiation rules)."""
        if rules is None:
            rules = ValidationRules(injectDefaults=True, allowUnrootedConfiguration=True,
                                    allowAdditionalKeys=False, allowMissingKeys=False,
                                    injectTimestamps=False)
        self.rules = rules

    def getValidationRules(self) -> ValidationRules:
        """The rules in use."""
        return self.rules

    def setValidationRules(self, rules: ValidationRules) -> None:
        """Replace the rules."""
        self.rules = rules

    def validate(self, schema: CoreSchema, configuration: Hash, timestamp: Timestamp | None = None, *,
                 reconfiguring: bool = False, currentState: State | str | None = None) -> Hash:
        """The validated copy of ``configuration`` (coerced, defaults and timestamps injected).

        With ``reconfiguring``, only RECONFIGURABLE keys are accepted, and only if
        ``currentState`` (when given) is in their ``allowedStates``, as a device's
        ``slotReconfigure`` requires.  Raises :class:`ValidationError` naming the path and rule.
        """
        rules = self.rules
        run = _run(rules, timestamp, reconfiguring, None if currentState is None else str(currentState))
        plan = _plan(schema)
        if not rules.allowUnrootedConfiguration:
            keys = configuration.getKeys()
            if len(keys) != 1:
                raise fail("Expecting a rooted input, i.e. a Hash with exactly one key (describing the "
                            "classId) at the top level", "", "rooted")
            if keys[0] != schema.rootName:
                raise fail(f'Wrong schema for given input. Schema describes class "{schema.rootName}", '
                            f'whilst input wants to configure class "{keys[0]}"', keys[0], "rooted")
            inner = configuration[keys[0]]
            if not isinstance(inner, Hash):
                raise fail(f'Parameter "{keys[0]}" has incorrect node type, expecting HASH', keys[0], "type")
            out = Hash()
            validated = Hash()
            _node(plan, inner, validated, "", run)
            out.set(keys[0], validated)
            return out
        out = Hash()
        _node(plan, configuration, out, "", run)
        return out


def _node(specs: dict[str, Spec], cfg: Hash | None, out: Hash, prefix: str, run: Run) -> None:
    """Validate the level ``cfg`` (None: absent) of a configuration into ``out``."""
    if run.full:
        given = {} if cfg is None else {n.getKey(): n for n in cfg.nodes()}
        for key, spec in specs.items():
            n = given.pop(key, None)
            if n is not None:
                _element(spec, n, out, prefix, run)
            else:
                _missing(spec, out, prefix, run)
        # Karabo reports the leftover keys of a level in alphabetical order.
        for key in sorted(given):
            _unknown(given[key], out, prefix, run)
    elif cfg is not None:
        sparse_level(specs, cfg, out, prefix, run, _element, _unknown)


def _unknown(n: Any, out: Hash, prefix: str, run: Run) -> None:
    """An element the schema lacks: copied if additional keys are allowed, else an error."""
    key = n.getKey()
    if not run.rules.allowAdditionalKeys:
        raise fail(f'Encountered unexpected configuration parameter: "{prefix}{key}"', prefix + key,
                   "unknown key")
    out.set(key, n.getValueAs(n.getType()))
    out.setAttributes(key, n.getAttributes())


def _missing(spec: Spec, out: Hash, prefix: str, run: Run) -> None:
    """Handle a schema element the configuration does not mention."""
    key = spec.key
    kind = spec.kind
    if kind == _NODE or kind == _NDARRAY or kind == _IMAGE:
        child = Hash()
        _node(spec.children, None, child, f"{prefix}{key}.", run)
        if run.rules.injectDefaults or len(child):
            out.set(key, child)
            if spec.classId is not None:
                out.setAttribute(key, "__classId", spec.classId, Types.STRING)
        return
    if kind == _SLOT:
        return
    if kind == _OUTPUT_SCHEMA:
        if run.rules.injectDefaults:
            out.set(key, Hash())
        return
    rules = run.rules
    if rules.strict:
        raise fail(f"Missing parameter '{prefix}{key}' in strict mode", prefix + key, "strict")
    if spec.assignment == Assignment.MANDATORY and not rules.allowMissingKeys:
        raise fail(f'Missing mandatory parameter: "{prefix}{key}"', prefix + key, "mandatory")
    if rules.injectDefaults and spec.default is not _MISSING:
        value = spec.default
        if kind == _TABLE:
            value = [_row(spec, r, f"{prefix}{key}[{i}]", run) for i, r in enumerate(value)]
        out.setAs(key, value, spec.vtype)
        _stamp(out, key, None, run)
        if spec.classId is not None:
            _mark(spec, out, key)


def _mark(spec: Spec, out: Hash, key: str) -> None:
    """Karabo tags validated elements with their class id, and State/AlarmCondition leaves with a flag."""
    if spec.special == "State":
        out.setAttribute(key, "indicateState", True, Types.BOOL)
    elif spec.special == "AlarmCondition":
        out.setAttribute(key, "indicateAlarm", True, Types.BOOL)
    out.setAttribute(key, "__classId", spec.classId, Types.STRING)


def _stamp(out: Hash, key: str, attrs: Any, run: Run) -> None:
    """Time-stamp a leaf that already carries the attributes ``attrs`` (None: no attributes)."""
    if run.stamp is None:
        return
    if attrs is None:
        out.setAttributes(key, run.stamp)
        return
    if not run.force and "sec" in attrs and "frac" in attrs and "tid" in attrs:
        return
    for name, value in run.stamp.items():
        out.setAttribute(key, name, value, _UINT64)


def _access(spec: Spec, path: str, run: Run) -> None:
    """Reconfiguration: only RECONFIGURABLE elements allowed in the current state may be written."""
    if spec.access != AccessMode.RECONFIGURABLE:
        mode = AccessMode(spec.access).name if spec.access in (1, 2, 4) else str(spec.access)
        why = ("it can only be set at instantiation" if spec.access == AccessMode.INITONLY
               else "it is read-only")
        raise fail(f'Encountered unexpected configuration parameter: "{path}" ({mode}: {why})',
                    path, "access mode")
    if run.state is not None and spec.states is not None and run.state not in spec.states:
        raise fail(f'Encountered unexpected configuration parameter: "{path}" (not allowed in state '
                    f'"{run.state}", allowed states: {",".join(sorted(spec.states))})', path,
                    "allowed states")


def _element(spec: Spec, n: Any, out: Hash, prefix: str, run: Run) -> None:
    """Validate the configuration node ``n`` described by ``spec`` into ``out``."""
    # The leaf branch is the hot path of every reconfiguration: keep its calls few.
    key = spec.key
    kind = spec.kind
    t = n.getType()
    if kind <= _TABLE:
        if run.reconfiguring and (spec.access != _RECONFIGURABLE or run.state is not None
                                  and spec.states is not None and run.state not in spec.states):
            _access(spec, prefix + key, run)
        vtype = spec.vtype
        if t == vtype:
            value = n.getValueAs(t)
        else:
            if run.rules.strict:
                raise fail(f"Expect '{Types(vtype).name}', but got '{Types(t).name}' for {prefix}{key}",
                            prefix + key, "strict")
            value = _cast(n, t, vtype, prefix + key)
        if spec.checked:   # before the rows: Karabo counts a table's rows first
            check(spec, value, prefix + key)
        if kind == _TABLE:
            value = [_row(spec, r, f"{prefix}{key}[{i}]", run) for i, r in enumerate(value)]
        out.setAs(key, value, vtype)
        attrs = n.getAttributes()
        if len(attrs):
            out.setAttributes(key, attrs)
            _stamp(out, key, attrs, run)
        elif run.stamp is not None:
            out.setAttributes(key, run.stamp)
        if spec.classId is not None:
            _mark(spec, out, key)
        return
    if kind == _SLOT:
        value = n.getValue()
        if not (isinstance(value, Hash) and not len(value)):
            raise fail(f"There is configuration provided for Slot '{prefix}{key}'", prefix + key, "slot")
        return
    if kind == _OUTPUT_SCHEMA:
        value = n.getValue()
        if isinstance(value, Hash) and not len(value):   # as injected by defaults: nothing configured
            out.set(key, Hash())
            return
        raise fail(f"Configuring output channel schema is not allowed: '{prefix}{key}'", prefix + key,
                    "output schema")
    # a node
    path = prefix + key
    if t != Types.HASH:
        raise fail(f'Parameter "{path}" has incorrect node type, expecting HASH not {Types(t).name}',
                    path, "node type")
    value = n.getValueAs(t)
    if kind == _NDARRAY and isinstance(value, NDArray):
        if run.reconfiguring:
            _access(spec, path, run)
        _check_ndarray(spec, value, path)
        out.set(key, value)
        return
    if kind == _IMAGE and isinstance(value, ImageData):
        if run.reconfiguring:
            _access(spec, path, run)
        out.set(key, value)
        return
    if run.reconfiguring and run.state is not None and spec.states is not None and run.state not in spec.states:
        _access(spec, path, run)
    child = Hash()
    _node(spec.children, value, child, path + ".", run)
    out.set(key, child)
    attrs = n.getAttributes()
    if len(attrs):
        out.setAttributes(key, attrs)
    if spec.classId is not None:
        out.setAttribute(key, "__classId", spec.classId, Types.STRING)


def _cast(n: Any, t: int, vtype: int, path: str) -> Any:
    """The value of ``n`` converted from type ``t`` to ``vtype`` the way Karabo casts, or an error."""
    try:
        value = n.getValueAs(vtype)
        # Karabo casts only 0 and 1 to BOOL
        if vtype == Types.BOOL and Types.INT8 <= t <= Types.UINT64 and n.getValue() not in (0, 1):
            raise ValueError("not 0 or 1")
        return value
    except (TypeError, ValueError, OverflowError):
        try:
            text = n.getValueAs(Types.STRING)
        except (TypeError, ValueError):
            text = ""
        raise fail(f'Failed to cast the value of parameter "{path}" from {Types(t).name} to '
                    f"{Types(vtype).name} (value as string: '{text}')", path, "type") from None


# Table rows are always completed with their columns' defaults and never time-stamped (as in Karabo).
_ROW_RULES = ValidationRules(injectDefaults=True, allowMissingKeys=False, injectTimestamps=False)


def _row(spec: Spec, row: Any, path: str, run: Run) -> Hash:
    if not isinstance(row, Hash):
        raise fail(f'Row {path} of table must be a Hash, not {type(row).__name__}', path, "type")
    out = Hash()
    _node(spec.row, row, out, path + ".", _run(_ROW_RULES, None, False, None))
    return out


def _check_ndarray(spec: Spec, array: NDArray, path: str) -> None:
    """The array's type and shape must match the declared ones (declared extent 0: any)."""
    children = spec.children or {}
    declared_type = children.get("type")
    data = array.getArray()
    if declared_type is not None and declared_type.default is not _MISSING:
        want = Types(int(declared_type.default))
        got = Types.fromDtype(data.dtype)
        if got != want:
            raise fail(f'NDArray "{path}" holds {got.name} data, but the schema requires {want.name}',
                        path, "ndarray type")
    declared_shape = children.get("shape")
    if declared_shape is not None and declared_shape.default is not _MISSING:
        want_shape = [int(x) for x in declared_shape.default]
        if want_shape and (len(want_shape) != data.ndim
                           or any(w and w != g for w, g in zip(want_shape, data.shape, strict=True))):
            raise fail(f'NDArray "{path}" has shape {list(data.shape)}, but the schema requires '
                        f"{want_shape} (0: any extent)", path, "ndarray shape")
