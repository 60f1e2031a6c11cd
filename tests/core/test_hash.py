"""Property-based tests of the Hash API: typed values, attributes, paths, type inference,
merge, copies, equality, flatten, dict conversion, NDArray/ImageData, binary round trips, pickle.

Values come from ``tests.strategies`` so that every storable Karabo type is exercised.  Keys may
contain "." there, so tests that address arbitrary keys use NUL (never part of a key) as the
path separator.
"""

from __future__ import annotations

import copy
import pickle
import re
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pykarabo import (Attributes, Encoding, Hash, ImageData, NDArray, Node, Schema, Types,
                      decodeBinary, decodeBinaryPos, encodeBinary, encodeBinaryBuffers, textToValue)
from tests.strategies import (ALL_KINDS, ARRAY_KINDS, ATTRIBUTE_TYPES, INT_RANGES, NDARRAY_DTYPES,
                              UNSUPPORTED_DTYPES, Kind, hashes, image_data, keys, ndarrays,
                              plain_values, same_value, typed_values)

SEP = "\x00"  # a path separator that never occurs in a key

# Hypothesis budget: enough examples to find edge cases, small enough for < 60 s in total.
prop = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
per_type = settings(max_examples=20, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
small_hashes = hashes(max_depth=2, max_leaves=12)


def kind_id(kind: Kind) -> str:
    """Readable pytest ids for Types members and array kinds."""
    return kind if isinstance(kind, str) else kind.name


def walk(h: Hash, prefix: str = "") -> Iterator[tuple[str, Node]]:
    """Yield (path, node) of every element at every level, also inside vectors of Hash (as
    ``key[i]`` path parts); Schema parameter Hashes are not entered."""
    for node in h.nodes():
        path = prefix + node.getKey()
        yield path, node
        value = node.getValue()
        t = node.getType()
        if isinstance(value, Hash):
            yield from walk(value, path + SEP)
        elif t in (Types.VECTOR_HASH, Types.VECTOR_HASH_POINTER):
            for i, item in enumerate(value):
                yield from walk(item, f"{path}[{i}]{SEP}")


def is_plain_tree(value: Any) -> bool:
    """Whether a value is a Hash that paths descend into (not NDArray / ImageData)."""
    return isinstance(value, Hash) and type(value) is Hash


def descends(node: Node) -> bool:
    """Whether getPaths/flatten descend into the node: a non-empty plain HASH (a HASH_POINTER,
    NDArray or ImageData is a leaf)."""
    v = node.getValue()
    return node.getType() == Types.HASH and is_plain_tree(v) and not v.empty()


def stored(node: Node) -> Any:
    """The value to pass to ``setAs`` to store ``node``'s value again (NDArray, not its array)."""
    v = node.getValue()
    return NDArray(v) if isinstance(v, np.ndarray) and node.getType() == Types.HASH else v


def copy_node(target: Hash, node: Node) -> None:
    """Append ``node`` (value, type and attributes) to ``target`` under its own key."""
    target.setAs(node.getKey(), stored(node), node.getType(), sep=SEP)
    target.setAttributes(node.getKey(), node.getAttributes(), sep=SEP)


# ----------------------------------------------------------------------------------------------
# Typed values: set / get / getType / setAs / getAs


@pytest.mark.parametrize("kind", ALL_KINDS, ids=kind_id)
@per_type
@given(data=st.data(), key=keys())
def test_setAs_get_roundtrip_every_type(kind, data, key):
    value, t = data.draw(typed_values(kind))
    h = Hash()
    h.setAs(key, value, t, sep=SEP)
    assert h.getType(key, sep=SEP) == t
    assert h.getNode(key, sep=SEP).getType() == t
    got = h.get(key, sep=SEP)
    if kind == "NDArray":
        assert isinstance(got, np.ndarray)       # NDArrays are read back as numpy arrays
        assert h.getAttribute(key, "__classId", sep=SEP) == "NDArray"
    elif kind == "ImageData":
        assert type(got) is ImageData
        assert h.getAttribute(key, "__classId", sep=SEP) == "ImageData"
    assert same_value(got, value)
    assert h.getAs(key, t, sep=SEP) is h.getNode(key, sep=SEP).getValueAs(t)
    # storing the canonical value again changes nothing
    h2 = Hash()
    h2.setAs(key, stored(h.getNode(key, sep=SEP)), t, sep=SEP)
    assert h2.fullyEqual(h)


# Complex vectors read back as 1-d complex arrays, and numpy arrays infer NDArray, which has no
# complex dtype (as in karabind): they cannot be stored again untyped.
@pytest.mark.parametrize("kind", [t for t in ALL_KINDS if t not in ARRAY_KINDS and t not in (
    Types.VECTOR_COMPLEX_FLOAT, Types.VECTOR_COMPLEX_DOUBLE)], ids=kind_id)
@per_type
@given(data=st.data())
def test_set_with_inferred_canonical_value_keeps_the_value(kind, data):
    """``set`` of a value read back from a Hash stores the same value (maybe a different type)."""
    value, t = data.draw(typed_values(kind))
    h = Hash()
    h.setAs("k", value, t)
    canonical = h["k"]
    h.set("copy", canonical)
    assert same_value(h["copy"], canonical)


@pytest.mark.parametrize("src", list(INT_RANGES), ids=kind_id)
@pytest.mark.parametrize("dst", list(INT_RANGES), ids=kind_id)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_getAs_between_integer_types_is_range_checked(src, dst, data):
    v = data.draw(st.integers(*INT_RANGES[src]))
    h = Hash()
    h.setAs("a.b", v, src)
    lo, hi = INT_RANGES[dst]
    if lo <= v <= hi:
        assert h.getAs("a.b", dst) == v
    else:
        with pytest.raises(ValueError, match="'a.b'"):
            h.getAs("a.b", dst)


@pytest.mark.parametrize("t", [Types.BOOL, *INT_RANGES], ids=kind_id)
@per_type
@given(data=st.data())
def test_getAs_string_and_back_is_exact_for_integers(t, data):
    value, _ = data.draw(typed_values(t))
    h = Hash()
    h.setAs("x", value, t)
    text = h.getAs("x", Types.STRING)
    assert text == (("1" if value else "0") if t == Types.BOOL else str(value))
    assert textToValue(text, t) == value


@per_type
@given(st.floats(width=32))
def test_float_values_are_binary32(x):
    h = Hash()
    h.setAs("f", x, Types.FLOAT)
    assert same_value(h["f"], x)
    assert same_value(float(np.float32(h["f"])), h["f"])


@prop
@given(st.floats(allow_nan=False))
def test_float_rounds_doubles_to_binary32_or_rejects_overflow(x):
    h = Hash()
    f32 = np.float32(x) if abs(x) <= float(np.finfo(np.float32).max) or np.isinf(x) else None
    if f32 is None or (np.isinf(f32) and not np.isinf(x)):
        with pytest.raises(ValueError, match="'f'"):
            h.setAs("f", x, Types.FLOAT)
        assert "f" not in h
    else:
        h.setAs("f", x, Types.FLOAT)
        assert same_value(h["f"], float(f32))


# ----------------------------------------------------------------------------------------------
# Explicit-type errors


def _int_outside(t: Types) -> st.SearchStrategy[int]:
    lo, hi = INT_RANGES[t]
    return st.one_of(st.integers(max_value=lo - 1), st.integers(min_value=hi + 1))


@pytest.mark.parametrize("t", list(INT_RANGES), ids=kind_id)
@per_type
@given(data=st.data(), path=st.lists(keys(), min_size=1, max_size=3))
def test_setAs_integer_out_of_range_raises_naming_the_path(t, data, path):
    """No wrap-around: a value outside the type's range is an error, and nothing is created."""
    v = data.draw(_int_outside(t))
    p = SEP.join(path)
    h = Hash()
    with pytest.raises(ValueError) as err:
        h.setAs(p, v, t, sep=SEP)
    assert f"'{p}'" in str(err.value)
    assert h.empty()
    with pytest.raises(ValueError, match="'v'"):
        h.setAs("v", [0, v], t.vectorType)
    h.setAs("v", 0, Types.INT8)
    with pytest.raises(ValueError, match="'n'"):
        h.setAttribute("v", "n", v, type=t)
    assert not h.hasAttribute("v", "n")


@pytest.mark.parametrize("t", list(INT_RANGES), ids=kind_id)
@per_type
@given(x=st.one_of(st.floats().filter(lambda f: not f.is_integer()), st.text(max_size=3),
                   st.complex_numbers(min_magnitude=1e-3), st.none()))
def test_setAs_integer_rejects_non_integers(t, x):
    with pytest.raises(TypeError, match="'p.q'"):
        Hash().setAs("p.q", x, t)


@per_type
@given(x=st.one_of(st.text(max_size=3), st.none(), st.binary(max_size=3)))
def test_setAs_real_types_reject_non_numbers(x):
    for t in (Types.FLOAT, Types.DOUBLE, Types.COMPLEX_FLOAT, Types.COMPLEX_DOUBLE):
        with pytest.raises(TypeError, match="'z'"):
            Hash().setAs("z", x, t)


@pytest.mark.parametrize("t,bad", [
    (Types.BOOL, 2), (Types.BOOL, "yes"), (Types.CHAR, "ab"), (Types.CHAR, "\u0100"), (Types.CHAR, 256),
    (Types.STRING, 1), (Types.VECTOR_STRING, "abc"), (Types.VECTOR_STRING, [1]), (Types.NONE, 0),
    (Types.VECTOR_NONE, [None, 1]), (Types.HASH, 1), (Types.VECTOR_HASH, [1]), (Types.SCHEMA, Hash()),
    (Types.VECTOR_BOOL, [0, 2]), (Types.VECTOR_INT32, [[1, 2]]), (Types.VECTOR_DOUBLE, ["x"]),
    (Types.BYTE_ARRAY, 5), (Types.VECTOR_CHAR, 5), (Types.VECTOR_SCHEMA, []), (Types.UNKNOWN, 1),
])
def test_setAs_rejects_wrong_values(t, bad):
    h = Hash()
    with pytest.raises((TypeError, ValueError), match="'w.x'"):
        h.setAs("w.x", bad, t)
    assert h.empty()


# ----------------------------------------------------------------------------------------------
# Attributes


@pytest.mark.parametrize("kind", ATTRIBUTE_TYPES, ids=kind_id)
@per_type
@given(data=st.data(), name=keys())
def test_attribute_roundtrip_every_type(kind, data, name):
    value, t = data.draw(typed_values(kind))
    h = Hash("a.b", 1)
    h.setAttribute("a.b", name, value, type=t)
    assert h.hasAttribute("a.b", name)
    assert h.getAttributeType("a.b", name) == t
    assert h.getAttributes("a.b").getType(name) == t
    assert same_value(h.getAttribute("a.b", name), value)
    assert same_value(h["a.b", name], value)
    assert h.getAttributeAs("a.b", name, t) is h.getAttributes("a.b").getNode(name).getValue()
    assert h["a.b"] == 1                                      # the value is untouched
    decoded = decodeBinary(encodeBinary(h))
    assert decoded.fullyEqual(h)


@prop
@given(attrs=st.lists(st.tuples(keys(), typed_values(max_depth=0)), max_size=8,
                      unique_by=lambda kv: kv[0]),
       data=st.data())
def test_attribute_order_overwrite_and_erase(attrs, data):
    h = Hash()
    h.set("leaf", 0)
    for name, (value, t) in attrs:
        h.setAttribute("leaf", name, value, type=t)
    names = [n for n, _ in attrs]
    a = h.getAttributes("leaf")
    assert a.keys() == names == list(a) and len(a) == len(names)
    if not names:
        return
    # overwriting keeps the position, may change the type
    victim = data.draw(st.sampled_from(names))
    h.setAttribute("leaf", victim, "new")
    assert a.keys() == names and h.getAttributeType("leaf", victim) == Types.STRING
    assert h["leaf", victim] == "new"
    # erasing removes just that one
    a.erase(victim)
    assert a.keys() == [n for n in names if n != victim]
    assert not h.hasAttribute("leaf", victim)
    with pytest.raises(KeyError, match="leaf"):
        h.getAttribute("leaf", victim)
    with pytest.raises(KeyError):
        del a[victim]
    a.erase(victim)                            # erase of a missing attribute is a no-op


def test_item_access_with_attribute_tuple():
    h = Hash("a.b", 1)
    h["a.b", "unit"] = "m"
    h["a", "nodeAttr"] = 3
    assert h["a.b", "unit"] == "m" and h.getAttributeType("a.b", "unit") == Types.STRING
    assert h["a", "nodeAttr"] == 3 and h["a.b"] == 1
    with pytest.raises(KeyError, match="'a.c'"):
        h["a.c", "unit"] = 1
    with pytest.raises(KeyError, match="'x'"):
        h["a.b", "x"]


# ----------------------------------------------------------------------------------------------
# Paths


@prop
@given(parts=st.lists(keys(), min_size=1, max_size=5), value=typed_values(max_depth=0))
def test_dot_paths_create_nested_hashes(parts, value):
    v, t = value                                 # leaf types only: max_depth=0
    path = ".".join(parts)
    h = Hash()
    h.setAs(path, v, t)
    assert h.getKeys() == [parts[0]]
    for i in range(1, len(parts)):
        prefix = ".".join(parts[:i])
        assert h.getType(prefix) == Types.HASH and type(h[prefix]) is Hash
        assert h[prefix].getKeys() == [parts[i]]
    assert h.has(path) and path in h
    assert same_value(h[path], v) and h.getType(path) == t
    assert h.getPaths() == [path]


@prop
@given(parts=st.lists(keys(), min_size=1, max_size=4), sep=st.sampled_from(["/", "::", "|", SEP]))
def test_custom_separator(parts, sep):
    path = sep.join(parts)
    assume(path.split(sep) == parts)             # e.g. "a:" + "::" + "b" splits differently
    h = Hash()
    h.set(path, 7, sep=sep)
    assert h.get(path, sep=sep) == 7 and h.has(path, sep=sep)
    assert h.getPaths(sep=sep) == [path]
    assert h.flatten(sep=sep).getKeys() == [path]
    assert h.erase(path, sep=sep) and not h.has(path, sep=sep)


@prop
@given(parts=st.lists(st.text(st.characters(exclude_characters="/\x00", exclude_categories=("Cs",)),
                              max_size=4), min_size=2, max_size=4))
def test_keys_with_dots_via_another_separator(parts):
    key = ".".join(parts)                       # a single key that contains dots
    h = Hash()
    h.set(key, 1, sep="/")
    assert h.getKeys() == [key]
    assert h.get(key, sep="/") == 1
    assert h.getType(key, sep="/") == Types.INT32
    decoded = decodeBinary(encodeBinary(h))     # the wire format keeps it as one key
    assert decoded.getKeys() == [key] and decoded.fullyEqual(h)
    if not h.has(key):                          # with "." it is a path into nested Hashes
        with pytest.raises(KeyError, match="does not exist"):
            h[key]


@prop
@given(items=st.lists(st.dictionaries(st.sampled_from("xyz"), st.integers(-5, 5), max_size=3),
                      min_size=1, max_size=4), data=st.data())
def test_vector_of_hash_indexing(items, data):
    h = Hash()
    h.set("a.v", [Hash(d) for d in items])
    assert h.getType("a.v") == Types.VECTOR_HASH
    i = data.draw(st.integers(0, len(items) - 1))
    assert h.getType(f"a.v[{i}]") == Types.HASH
    for k, v in items[i].items():
        assert h[f"a.v[{i}].{k}"] == v
    h[f"a.v[{i}].new"] = "n"                    # writes into the item, not a new key
    assert h["a.v"][i]["new"] == "n" and h.getKeys() == ["a"] and h["a"].getKeys() == ["v"]
    h.setAttribute(f"a.v[{i}].new", "attr", 1)
    assert h["a.v"][i].getAttribute("new", "attr") == 1
    for bad in (f"a.v[{len(items)}].x", "a.v[x].y", f"a.v[{i}].missing", "a.w[0].x"):
        with pytest.raises(KeyError, match=re.escape(f"'{bad}'")):
            h[bad]
        assert not h.has(bad)


@prop
@given(h=hashes(max_depth=1, max_leaves=8), missing=st.lists(keys(), min_size=1, max_size=3))
def test_missing_paths_raise_key_error_naming_the_path(h, missing):
    path = SEP.join(missing)
    assume(not h.has(path, sep=SEP))
    for call in (lambda: h.get(path, sep=SEP), lambda: h.getType(path, sep=SEP),
                 lambda: h.getNode(path, sep=SEP), lambda: h.getAs(path, Types.STRING, sep=SEP),
                 lambda: h.getAttribute(path, "a", sep=SEP), lambda: h.getAttributes(path, sep=SEP),
                 lambda: h.setAttribute(path, "a", 1, sep=SEP)):
        with pytest.raises(KeyError) as err:
            call()
        assert f"'{path}'" in err.value.args[0]
    assert h.get(path, "dflt", sep=SEP) == "dflt"
    assert not h.erase(path, sep=SEP)


def test_missing_path_messages():
    h = Hash("a.b", 1)
    for path in ("a.c", "x", "a.b.c", "a[0].b"):
        with pytest.raises(KeyError, match=re.escape(f"'{path}'")):
            h[path]
        with pytest.raises(KeyError):
            del h[path]
    with pytest.raises(TypeError, match="'a.b.c'"):
        h["a.b.c"] = 2                           # 'a.b' is a leaf, not a Hash
    with pytest.raises(TypeError):
        h[1]


# ----------------------------------------------------------------------------------------------
# Type inference


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=plain_values(), key=keys())
def test_type_inference(pair, key):
    value, expected = pair
    h = Hash()
    h.set(key, value, sep=SEP)
    if expected == "NDArray":
        assert h.getType(key, sep=SEP) == Types.HASH
        assert h.getAttribute(key, "__classId", sep=SEP) == "NDArray"
        assert same_value(h.get(key, sep=SEP), value)
        return
    assert h.getType(key, sep=SEP) == expected
    got = h.get(key, sep=SEP)
    if expected == Types.HASH:
        assert type(got) is Hash and got.toDict() == value
    elif expected == Types.VECTOR_HASH:
        assert [x if isinstance(x, dict) else x.toDict() for x in value] == [g.toDict() for g in got]
    elif isinstance(value, np.generic):
        assert same_value(got, value.item())
    else:
        assert same_value(got, value)
    # the same rules apply to attributes, and via __setitem__ / Hash(dict) / fromDict
    if expected != Types.HASH:                 # HASH attributes are not inferred from dicts
        h.setAttribute(key, "attr", value, sep=SEP)
        assert h.getAttributeType(key, "attr", sep=SEP) == expected
    h2 = Hash({key: value})
    assert h2.getType(key, sep=SEP) == expected
    assert Hash.fromDict({key: value}).getType(key, sep=SEP) == expected


@prop
@given(v=st.one_of(st.integers(min_value=2**64), st.integers(max_value=-(2**63) - 1)))
def test_inference_rejects_integers_beyond_every_type(v):
    h = Hash()
    with pytest.raises(ValueError, match="'big.int'"):
        h.set("big.int", v)
    with pytest.raises(ValueError, match="'big.int'"):
        h.set("big.int", [0, v])
    assert h.empty()


@prop
@given(neg=st.integers(-(2**63), -1), big=st.integers(2**63, 2**64 - 1))
def test_inference_rejects_int_lists_spanning_signed_and_unsigned_64(neg, big):
    with pytest.raises(ValueError, match="'l'"):
        Hash().set("l", [neg, big])


@pytest.mark.parametrize("v,t", [
    (0, Types.INT32), (2**31 - 1, Types.INT32), (-(2**31), Types.INT32), (2**31, Types.UINT32),
    (2**32 - 1, Types.UINT32), (2**32, Types.INT64), (-(2**31) - 1, Types.INT64),
    (2**63 - 1, Types.INT64), (-(2**63), Types.INT64), (2**63, Types.UINT64), (2**64 - 1, Types.UINT64),
    ([-1, 2**31], Types.VECTOR_INT64), ([0, 2**31], Types.VECTOR_UINT32), ([0, 2**63], Types.VECTOR_UINT64),
    ([True, False], Types.VECTOR_BOOL), ([1.5, 2], Types.VECTOR_DOUBLE), ([], Types.VECTOR_STRING),
    ((1, 2), Types.VECTOR_INT32), ([None], Types.VECTOR_NONE), ([{"a": 1}, Hash()], Types.VECTOR_HASH),
    (np.float32(1.5), Types.FLOAT), (np.uint16(7), Types.UINT16), (np.complex64(1j), Types.COMPLEX_FLOAT),
    ([np.int8(1), np.int8(-1)], Types.VECTOR_INT8), (Schema("s"), Types.SCHEMA),
    (1 + 2j, Types.COMPLEX_DOUBLE), (b"ab", Types.VECTOR_CHAR), (bytearray(b"ab"), Types.BYTE_ARRAY),
    (Encoding.RGB, Types.INT32),
])
def test_inference_examples(v, t):
    assert Hash("x", v).getType("x") == t


@pytest.mark.parametrize("v", [object(), [1, "a"], [None, 1], {1: 2}, [Hash(), 1], {1, 2}, np.array([1j])])
def test_inference_rejects_values_without_a_type(v):
    with pytest.raises(TypeError, match="'x'|complex|keys are str"):
        Hash().set("x", v)


# ----------------------------------------------------------------------------------------------
# NDArray and ImageData


@prop
@given(arr=ndarrays())
def test_ndarray_storage(arr):
    h = Hash()
    h.set("a", arr)
    got = h["a"]
    assert got.shape == arr.shape and got.dtype == arr.dtype.newbyteorder("<")
    assert np.array_equal(got, arr, equal_nan=True)
    assert h.getType("a") == Types.HASH and h.getAttribute("a", "__classId") == "NDArray"
    nd = NDArray(arr)
    assert nd.getKeys() == ["data", "type", "shape", "isBigEndian"]       # C++ child order
    assert nd["isBigEndian"] is False and nd.getType("data") == Types.BYTE_ARRAY
    assert nd["type"] == int(Types.fromDtype(arr.dtype))
    assert [int(x) for x in nd["shape"]] == list(arr.shape)
    if arr.flags.c_contiguous and arr.dtype.byteorder in "=<|":
        assert got is arr                                    # zero-copy
    else:                                                    # byte-swapped / made C-contiguous
        assert not np.shares_memory(got, arr)
    assert got.flags.c_contiguous
    decoded = decodeBinary(encodeBinary(h))
    assert decoded.fullyEqual(h) and np.array_equal(decoded["a"], arr, equal_nan=True)


@pytest.mark.parametrize("dt", UNSUPPORTED_DTYPES, ids=str)
def test_ndarray_rejects_unsupported_dtypes(dt):
    arr = np.zeros((2, 2), dtype=dt)
    with pytest.raises(TypeError):
        NDArray(arr)
    with pytest.raises(TypeError):
        Hash().set("x", arr)


@prop
@given(img=image_data())
def test_image_data_layout(img):
    arr = img.getData()
    assert img.getKeys() == ["pixels", "encoding", "dims", "bitsPerPixel", "roiOffsets", "binning",
                             "rotation", "flipX", "flipY"]
    assert img.getDimensions() == list(arr.shape)
    assert img.getROIOffsets() == [0] * arr.ndim and img.getBinning() == [1] * arr.ndim


@prop
@given(arr=ndarrays(dtypes=tuple(np.dtype(c) for c in "BHhIf"), min_dims=2, max_dims=3))
def test_image_data_default_metadata(arr):
    img = ImageData(arr)
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        expected, channels = (Encoding.RGB, 3) if arr.shape[2] == 3 else (Encoding.RGBA, 4)
    else:
        expected, channels = Encoding.GRAY, 1
    assert img.getEncoding() == expected
    assert img.getBitsPerPixel() == arr.dtype.itemsize * 8 * channels
    assert img.getRotation() == 0 and img.getFlipX() is False and img.getFlipY() is False
    assert np.array_equal(img.getData(), arr, equal_nan=True)
    h = Hash("img", img)
    assert h.getType("img") == Types.HASH and h.getAttribute("img", "__classId") == "ImageData"
    assert h.getAttribute("img.pixels", "__classId") == "NDArray"
    assert type(decodeBinary(encodeBinary(h))["img"]) is ImageData


def test_image_data_examples():
    assert ImageData(np.zeros((4, 5), np.uint16)).getBitsPerPixel() == 16
    assert ImageData(np.zeros((4, 5, 3), np.uint8)).getBitsPerPixel() == 24
    assert ImageData(np.zeros((4, 5), np.uint8), bitsPerPixel=12).getBitsPerPixel() == 12
    with pytest.raises(ValueError):
        ImageData(np.zeros((2, 2), np.uint8), rotation=45)


# ----------------------------------------------------------------------------------------------
# Merge


def model_merge(target: Hash, source: Hash, replace: bool) -> Hash:
    """An independent model of Hash.merge built from the public API (returns a new Hash)."""
    out = Hash()
    for node in target.nodes():
        copy_node(out, node)
    for node in source.nodes():
        key, t, value = node.getKey(), node.getType(), node.getValue()
        if key not in out.getKeys():
            copy_node(out, node)
            continue
        mine = out.getNode(key, sep=SEP)
        if t == Types.HASH and mine.getType() == Types.HASH and is_plain_tree(value) \
                and is_plain_tree(mine.getValue()):
            out.setAs(key, model_merge(mine.getValue(), value, replace), t, sep=SEP)
        else:
            out.setAs(key, stored(node), t, sep=SEP)
        # attributes: "replace" takes the source's, "merge" updates ours (new ones appended)
        attrs = Attributes() if replace else mine.getAttributes().copy()
        for a in node.getAttributes().nodes():
            attrs.set(a.getKey(), a.getValue(), a.getType())
        out.setAttributes(key, attrs, sep=SEP)
    return out


@prop
@given(a=small_hashes, b=small_hashes, replace=st.booleans())
def test_merge_matches_model(a, b, replace):
    expected = model_merge(copy.deepcopy(a), copy.deepcopy(b), replace)
    before_b = encodeBinary(b)
    a.merge(b, "replace" if replace else "merge")
    assert a.fullyEqual(expected), f"merged:\n{a}\nexpected:\n{expected}"
    assert encodeBinary(b) == before_b                   # the source is not modified


@prop
@given(a=small_hashes, b=small_hashes)
def test_merge_of_disjoint_hashes_is_the_union(a, b):
    disjoint = Hash()                       # b without a's keys (cheaper than filtering examples)
    for node in b.nodes():
        if not a.has(node.getKey(), sep=SEP):
            copy_node(disjoint, node)
    b = disjoint
    union = Hash()
    for h in (a, b):
        for node in h.nodes():
            copy_node(union, node)
    for policy in ("merge", "replace"):
        c = a.copy()
        c.merge(b, policy)
        assert c.fullyEqual(union)


@prop
@given(h=small_hashes, policy=st.sampled_from(["merge", "replace"]))
def test_merge_is_idempotent(h, policy):
    before = encodeBinary(h)
    c = h.copy()
    c.merge(h, policy)
    assert c.fullyEqual(h) and encodeBinary(c) == before
    h.merge(h, policy)
    assert encodeBinary(h) == before


def test_merge_attribute_semantics():
    a = Hash("n.x", 1)
    a.setAttribute("n", "keep", 1)
    a.setAttribute("n.x", "old", "o")
    b = Hash("n.y", 2)
    b.setAttribute("n", "new", 2)
    m = a.copy()
    m.merge(b)
    assert m.getAttributes("n").toDict() == {"keep": 1, "new": 2}
    assert m["n"].getKeys() == ["x", "y"] and m.getAttributes("n.x").toDict() == {"old": "o"}
    r = a.copy()
    r.merge(b, "replace")
    assert r.getAttributes("n").toDict() == {"new": 2}
    with pytest.raises(ValueError):
        a.merge(b, "bogus")
    a += Hash("z", 1)
    assert a.getKeys() == ["n", "z"]


# ----------------------------------------------------------------------------------------------
# Copies


def _mutate_everything(h: Hash) -> None:
    """Change every Hash (at every depth) and every attribute set of ``h`` in place."""
    for _, node in list(walk(h)):
        node.getAttributes()["__mutated__"] = 1
        value = node.getValue()
        if is_plain_tree(value):
            value.set("__mutated__", 1)
        elif isinstance(value, Schema):
            value.getParameterHash().set("__mutated__", 1)
    h.set("__mutated__", 1)


@prop
@given(h=small_hashes, deep=st.booleans())
def test_copy_structure_is_independent(h, deep):
    before = encodeBinary(h)
    c = copy.deepcopy(h) if deep else h.copy()
    assert c.fullyEqual(h) and type(c) is type(h)
    assert copy.copy(h).fullyEqual(h) and Hash(h).fullyEqual(h)
    _mutate_everything(c)
    assert encodeBinary(h) == before


@prop
@given(arr=hnp.arrays(st.sampled_from(NDARRAY_DTYPES), hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)),
       vec=st.lists(st.integers(-5, 5), min_size=1, max_size=4))
def test_copy_shares_arrays_deepcopy_does_not(arr, vec):
    h = Hash()
    h.set("nd", arr)
    h.set("n.vec", vec)
    h.setAs("ba", bytearray(b"xyz"), Types.BYTE_ARRAY)
    shallow, deep = h.copy(), copy.deepcopy(h)
    assert np.shares_memory(shallow["nd"], h["nd"]) and np.shares_memory(shallow["n.vec"], h["n.vec"])
    assert shallow["ba"] is h["ba"]
    assert not np.shares_memory(deep["nd"], h["nd"]) and not np.shares_memory(deep["n.vec"], h["n.vec"])
    assert deep["ba"] is not h["ba"] and deep["ba"] == h["ba"]
    assert deep.fullyEqual(h) and shallow.fullyEqual(h)


# ----------------------------------------------------------------------------------------------
# Equality


@prop
@given(h=small_hashes, data=st.data())
def test_fully_equal_versus_eq(h, data):
    """``==`` compares keys and values (any order, Karabo types and attributes ignored);
    ``fullyEqual`` also compares order, types and attributes (a design choice, like C++)."""
    c = decodeBinary(encodeBinary(h))
    assert c == h and c.fullyEqual(h) and not (c != h)
    keys_ = h.getKeys()
    if len(keys_) >= 2:
        perm = data.draw(st.permutations(keys_))
        r = Hash()
        for k in perm:
            copy_node(r, h.getNode(k, sep=SEP))
        assert r == h and r.fullyEqual(h, orderMatters=False)
        assert r.fullyEqual(h) == (perm == keys_)
    if keys_:
        k = data.draw(st.sampled_from(keys_))
        c.setAttribute(k, "__extra__", 1, sep=SEP)
        assert c == h and not c.fullyEqual(h)


def test_eq_ignores_karabo_types_but_not_python_values():
    a, b = Hash(), Hash()
    a.setAs("x", 1, Types.INT8)
    b.setAs("x", 1, Types.UINT64)
    assert a == b and not a.fullyEqual(b)
    assert Hash("x", 1) != Hash("x", 1.0)
    assert Hash("x", 1) != Hash("x", 2) and Hash("x", 1) != Hash("y", 1)
    assert Hash("a.b", 1) == {"a": {"b": 1}}
    assert (Hash() == 1) is False
    nan = Hash("f", float("nan"))
    assert nan == nan.copy() and nan.fullyEqual(nan.copy())


# ----------------------------------------------------------------------------------------------
# flatten / unflatten, toDict / fromDict, getPaths / getKeys, containers, repr


def _strip_node_attributes(h: Hash) -> Hash:
    """``h`` without attributes on the non-empty plain Hash nodes that flatten descends into
    (their attributes have no place in a flat Hash); vectors of Hash are leaves."""
    for node in h.nodes():
        if descends(node):
            a = node.getAttributes()
            for name in a.keys():
                a.erase(name)
            _strip_node_attributes(node.getValue())
    return h


@prop
@given(h=small_hashes)
def test_flatten_unflatten_inverse(h):
    flat = h.flatten(sep=SEP)
    assert flat.getKeys() == h.getPaths(sep=SEP)
    for node in flat.nodes():
        assert not descends(node)
        assert same_value(node.getValue(), h.get(node.getKey(), sep=SEP))
    assert flat.unflatten(sep=SEP).fullyEqual(_strip_node_attributes(h.copy()))


def test_flatten_examples():
    h = Hash("a.b.c", 1, "a.d", Hash(), "e", [Hash("x", 1)])
    assert h.flatten().getKeys() == ["a.b.c", "a.d", "e"]
    assert h.flatten(sep="/").getKeys() == ["a/b/c", "a/d", "e"]
    assert h.flatten().unflatten().fullyEqual(h)


_DICTABLE = tuple(k for k in ALL_KINDS if k not in (Types.VECTOR_COMPLEX_FLOAT, Types.VECTOR_COMPLEX_DOUBLE))


@prop
@given(h=hashes(max_depth=2, max_leaves=12, kinds=_DICTABLE))
def test_to_dict_from_dict(h):
    d = h.toDict()
    assert list(d) == h.getKeys()

    def check(d: Any, h: Any) -> None:
        if isinstance(h, Hash):
            assert isinstance(d, dict) and list(d) == h.getKeys()
            for k in d:
                check(d[k], h.get(k, sep=SEP))
        elif isinstance(h, list) and h and isinstance(h[0], Hash):
            assert len(d) == len(h)
            for x, y in zip(d, h):
                check(x, y)
        else:
            assert same_value(d, h)

    check(d, h)
    # types are re-inferred (NDArray for numpy vectors, INT32 for small ints ...), values kept
    back = Hash.fromDict(d)
    assert back == h
    assert Hash.fromDict({"a.b": 1}).getKeys() == ["a.b"]           # keys, not paths


@prop
@given(h=small_hashes)
def test_paths_keys_and_container_protocol(h):
    keys_ = h.getKeys()
    assert keys_ == h.keys() == list(h) and len(h) == len(keys_) and bool(h) == bool(keys_)
    assert [n.getKey() for n in h.nodes()] == keys_
    assert all(same_value(v, h.get(k, sep=SEP)) for k, v in zip(keys_, h.values()))
    assert [k for k, _ in h.items()] == keys_
    assert all(h.has(k, sep=SEP) and k in h for k in keys_)      # keys() never contain "."
    paths = h.getPaths(sep=SEP)
    expected = []

    def leaves(x: Hash, prefix: str) -> None:
        for node in x.nodes():
            if descends(node):
                leaves(node.getValue(), prefix + node.getKey() + SEP)
            else:
                expected.append(prefix + node.getKey())

    leaves(h, "")
    assert paths == expected
    assert all(h.has(p, sep=SEP) for p in paths)
    assert 1 not in h and h.empty() == (not keys_)


@prop
@given(h=small_hashes)
def test_repr_shows_keys_types_and_attributes(h):
    text = repr(h)
    assert text == str(h) and text.startswith("<Hash")
    for _, node in walk(h):
        assert f"'{node.getKey()}'" in text
        for name in node.getAttributes().keys():
            assert f'{name}="' in text
        v = node.getValue()
        if not isinstance(v, (Hash, np.ndarray)) and node.getType() not in (
                Types.VECTOR_HASH, Types.VECTOR_HASH_POINTER):
            assert node.getType().name in text


def test_repr_example():
    h = Hash("a.b", 1)
    h.setAttribute("a.b", "unit", "m")
    h.set("arr", np.zeros((2, 3)))
    text = repr(h)
    assert "'b' unit=\"m\" => 1 INT32" in text and "NDArray shape=(2, 3)" in text
    assert repr(h.getAttributes("a.b")) == "Attributes(unit='m' STRING)"
    assert repr(Hash()) == "<Hash>"


def test_erase_clear_and_delitem():
    h = Hash("a.b", 1, "a.c", 2, "d", 3)
    assert h.erase("a.b") and not h.erase("a.b") and h["a"].getKeys() == ["c"]
    del h["d"]
    assert h.getKeys() == ["a"]
    h.clear()
    assert h.empty() and len(h) == 0


# ----------------------------------------------------------------------------------------------
# Binary round trip and pickle


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(h=hashes())
def test_binary_roundtrip(h):
    data = encodeBinary(h)
    decoded = decodeBinary(data)
    assert decoded.fullyEqual(h), f"decoded:\n{decoded}\noriginal:\n{h}"
    assert encodeBinary(decoded) == data
    buffers = encodeBinaryBuffers(h)
    assert b"".join(bytes(b) for b in buffers) == data
    again, used = decodeBinaryPos(data + b"\x01\x02", 0)
    assert used == len(data) and again.fullyEqual(h)
    assert decodeBinaryPos(b"xyz" + data, 3)[0].fullyEqual(h)


@prop
@given(h=small_hashes)
def test_pickle_roundtrip(h):
    for proto in (2, pickle.HIGHEST_PROTOCOL):
        back = pickle.loads(pickle.dumps(h, protocol=proto))
        assert type(back) is Hash and back.fullyEqual(h)


@prop
@given(arr=ndarrays(), img=image_data())
def test_pickle_keeps_array_classes(arr, img):
    nd = NDArray(arr)
    for obj in (nd, img, Schema("root", Hash("nd", arr))):
        back = pickle.loads(pickle.dumps(obj))
        assert type(back) is type(obj)
        assert back == obj if isinstance(obj, Schema) else back.fullyEqual(obj)


def test_short_string_values_decode_exactly():
    # STRING values of up to 8 bytes come from a cache keyed by their bytes: the second decode
    # reads them from it, and the last one has fewer than 8 bytes of input after its length
    values = ["a", "ok", "moving", "12345678", "123456789", "état", "\udcff\udcfe", "", "ab"]
    h = Hash()
    for i, v in enumerate(values):
        h[f"k{i}"] = v
    for _ in range(2):
        back = decodeBinary(encodeBinary(h))
        assert [back[f"k{i}"] for i in range(len(values))] == values
        assert back.fullyEqual(h)


# -- iterall: (key, value, attributes) with recycled result tuples ------------------------------

@given(hashes())
def test_iterall_matches_the_node_api(h):
    expected = [(n.getKey(), n.getValue(), n.getAttributes().toDict()) for n in h.nodes()]
    seen = [(k, v, a.toDict()) for k, v, a in h.iterall()]
    assert len(seen) == len(expected)
    for (k1, v1, a1), (k2, v2, a2) in zip(seen, expected):
        assert k1 == k2 and v1 is v2
        assert a1.keys() == a2.keys()


def test_iterall_results_kept_by_the_caller_are_never_recycled():
    h = Hash("a", 1, "b", 2, "c", 3)
    h.setAttribute("b", "unit", "m")
    kept = list(h.iterall())
    assert [(k, v) for k, v, _ in kept] == [("a", 1), ("b", 2), ("c", 3)]
    assert [a.toDict() for _, _, a in kept] == [{}, {"unit": "m"}, {}]
    assert len({id(a) for _, _, a in kept}) == 3
    views = [a for _, _, a in h.iterall()]
    assert len({id(a) for a in views}) == 3


def test_iterall_empty_attributes_attach_when_written():
    h = Hash("a", 1, "b", 2)
    for k, _, attrs in h.iterall():
        if k == "a":
            attrs["tid"] = 7
    assert h.getAttributes("a").toDict() == {"tid": 7}
    assert h.getAttributes("b").toDict() == {}


def test_iterall_reused_empty_views_attach_to_their_own_element():
    # the empty views are pooled across iterators: nested loops must still write where they read
    h = Hash("a.x", 1, "a.y", 2, "b", 3)
    for k, v, attrs in h.iterall():
        if type(v) is Hash:
            for k2, _, attrs2 in v.iterall():
                attrs2["inner"] = k2
        attrs["outer"] = k
    assert [h.getAttribute(p, "inner") for p in ("a.x", "a.y")] == ["x", "y"]
    assert [h.getAttribute(p, "outer") for p in ("a", "b")] == ["a", "b"]
    assert not h.hasAttribute("a", "inner")


def test_iterall_views_keep_no_value_alive_after_the_loop():
    # decoded arrays are views of (pooled) receive buffers: reading must not pin them
    arr = np.arange(100.0)
    ref = weakref.ref(arr)
    h = Hash()
    h.setAs("v", arr, Types.VECTOR_DOUBLE)
    del arr
    for _, v, attrs in h.iterall():
        pass
    del h, v, attrs
    assert ref() is None


def test_iterall_detects_changes_in_size():
    h = Hash("a", 1, "b", 2)
    with pytest.raises(RuntimeError, match="changed size"):
        for k, _, _ in h.iterall():
            h[k + "x"] = 0


def test_iterall_of_nested_hash_and_ndarray():
    arr = np.arange(6, dtype=np.int16).reshape(2, 3)
    h = Hash()
    h["n.d"] = NDArray(arr)
    (k, inner, _), = h.iterall()
    assert k == "n" and type(inner) is Hash
    (k, v, attrs), = inner.iterall()
    assert k == "d" and isinstance(v, np.ndarray) and np.array_equal(v, arr)
    assert attrs["__classId"] == "NDArray"
