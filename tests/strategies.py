"""Hypothesis strategies for Karabo Hashes, shared by every test of the project.

Everything a Hash can hold is generated here once: valid keys, a typed value for each storable
Karabo type (plus the NDArray and ImageData Hash subclasses), whole Hashes with attributes built
through the public API, and plain Python values for the type inference rules.  Example sizes are
kept small so that thousands of examples run in seconds.

``same_value`` compares values the way a round trip must preserve them (bit-exact floats, -0.0
distinct from 0.0, arrays by dtype-converted bytes, Hashes with ``fullyEqual``).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pykarabo import Encoding, Hash, ImageData, NDArray, Schema, Types

# ----------------------------------------------------------------------------------------------
# Type catalogues

INT_RANGES: dict[Types, tuple[int, int]] = {
    Types.INT8: (-(2**7), 2**7 - 1),
    Types.UINT8: (0, 2**8 - 1),
    Types.INT16: (-(2**15), 2**15 - 1),
    Types.UINT16: (0, 2**16 - 1),
    Types.INT32: (-(2**31), 2**31 - 1),
    Types.UINT32: (0, 2**32 - 1),
    Types.INT64: (-(2**63), 2**63 - 1),
    Types.UINT64: (0, 2**64 - 1),
}
"""Inclusive value range of every Karabo integer type."""

NUMERIC_SCALARS: tuple[Types, ...] = (
    Types.BOOL, *INT_RANGES, Types.FLOAT, Types.DOUBLE, Types.COMPLEX_FLOAT, Types.COMPLEX_DOUBLE)
"""Scalar types whose VECTOR_* form is a 1-d numpy array."""

HASH_LIKE: frozenset[Types] = frozenset(
    {Types.HASH, Types.VECTOR_HASH, Types.HASH_POINTER, Types.VECTOR_HASH_POINTER, Types.SCHEMA})
"""Types whose values contain Hashes (generated only while nesting depth remains)."""

STORABLE_TYPES: tuple[Types, ...] = (
    *NUMERIC_SCALARS,
    *(t.vectorType for t in NUMERIC_SCALARS),
    Types.CHAR, Types.VECTOR_CHAR, Types.STRING, Types.VECTOR_STRING, Types.BYTE_ARRAY,
    Types.NONE, Types.VECTOR_NONE,
    Types.HASH, Types.VECTOR_HASH, Types.HASH_POINTER, Types.VECTOR_HASH_POINTER, Types.SCHEMA,
)
"""Every type a Hash element can hold (VECTOR_SCHEMA and the category codes cannot be stored)."""

ARRAY_KINDS: tuple[str, ...] = ("NDArray", "ImageData")
"""Hash subclasses (stored as HASH with ``__classId``) that ``typed_values`` also accepts."""

ATTRIBUTE_TYPES: tuple[Types, ...] = tuple(
    t for t in STORABLE_TYPES if t not in (Types.HASH, Types.HASH_POINTER, Types.VECTOR_HASH_POINTER))
"""Attribute types C++ Karabo reads back: HASH attributes are written but unreadable there
(spec §3.7) and pointer types never occur as attributes."""

NDARRAY_DTYPES: tuple[np.dtype, ...] = tuple(np.dtype(c) for c in "?bBhHiIqQfd")
"""The numpy dtypes an NDArray supports (bool, int8..uint64, float32, float64)."""

UNSUPPORTED_DTYPES: tuple[np.dtype, ...] = tuple(
    np.dtype(c) for c in ("f2", "c8", "c16", "U3", "S3", "O", "M8[s]", "m8[s]", "V4"))
"""numpy dtypes that cannot become an NDArray."""

Kind = Types | str
"""A ``typed_values`` selector: a Karabo type or one of ``ARRAY_KINDS``."""

ALL_KINDS: tuple[Kind, ...] = STORABLE_TYPES + ARRAY_KINDS
"""Everything a Hash element can hold."""

# ----------------------------------------------------------------------------------------------
# Keys and scalar building blocks

_TEXT_CHARS = st.characters(exclude_categories=("Cs",))
_KEY_CHARS = st.characters(exclude_categories=("Cs",), exclude_characters=".\x00")


def _fits_key(k: str) -> bool:
    return len(k.encode("utf-8")) <= 255


_KEYS = st.one_of(
    st.text(_KEY_CHARS, max_size=8),
    st.text(_KEY_CHARS, min_size=60, max_size=255).filter(_fits_key),
    # the byte limit itself, in one- and multi-byte characters
    st.sampled_from(("k" * 255, "é" * 127 + "k", "€" * 85)),
)


def keys() -> st.SearchStrategy[str]:
    """Valid Hash keys: no '.', no NUL, at most 255 UTF-8 bytes (the empty key is valid)."""
    return _KEYS


def texts(max_size: int = 12) -> st.SearchStrategy[str]:
    """Any surrogate-free unicode text (NUL included)."""
    return st.text(_TEXT_CHARS, max_size=max_size)


def _ints(t: Types) -> st.SearchStrategy[int]:
    lo, hi = INT_RANGES[t]
    # the range ends are the interesting values: make sure they come up often
    return st.one_of(st.sampled_from((lo, hi, 0)), st.integers(lo, hi))


def scalars(t: Types) -> st.SearchStrategy[Any]:
    """Canonical Python values of a numeric scalar type (FLOAT values are binary32 values)."""
    if t == Types.BOOL:
        return st.booleans()
    if t in INT_RANGES:
        return _ints(t)
    if t == Types.FLOAT:
        return st.floats(width=32)
    if t == Types.DOUBLE:
        return st.floats()
    if t == Types.COMPLEX_FLOAT:
        return st.complex_numbers(width=64)
    if t == Types.COMPLEX_DOUBLE:
        return st.complex_numbers()
    raise ValueError(f"{t!r} is not a numeric scalar type")


def numeric_vectors(t: Types, max_size: int = 5) -> st.SearchStrategy[Any]:
    """A VECTOR_* value of numeric type ``t``: a numpy array of the exact dtype or a list."""
    items = scalars(t.elementType)
    return st.one_of(
        st.lists(items, max_size=max_size),
        st.lists(items, max_size=max_size).map(lambda xs: np.array(xs, dtype=t.dtype)),
    )


def ndarrays(dtypes: tuple[np.dtype, ...] = NDARRAY_DTYPES, min_dims: int = 0,
             max_dims: int = 3) -> st.SearchStrategy[np.ndarray]:
    """Arrays of supported dtypes, rank 0..3, either byte order, sometimes not C-contiguous."""

    shapes = hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=3)
    arrays = st.sampled_from([dt.newbyteorder(o) for dt in dtypes for o in ("<", ">")]).flatmap(
        lambda dt: _arrays(dt, shapes))

    @st.composite
    def build(draw: Callable) -> np.ndarray:
        arr = draw(arrays)
        # a transposed view is Fortran-ordered: NDArray must make it C-contiguous
        return arr.T if arr.ndim >= 2 and draw(st.booleans()) else arr

    return build()


@lru_cache(maxsize=None)
def _arrays(dtype: np.dtype, shape: Any) -> st.SearchStrategy[np.ndarray]:
    """Cached ``hnp.arrays`` (building it per draw would dominate the run time)."""
    return hnp.arrays(dtype, shape)


def image_data() -> st.SearchStrategy[ImageData]:
    """ImageData of 2-d (gray) or 3-d (RGB/RGBA) images with default or explicit metadata."""

    @st.composite
    def build(draw: Callable) -> ImageData:
        dt = draw(st.sampled_from(tuple(np.dtype(c) for c in "BHhIf")))
        shape = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
        channels = draw(st.sampled_from((None, 3, 4)))
        if channels:
            shape = (*shape, channels)
        arr = draw(_arrays(dt, shape))
        if draw(st.booleans()):
            return ImageData(arr)
        return ImageData(arr, encoding=draw(st.sampled_from(list(Encoding))),
                         rotation=draw(st.sampled_from((-1, 0, 90, 180, 270))),
                         flipX=draw(st.booleans()), flipY=draw(st.booleans()))

    return build()


# ----------------------------------------------------------------------------------------------
# Typed values and Hashes


class _Budget:
    """How many more elements one top-level Hash may get (keeps nested examples small)."""

    def __init__(self, leaves: int) -> None:
        self.leaves = leaves


# Strategy objects are cached: building and validating them anew on every draw costs more
# than drawing from them.


@lru_cache(maxsize=None)
def _leaf_values(kind: Kind) -> st.SearchStrategy[Any]:
    """Values of a kind that holds no nested Hash (NDArray / ImageData are built per draw)."""
    if kind == "NDArray":
        return ndarrays().map(NDArray)
    if kind == "ImageData":
        return image_data()
    t = Types(kind)
    if t in NUMERIC_SCALARS:
        return scalars(t)
    if t.isVector and t.elementType in NUMERIC_SCALARS:
        return numeric_vectors(t)
    if t == Types.CHAR:
        return st.characters(max_codepoint=255)
    if t == Types.VECTOR_CHAR:
        return st.binary(max_size=12)
    if t == Types.BYTE_ARRAY:
        return st.binary(max_size=12).map(bytearray)
    if t == Types.STRING:
        return texts()
    if t == Types.VECTOR_STRING:
        return st.lists(texts(6), max_size=4)
    if t == Types.NONE:
        return st.none()
    if t == Types.VECTOR_NONE:
        return st.lists(st.none(), max_size=3)
    raise ValueError(f"{t!r} cannot be stored in a Hash")


@lru_cache(maxsize=None)
def _up_to(n: int) -> st.SearchStrategy[int]:
    return st.integers(0, n)


@lru_cache(maxsize=None)
def _unique_keys(n: int) -> st.SearchStrategy[list[str]]:
    return st.lists(keys(), min_size=n, max_size=n, unique=True)


_SCHEMA_NAMES = st.text(_KEY_CHARS, max_size=10).filter(_fits_key)  # no NUL: C++ truncates there


def _draw_value(draw: Callable, kind: Kind, depth: int, budget: _Budget,
                kinds: tuple[Kind, ...] | None = None) -> tuple[Any, Types]:
    """One (value, type) of ``kind``; Hash-valued kinds nest at most ``depth`` more levels.

    Nested Hashes hold elements of ``kinds`` (default: every kind).
    """
    kinds = ALL_KINDS if kinds is None else kinds
    if kind not in HASH_LIKE:
        return draw(_leaf_values(kind)), Types.HASH if kind in ARRAY_KINDS else Types(kind)
    t = Types(kind)
    if t in (Types.HASH, Types.HASH_POINTER):
        return _draw_hash(draw, depth - 1, budget, kinds=kinds), t
    if t in (Types.VECTOR_HASH, Types.VECTOR_HASH_POINTER):
        n = draw(_up_to(3))
        return [_draw_hash(draw, depth - 1, budget, kinds=kinds) for _ in range(n)], t
    return Schema(draw(_SCHEMA_NAMES), _draw_hash(draw, depth - 1, budget, kinds=kinds)), t


@lru_cache(maxsize=None)
def _kinds(choices: tuple[Kind, ...], depth: int) -> st.SearchStrategy[Kind]:
    """A choice among ``choices``, without Hash-valued kinds once the depth is used up."""
    return st.sampled_from(choices if depth > 0 else tuple(
        k for k in choices if k not in HASH_LIKE and k not in ARRAY_KINDS))


def _draw_hash(draw: Callable, depth: int, budget: _Budget, with_attrs: bool = True,
               kinds: tuple[Kind, ...] = ALL_KINDS) -> Hash:
    """A Hash built with ``setAs``/``setAttribute``; Hash-valued elements only while depth > 0."""
    h = Hash()
    n = draw(_up_to(min(4, budget.leaves)))
    budget.leaves -= n
    for key in draw(_unique_keys(n)):
        value, t = _draw_value(draw, draw(_kinds(kinds, depth)), depth, budget, kinds)
        # the "." of a key with dots would be a path separator: NUL never occurs in keys
        h.setAs(key, value, t, sep="\x00")
        if not with_attrs:
            continue
        m = draw(_up_to(min(3, budget.leaves)))
        budget.leaves -= m
        for name in draw(_unique_keys(m)):
            av, at = _draw_value(draw, draw(_kinds(ATTRIBUTE_TYPES, depth)), depth, budget, kinds)
            h.setAttribute(key, name, av, type=at, sep="\x00")
    return h


def typed_values(kind: Kind | None = None, max_depth: int = 1) -> st.SearchStrategy[tuple[Any, Types]]:
    """``(value, type)`` pairs for ``h.setAs(path, value, type)``.

    ``kind`` is a storable Karabo type, "NDArray" or "ImageData" (both typed HASH), or None for
    any of them.  Hash-valued types contain Hashes nested at most ``max_depth`` levels.
    """

    @st.composite
    def build(draw: Callable) -> tuple[Any, Types]:
        k = kind if kind is not None else draw(_kinds(ALL_KINDS, max_depth))
        return _draw_value(draw, k, max(max_depth, 1), _Budget(6))

    return build()


def hashes(max_depth: int = 3, max_leaves: int = 24, attributes: bool = True,
           kinds: tuple[Kind, ...] = ALL_KINDS) -> st.SearchStrategy[Hash]:
    """Hashes of every storable type, with attributes of every attribute type.

    ``max_depth`` bounds the nesting of Hash / vector-of-Hash / Schema values, ``max_leaves`` the
    total number of elements and attributes in one example; ``kinds`` restricts element values
    (at every level) to some types.
    """

    @st.composite
    def build(draw: Callable) -> Hash:
        return _draw_hash(draw, max_depth, _Budget(max_leaves), attributes, kinds)

    return build()


# ----------------------------------------------------------------------------------------------
# Plain Python values for type inference


def _expected_int_type(values: list[int]) -> Types | None:
    """The narrowest of INT32/UINT32/INT64/UINT64 holding every value, None if none does."""
    for t in (Types.INT32, Types.UINT32, Types.INT64, Types.UINT64):
        lo, hi = INT_RANGES[t]
        if all(lo <= v <= hi for v in values):
            return t
    return None


_ANY_INT = st.one_of(*(_ints(t) for t in INT_RANGES))

_NUMPY_SCALARS: dict[type, Types] = {
    np.int8: Types.INT8, np.uint8: Types.UINT8, np.int16: Types.INT16, np.uint16: Types.UINT16,
    np.int32: Types.INT32, np.uint32: Types.UINT32, np.int64: Types.INT64, np.uint64: Types.UINT64,
    np.float32: Types.FLOAT, np.float64: Types.DOUBLE, np.complex64: Types.COMPLEX_FLOAT,
    np.complex128: Types.COMPLEX_DOUBLE, np.bool_: Types.BOOL,
}


def _numpy_scalars() -> st.SearchStrategy[tuple[Any, Types]]:
    return st.sampled_from(sorted(_NUMPY_SCALARS.items(), key=lambda kv: kv[1])).flatmap(
        lambda kv: hnp.from_dtype(np.dtype(kv[0])).map(lambda x: (kv[0](x), kv[1])))


def plain_values() -> st.SearchStrategy[tuple[Any, Types | str]]:
    """``(value, expected type)`` of untyped Python values, per the karabind rules (spec §7).

    The expected type is a Karabo type, or "NDArray" for numpy arrays (stored as HASH).
    """
    ints = _ANY_INT.map(lambda v: (v, _expected_int_type([v])))
    int_lists = st.lists(_ANY_INT, min_size=1, max_size=5).filter(
        lambda vs: _expected_int_type(vs) is not None).map(
        lambda vs: (vs, _expected_int_type(vs).vectorType))
    return st.one_of(
        st.booleans().map(lambda v: (v, Types.BOOL)),
        ints,
        st.floats().map(lambda v: (v, Types.DOUBLE)),
        st.complex_numbers().map(lambda v: (v, Types.COMPLEX_DOUBLE)),
        texts().map(lambda v: (v, Types.STRING)),
        st.binary(max_size=8).map(lambda v: (v, Types.VECTOR_CHAR)),
        st.binary(max_size=8).map(lambda v: (bytearray(v), Types.BYTE_ARRAY)),
        st.just((None, Types.NONE)),
        _numpy_scalars(),
        ndarrays().map(lambda a: (a, "NDArray")),
        st.just(([], Types.VECTOR_STRING)),
        st.lists(st.booleans(), min_size=1, max_size=5).map(lambda v: (v, Types.VECTOR_BOOL)),
        int_lists,
        st.lists(st.floats(), min_size=1, max_size=5).map(lambda v: (v, Types.VECTOR_DOUBLE)),
        st.lists(texts(4), min_size=1, max_size=4).map(lambda v: (v, Types.VECTOR_STRING)),
        st.lists(st.none(), min_size=1, max_size=3).map(lambda v: (v, Types.VECTOR_NONE)),
        st.lists(hashes(max_depth=0, max_leaves=3), min_size=1, max_size=3).map(
            lambda v: (v, Types.VECTOR_HASH)),
        st.dictionaries(keys(), _ANY_INT, max_size=3).map(lambda d: (d, Types.HASH)),
        st.lists(st.dictionaries(keys(), texts(3), max_size=2), min_size=1, max_size=3).map(
            lambda v: (v, Types.VECTOR_HASH)),
    )


# ----------------------------------------------------------------------------------------------
# Comparison


def _float_bits(x: float) -> bytes:
    # every NaN is "the same value": Python floats do not keep NaN payloads reliably
    return b"nan" if math.isnan(x) else struct.pack("<d", x)


def same_value(got: Any, expected: Any) -> bool:
    """Whether ``got`` (read back from a Hash) is ``expected`` (what was stored), bit-exactly.

    Arrays compare by shape and by bytes after converting ``expected`` to ``got``'s dtype (so a
    list or a big-endian array matches the little-endian array the Hash holds); floats compare
    by bit pattern except that all NaNs are equal; Hashes compare with ``fullyEqual``.
    """
    if isinstance(expected, NDArray) and not isinstance(got, Hash):
        expected = expected.getArray()
    if isinstance(got, np.ndarray):
        if isinstance(expected, (bytes, bytearray, memoryview)):
            exp = np.frombuffer(expected, np.uint8)
        elif isinstance(expected, np.ndarray):
            exp = expected
        else:  # a list: convert exactly (np.asarray would pass big ints through float64)
            exp = np.array(expected, dtype=got.dtype)
        if exp.shape != got.shape:
            return False
        exp = exp.astype(got.dtype)
        if got.dtype.kind in "fc":
            nan = np.isnan(got)
            if not (nan == np.isnan(exp)).all():
                return False
            got, exp = got[~nan], exp[~nan]
        return got.tobytes() == exp.tobytes()
    if isinstance(got, Hash):
        return isinstance(expected, Hash) and got.fullyEqual(expected)
    if isinstance(got, Schema):
        return isinstance(expected, Schema) and got == expected
    if isinstance(got, list):
        return (isinstance(expected, list) and len(got) == len(expected)
                and all(same_value(a, b) for a, b in zip(got, expected)))
    if isinstance(got, (bytes, bytearray, memoryview)):
        return (isinstance(expected, (bytes, bytearray, memoryview, np.ndarray))
                and bytes(memoryview(got).cast("B")) == bytes(memoryview(expected).cast("B")))
    if type(got) is float:
        return type(expected) in (float, int) and _float_bits(got) == _float_bits(float(expected))
    if type(got) is complex:
        return (type(expected) is complex and same_value(got.real, expected.real)
                and same_value(got.imag, expected.imag))
    return type(got) is type(expected) and got == expected


# ----------------------------------------------------------------------------------------------
# Schemas (pykarabo.schema): random declarations and configurations for them

SCHEMA_LEAF_TYPES: tuple[Types, ...] = (
    Types.BOOL, *INT_RANGES, Types.FLOAT, Types.DOUBLE, Types.STRING, Types.VECTOR_BOOL,
    Types.VECTOR_INT32, Types.VECTOR_UINT8, Types.VECTOR_DOUBLE, Types.VECTOR_STRING)
"""Leaf types the schema strategies declare."""

SCHEMA_STATES: tuple[str, ...] = ("ON", "OFF", "MOVING", "ERROR", "INIT")
"""States used in generated ``allowedStates``."""

_SCHEMA_KEYS = st.from_regex(r"[a-z_][A-Za-z0-9_]{0,5}", fullmatch=True)


def schema_values(t: Types) -> st.SearchStrategy[Any]:
    """Values of a schema leaf type (no NaN: limits and options compare values)."""
    if t == Types.FLOAT:
        return st.floats(width=32, allow_nan=False)
    if t == Types.DOUBLE:
        return st.floats(allow_nan=False)
    if t == Types.STRING:
        return st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=6)
    if t == Types.VECTOR_STRING:
        return st.lists(st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00,"),
                                min_size=1, max_size=4), max_size=4)
    if t.isVector:
        return st.lists(schema_values(t.elementType), max_size=5)
    return scalars(t)


@st.composite
def schema_leaves(draw: Callable, key: str, t: Types | None = None) -> Any:
    """A LeafElement at ``key`` with random access mode, assignment, default and rules."""
    from pykarabo.access import AccessMode, Assignment
    from pykarabo.schema import LeafElement

    t = t if t is not None else draw(st.sampled_from(SCHEMA_LEAF_TYPES))
    kw: dict[str, Any] = {
        "accessMode": draw(st.sampled_from((AccessMode.INITONLY, AccessMode.READONLY,
                                            AccessMode.RECONFIGURABLE))),
        "assignment": draw(st.sampled_from((Assignment.OPTIONAL, Assignment.OPTIONAL, Assignment.MANDATORY,
                                            Assignment.INTERNAL))),
    }
    default: Any = draw(schema_values(t))
    if t in INT_RANGES or t in (Types.FLOAT, Types.DOUBLE):
        if draw(st.booleans()):
            lo, mid, hi = sorted(draw(st.lists(schema_values(t), min_size=3, max_size=3)))
            default = mid
            kw["minExc" if mid > lo and draw(st.booleans()) else "minInc"] = lo
            kw["maxExc" if mid < hi and draw(st.booleans()) else "maxInc"] = hi
        elif draw(st.booleans()):
            options = draw(st.lists(schema_values(t), min_size=1, max_size=4, unique=True))
            kw["options"] = options
            default = draw(st.sampled_from(options))
    elif t == Types.STRING and draw(st.booleans()):
        options = draw(st.lists(st.from_regex(r"[a-z]{1,4}", fullmatch=True), min_size=1, max_size=4,
                                unique=True))
        kw["options"] = options
        default = draw(st.sampled_from(options))
    elif t.isVector and draw(st.booleans()):
        lo = draw(st.integers(0, 3))
        hi = draw(st.integers(lo, 5))
        kw["minSize"], kw["maxSize"] = lo, hi
        default = draw(st.lists(schema_values(t.elementType), min_size=lo, max_size=hi))
        if t == Types.VECTOR_STRING:
            default = draw(st.lists(st.from_regex(r"[a-z]{1,3}", fullmatch=True), min_size=lo, max_size=hi))
    if draw(st.booleans()):
        kw["allowedStates"] = draw(st.lists(st.sampled_from(SCHEMA_STATES), min_size=1, max_size=3, unique=True))
    if kw["assignment"] != Assignment.MANDATORY and draw(st.booleans()):
        kw["defaultValue"] = default
    if draw(st.booleans()):
        kw["displayedName"] = draw(texts(6).filter(lambda s: "\x00" not in s))
    return LeafElement(key, t, **kw)


@st.composite
def schemas(draw: Callable, max_depth: int = 2, max_keys: int = 6) -> Any:
    """A pykarabo.schema.Schema of random leaves, nodes, slots and a table."""
    from pykarabo.access import AccessMode
    from pykarabo.schema import LeafElement, NodeElement, Schema, SlotElement, TableElement

    schema = Schema(draw(st.from_regex(r"[A-Z][a-z]{0,6}", fullmatch=True)))

    def fill(prefix: str, depth: int) -> None:
        for key in draw(st.lists(_SCHEMA_KEYS, max_size=max_keys, unique=True)):
            path = prefix + key
            kind = draw(st.sampled_from(("leaf", "leaf", "leaf", "node", "slot", "table")))
            if kind == "node" and depth < max_depth:
                NodeElement(path).commit(schema)
                fill(path + ".", depth + 1)
            elif kind == "slot":
                SlotElement(path).commit(schema)
            elif kind == "table":
                row = Schema()
                LeafElement("c", Types.INT32, defaultValue=1, accessMode=AccessMode.RECONFIGURABLE).commit(row)
                LeafElement("d", Types.STRING, defaultValue="", accessMode=AccessMode.RECONFIGURABLE).commit(row)
                TableElement(path, row, defaultValue=[], accessMode=AccessMode.RECONFIGURABLE).commit(schema)
            else:
                draw(schema_leaves(path)).commit(schema)

    fill("", 0)
    return schema


@st.composite
def schema_configurations(draw: Callable, schema: Any) -> Hash:
    """A configuration for ``schema``: some of its leaves with random (possibly invalid) values."""
    config = Hash()
    for path in draw(st.lists(st.sampled_from(schema.getPaths()), unique=True)) if schema.getPaths() else []:
        if not schema.isLeaf(path):
            continue
        t = schema.getValueType(path)
        if t == Types.VECTOR_HASH:
            config.set(path, [Hash("c", draw(st.integers(-3, 3)))])
        elif draw(st.integers(0, 9)) == 0 and not t.isVector:
            config.set(path, str(draw(schema_values(t))))      # text, to be cast
        else:
            config.setAs(path, draw(schema_values(t)), t)
    return config
