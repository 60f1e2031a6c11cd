"""Malformed input never crashes the decoder: it raises DeserializationError naming the offset.

Real Karabo's C++ reader has no bounds checks (spec §3.12); ours must reject truncation, inflated
counts, unknown type codes, bad UTF-8 in keys, excessive nesting and trailing bytes, and must
never allocate more than its input could hold.
"""

import struct
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykarabo import (MAX_DEPTH, DeserializationError, Hash, decodeBinary, decodeBinaryPos,
                      encodeBinary)
from tests.golden import load_cases, read_bin

CASES = load_cases()
# the large cases make each example slow without adding structure worth mutating
SMALL = [read_bin(c) for c in CASES if c["size"] < 4096]
FUZZ = settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))


def decode_or_reject(data: bytes):
    """Decode; the only acceptable failure is DeserializationError with an offset in its message."""
    try:
        h = decodeBinary(data)
    except DeserializationError as e:
        assert "offset" in str(e)
        return None
    # whatever was accepted must survive our own round trip
    assert encodeBinary(h) == data or decodeBinary(encodeBinary(h)).fullyEqual(h)
    return h


def test_error_is_a_value_error():
    assert issubclass(DeserializationError, ValueError)


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes(data):
    decode_or_reject(data)


@pytest.mark.skipif(not SMALL, reason="golden vectors absent")
@FUZZ
@given(st.data())
def test_truncated_goldens(data):
    blob = data.draw(st.sampled_from(SMALL))
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(DeserializationError):
        decodeBinary(blob[:cut])


@pytest.mark.skipif(not SMALL, reason="golden vectors absent")
@FUZZ
@given(st.data())
def test_bit_flipped_goldens(data):
    blob = bytearray(data.draw(st.sampled_from(SMALL)))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i] ^= 1 << data.draw(st.integers(0, 7))
    decode_or_reject(bytes(blob))


@pytest.mark.skipif(not SMALL, reason="golden vectors absent")
@FUZZ
@given(st.data())
def test_inflated_lengths_in_goldens(data):
    blob = bytearray(data.draw(st.sampled_from(SMALL)))
    i = data.draw(st.integers(0, len(blob) - 4))
    value = data.draw(st.sampled_from([0xFFFFFFFF, 0x7FFFFFFF, 0x0FFFFFFF, len(blob), len(blob) + 1]))
    blob[i:i + 4] = struct.pack("<I", value)
    decode_or_reject(bytes(blob))


@pytest.mark.skipif(not SMALL, reason="golden vectors absent")
@FUZZ
@given(st.data())
def test_spliced_goldens(data):
    a = data.draw(st.sampled_from(SMALL))
    b = data.draw(st.sampled_from(SMALL))
    i = data.draw(st.integers(0, len(a)))
    j = data.draw(st.integers(0, len(b)))
    decode_or_reject(a[:i] + b[j:])


def element(key: bytes, type_code: int, value: bytes, attrs: bytes = b"\0\0\0\0") -> bytes:
    """One encoded element."""
    return bytes([len(key)]) + key + struct.pack("<I", type_code) + attrs + value


def one(elem: bytes) -> bytes:
    """A Hash holding one encoded element."""
    return struct.pack("<I", 1) + elem


@pytest.mark.parametrize("blob, expected", [
    (b"", "element count"),
    (b"\x01\x00\x00", "element count"),
    (struct.pack("<I", 0xFFFFFFFF), "element count 4294967295"),
    (one(element(b"a", 99, b"")), "unknown or unsupported type code 99"),
    (one(element(b"a", 33, b"")), "type code 33"),
    (one(element(b"a", 34, b"")), "type code 34"),
    (one(element(b"a", 38, b"")), "type code 38"),
    (one(element(b"\xff\xfe", 12, b"\0\0\0\0")), "invalid UTF-8 in key"),
    (one(element(b"a\0b", 12, b"\0\0\0\0")), "NUL in key"),
    (one(element(b"a", 13, struct.pack("<I", 0x0FFFFFFF))), "element count of 'a' 268435455"),
    (one(element(b"s", 28, struct.pack("<I", 1000) + b"abc")), "STRING of 's'"),
    (one(element(b"n", 35, struct.pack("<I", 7))), "NONE value of 'n' must be a u32 zero"),
    (one(element(b"b", 0, b"\x02")), "BOOL byte 2"),
    (one(element(b"v", 29, struct.pack("<I", 0x7FFFFFFF))), "VECTOR_STRING of 'v'"),
    (one(element(b"h", 31, struct.pack("<I", 0x40000000))), "VECTOR_HASH of 'h'"),
    (one(element(b"a", 12, b"\0\0\0\0", attrs=struct.pack("<I", 0x10000000))), "attribute count of 'a'"),
    (one(element(b"s", 32, struct.pack("<I", 3) + b"\x05abc")), "root name of SCHEMA of 's'"),
    (one(element(b"i", 12, b"\0\0\0\0")) + b"\0", "1 trailing bytes"),
])
def test_specific_malformations_are_named(blob, expected):
    with pytest.raises(DeserializationError, match="offset") as info:
        decodeBinary(blob)
    assert expected in str(info.value)


def nested(depth: int) -> bytes:
    """A chain of ``depth`` Hashes, each the single element 'n' of its parent."""
    blob = struct.pack("<I", 0)
    for _ in range(depth - 1):
        blob = one(element(b"n", 30, blob))
    return blob


def test_nesting_up_to_the_limit_is_read():
    h = decodeBinary(nested(MAX_DEPTH))
    assert h.has("n" + ".n" * (MAX_DEPTH - 2))


def test_nesting_beyond_the_limit_is_rejected():
    with pytest.raises(DeserializationError, match=f"deeper than {MAX_DEPTH}"):
        decodeBinary(nested(MAX_DEPTH + 1))


def test_huge_counts_allocate_nothing_big():
    blobs = [
        struct.pack("<I", 0xFFFFFFFF) + b"\0" * 64,
        one(element(b"v", 17, struct.pack("<I", 0xFFFFFFFF) + b"\0" * 64)),
        one(element(b"v", 36, struct.pack("<I", 0xFFFFFFFF) + b"\0" * 64)),
        one(element(b"v", 31, struct.pack("<I", 0xFFFFFFFF) + b"\0" * 64)),
    ]
    tracemalloc.start()
    try:
        for blob in blobs:
            with pytest.raises(DeserializationError):
                decodeBinary(blob)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_positioned_decoding_of_a_stream():
    a, b = Hash("x", 1), Hash("y", "two")
    stream = encodeBinary(a) + encodeBinary(b)
    first, n = decodeBinaryPos(stream, 0)
    second, m = decodeBinaryPos(stream, n)
    assert first.fullyEqual(a) and second.fullyEqual(b) and n + m == len(stream)
    with pytest.raises(ValueError):
        decodeBinaryPos(stream, len(stream) + 1)
