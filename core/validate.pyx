# cython: language_level=3
"""The hot half of pykarabo.schema.validator: compiled schema elements, value checks, and the
per-key loop of sparse validations (every device reconfiguration and internal ``set``).

Python (``pykarabo/schema/validator.py``) compiles Schemas into :class:`Spec` trees and handles
everything rare (defaults, nodes, tables, casts, access errors); this module walks a configuration
level in C, reading and building Hash nodes directly instead of through their Python methods.
"""

cimport cython
from pykarabo._core.hash cimport Attributes, Hash, Node, new_node
from pykarabo._core.types cimport T_HASH, T_STRING, T_UINT64, T_VECTOR_STRING

import numpy as np

from pykarabo._core.hash import valueToText
from pykarabo.errors import ValidationError

# Kinds of schema elements, as the validator treats them (leaves first: ``kind <= TABLE`` tests
# for a value-carrying element).
LEAF, TABLE, NODE, SLOT, NDARRAY, IMAGE, OUTPUT_SCHEMA = range(7)
cdef int _LEAF = LEAF
cdef int _TABLE = TABLE
cdef int _NODE = NODE
cdef int _RECONFIGURABLE = 4

# A Spec's ``default`` when the element has no default value.
MISSING = object()

cdef frozenset _STATE_NAMES = frozenset()
cdef frozenset _ALARM_NAMES = frozenset()
cdef object _ARRAY = np.ndarray


def set_special_names(states, alarms):
    """The valid State and AlarmCondition strings (given by Python, which owns those enums)."""
    global _STATE_NAMES, _ALARM_NAMES
    _STATE_NAMES = frozenset(states)
    _ALARM_NAMES = frozenset(alarms)


@cython.final
cdef class Spec:
    """One compiled schema element: what the validator needs to know about it, as C fields."""

    cdef public str key
    cdef public int kind, vtype, access, assignment
    cdef public object default, options, minInc, maxInc, minExc, maxExc, minSize, maxSize
    cdef public str optionsText, classId, special, regex
    cdef public frozenset states
    cdef public dict children, row
    cdef public object pattern         # compiled regex of RegexString elements, or None
    cdef public bint checked           # whether the value has rules beyond its type
    cdef public bint sized             # has minSize or maxSize
    cdef public bint limited           # has one of the min/max limits

    def __init__(self, str key):
        self.key = key
        self.kind = _LEAF
        self.vtype = -1
        self.access = 1        # INITONLY
        self.assignment = 0    # OPTIONAL
        self.default = MISSING
        self.optionsText = ""
        self.special = ""      # "State" / "AlarmCondition" leaves get extra checks and attributes


@cython.final
cdef class Run:
    """The settings of one validation: rules, timestamp attributes, reconfiguration state."""

    cdef public object rules
    cdef public bint full              # every schema key is visited (defaults, mandatory, strict)
    cdef public bint force             # overwrite timestamps the configuration brings
    cdef public bint reconfiguring
    cdef public str state              # current device state, or None
    cdef public Attributes stamp       # the sec/frac/tid attributes for every validated leaf, or None


def fail(str message, str path, str rule):
    """A ValidationError naming the ``path`` and the violated ``rule``."""
    error = ValidationError(message)
    error.path = path
    error.rule = rule
    return error


def quoted(value, int vtype):
    """A value as Karabo's messages show it (strings in single quotes)."""
    if vtype == T_STRING:
        return f"'{value}'"
    try:
        return valueToText(value, vtype)
    except TypeError:
        return str(value)


cpdef check(Spec spec, value, str path):
    """Sizes, State/AlarmCondition names, regex, options and limits of a value of the element's type."""
    cdef Py_ssize_t size
    if spec.sized:
        size = len(value)
        if spec.kind == _TABLE:
            _check_rows(spec, size, path)
        else:
            if spec.minSize is not None and size < spec.minSize:
                raise fail(f'Number of elements ({size}) for (vector-)parameter "{path}" is smaller than '
                           f"lower bound ({spec.minSize})", path, "minSize")
            if spec.maxSize is not None and size > spec.maxSize:
                raise fail(f'Number of elements ({size}) for (vector-)parameter "{path}" is greater than '
                           f"upper bound ({spec.maxSize})", path, "maxSize")
    if spec.special:
        if spec.special == "State" and value not in _STATE_NAMES:
            raise fail(f"Value '{value}' for parameter \"{path}\" is not a valid state string", path, "state")
        if spec.special == "AlarmCondition" and value not in _ALARM_NAMES:
            raise fail(f"Value '{value}' for parameter \"{path}\" is not a valid alarm string", path, "alarm")
    if spec.pattern is not None:
        _check_regex(spec, value, path)
    if spec.options is not None and not isinstance(value, (list, _ARRAY)) and value not in spec.options:
        raise fail(f"Value {quoted(value, spec.vtype)} for parameter \"{path}\" is not one of the valid "
                   f"options: {spec.optionsText}", path, "options")
    if spec.limited:
        _check_limits(spec, value, path)


cdef _check_rows(Spec spec, Py_ssize_t size, str path):
    """Karabo counts table rows with their own messages."""
    if spec.minSize is not None and size < spec.minSize:
        raise fail(f"Table at '{path}' must have at least {spec.minSize} row{'' if spec.minSize == 1 else 's'}"
                   f"; it has {size}.", path, "minSize")
    if spec.maxSize is not None and size > spec.maxSize:
        raise fail(f"Table at '{path}' must have no more than {spec.maxSize} "
                   f"row{'' if spec.maxSize == 1 else 's'}; it has {size}.", path, "maxSize")


cdef _check_regex(Spec spec, value, str path):
    """Middlelayer's RegexString rule: the pattern must match at the start of the string(s)."""
    if spec.vtype == T_VECTOR_STRING:
        for i, item in enumerate(value):
            if spec.pattern.match(item) is None:
                raise fail(f"Value '{item}' at index {i} of parameter \"{path}\" does not comply with regex "
                           f"pattern {spec.regex}", path, "regex")
    elif spec.pattern.match(value) is None:
        raise fail(f"Value '{value}' for parameter \"{path}\" does not comply with regex pattern {spec.regex}",
                   path, "regex")


cdef _check_limits(Spec spec, value, str path):
    if spec.minInc is not None and value < spec.minInc or spec.minExc is not None and value <= spec.minExc:
        bound = spec.minInc if spec.minInc is not None and value < spec.minInc else spec.minExc
        raise fail(f'Value {quoted(value, spec.vtype)} for parameter "{path}" is out of lower bound '
                   f"{quoted(bound, spec.vtype)}", path, "minExc" if bound is spec.minExc else "minInc")
    if spec.maxInc is not None and value > spec.maxInc or spec.maxExc is not None and value >= spec.maxExc:
        bound = spec.maxInc if spec.maxInc is not None and value > spec.maxInc else spec.maxExc
        raise fail(f'Value {quoted(value, spec.vtype)} for parameter "{path}" is out of upper bound '
                   f"{quoted(bound, spec.vtype)}", path, "maxExc" if bound is spec.maxExc else "maxInc")


def sparse_level(dict specs, Hash cfg, Hash out, str prefix, Run run, element, unknown):
    """Validate the keys of one configuration level that are given (nothing is injected).

    Plain nodes and leaves of exactly the schema's type are handled here; every other key is
    passed to ``element(spec, node, out, prefix, run)`` or, if the schema lacks it,
    ``unknown(node, out, prefix, run)``.
    """
    cdef Node n, o
    cdef Spec spec
    cdef Attributes a
    cdef Attributes stamp = run.stamp
    cdef str state = run.state
    cdef bint reconfiguring = run.reconfiguring
    for n in cfg._d.values():      # callbacks write to ``out`` only, never to ``cfg``
        spec = specs.get(n.key)
        if spec is None:
            unknown(n, out, prefix, run)
            continue
        if (spec.kind == _NODE and spec.classId is None and n.type == T_HASH and type(n.value) is Hash
                and not (reconfiguring and state is not None and spec.states is not None
                         and state not in spec.states)):
            child = Hash()
            sparse_level(spec.children, n.value, child, prefix + n.key + ".", run, element, unknown)
            o = new_node(n.key, child, T_HASH)
            out._d[n.key] = o
            if n.attrs is not None and n.attrs._d:
                o.attrs = _copy_attrs(n.attrs)
            continue
        if (spec.kind != _LEAF or n.type != spec.vtype or spec.classId is not None
                or reconfiguring and (spec.access != _RECONFIGURABLE or state is not None
                                      and spec.states is not None and state not in spec.states)):
            element(spec, n, out, prefix, run)
            continue
        value = n.value
        if spec.checked:
            check(spec, value, prefix + n.key)
        if type(value) is list:
            value = list(value)
        o = new_node(n.key, value, n.type)
        out._d[n.key] = o
        a = n.attrs
        if a is not None and a._d:
            o.attrs = _copy_attrs(a)
            if stamp is not None and (run.force or not ("sec" in a._d and "frac" in a._d and "tid" in a._d)):
                _add_stamp(o.attrs, stamp)
        elif stamp is not None:
            o.attrs = _copy_attrs(stamp)


cdef Attributes _copy_attrs(Attributes a):
    cdef Attributes c = Attributes.__new__(Attributes)
    cdef Node m
    c._d = {}
    for m in a._d.values():
        value = m.value
        c._d[m.key] = new_node(m.key, list(value) if type(value) is list else value, m.type)
    return c


cdef _add_stamp(Attributes target, Attributes stamp):
    cdef Node m
    for m in stamp._d.values():
        target._d[m.key] = new_node(m.key, m.value, T_UINT64)
