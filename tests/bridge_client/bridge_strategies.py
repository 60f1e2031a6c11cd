"""Hypothesis strategies for bridge trains (data and metadata dicts)."""

import math
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# Every dtype the bridge can carry as a raw array part.
ARRAY_DTYPES = [
    np.dtype(name)
    for name in (
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
        "complex64",
        "complex128",
        ">i4",
        ">u2",
        ">f8",
        "<U3",
        "S4",
    )
]
# Protocol 2.2 sends numpy scalars as Python values, which msgpack has no
# complex type for; protocol 1.0 keeps them as numpy scalars of any kind.
SCALAR_DTYPES = {
    "2.2": [d for d in ARRAY_DTYPES if d.kind in "biuf" and d.isnative],
    "1.0": [d for d in ARRAY_DTYPES if d.kind in "biufc" and d.isnative],
}

keys = st.text(max_size=12)


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    """Arrays of any bridge dtype, 0 to 3 dimensions, possibly empty or non-contiguous."""
    dtype = draw(st.sampled_from(ARRAY_DTYPES))
    array = draw(
        hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    )
    if array.ndim and draw(st.booleans()):
        array = array[::-1]  # a non-contiguous view
    return array


plain_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.binary(max_size=20),
)

plain_values = st.recursive(
    plain_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=10,
)


def numpy_scalars(protocol: str, numpy_bool: bool) -> st.SearchStrategy:
    """numpy scalars that the given protocol version can carry."""
    dtypes = [d for d in SCALAR_DTYPES[protocol] if numpy_bool or d.kind != "b"]
    return st.sampled_from(dtypes).flatmap(lambda dtype: hnp.from_dtype(dtype).map(dtype.type))


@st.composite
def trains(draw: st.DrawFn, protocol: str = "2.2", numpy_bool: bool = True) -> tuple[dict, dict]:
    """A train ``(data, metadata)`` of up to three sources for the given protocol version.

    ``numpy_bool=False`` leaves out ``np.bool_`` scalars, which the reference
    2.2 serializer rejects.
    """
    extra = [st.complex_numbers()] if protocol == "1.0" else []
    value = st.one_of(plain_values, arrays(), numpy_scalars(protocol, numpy_bool), *extra)
    sources = draw(st.lists(st.text(min_size=1, max_size=20), max_size=3, unique=True))
    data, metadata = {}, {}
    for source in sources:
        data[source] = draw(
            st.dictionaries(keys.filter(lambda k: k != "metadata"), value, max_size=5)
        )
        meta = {"source": source, "timestamp.tid": draw(st.integers(0, 2**64 - 1))}
        if draw(st.booleans()):
            meta["timestamp"] = draw(st.floats(0, 2e9))
        metadata[source] = meta
    return data, metadata


def same(a: Any, b: Any) -> bool:
    """Deep equality that treats NaN as equal, compares arrays by bytes and lists like tuples."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
        )
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, complex) and isinstance(b, complex):
        return same(a.real, b.real) and same(a.imag, b.imag)
    if isinstance(a, np.generic):
        return isinstance(b, np.generic) and a.dtype == b.dtype and a.tobytes() == b.tobytes()
    return type(a) is type(b) and a == b
