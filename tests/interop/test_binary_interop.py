"""Our binary encoding and real Karabo 3's agree byte for byte on random Hashes.

Karabo decodes what we wrote and writes it again; the bytes must be ours exactly.  C++
(karabind) covers every type; karabo.native only what it can represent (spec §8: no complex
types, VECTOR_NONE or Hash pointers, ASCII keys, 1-d arrays as vectors).
"""

import pytest
from hypothesis import HealthCheck, assume, given, settings

from pykarabo import Hash, Types, decodeBinary, encodeBinary
from tests.golden import case_ids, load_cases, read_bin
from tests.interop.conftest import require
from tests.strategies import ALL_KINDS, hashes

pytestmark = pytest.mark.karabo
INTEROP = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))

NATIVE_UNSUPPORTED = {
    Types.COMPLEX_FLOAT, Types.COMPLEX_DOUBLE, Types.VECTOR_COMPLEX_FLOAT,
    Types.VECTOR_COMPLEX_DOUBLE, Types.VECTOR_NONE, Types.HASH_POINTER,
    Types.VECTOR_HASH_POINTER, Types.CHAR, Types.SCHEMA, "NDArray", "ImageData",
}
NATIVE_KINDS = tuple(k for k in ALL_KINDS if k not in NATIVE_UNSUPPORTED)


def ascii_keys(h: Hash) -> Hash:
    """The same Hash (structure, types, values) with keys k0, k1, ... and attributes a0, a1, ...

    Attributes of types karabo.native lacks are left out.

    karabo.native reads keys as ASCII (spec §3.4), so its test renames rather than filters.
    """
    out = Hash()
    for i, node in enumerate(h.nodes()):
        key = f"k{i}"
        out.setAs(key, rekeyed(node.getValue(), node.getType()), node.getType())
        for j, attr in enumerate(node.getAttributes().nodes()):
            if attr.getType() not in NATIVE_UNSUPPORTED:
                out.setAttribute(key, f"a{j}", rekeyed(attr.getValue(), attr.getType()), type=attr.getType())
    return out


def rekeyed(value, t: Types):
    """``value`` with every Hash inside it passed through ``ascii_keys``."""
    if t == Types.HASH:
        return ascii_keys(value)
    if t == Types.VECTOR_HASH:
        return [ascii_keys(item) for item in value]
    return value


def bracket_free(h: Hash) -> bool:
    """Whether no key of ``h`` (at any depth) contains '[': Karabo's C++ reader stores each
    decoded element with ``Hash::set``, which parses "a[0]" as an index into a vector of Hash
    and throws for a key such as "[]" (a Karabo limitation; our reader takes keys literally)."""
    for node in h.nodes():
        if "[" in node.getKey():
            return False
        value = node.getValue()
        if node.getType() in (Types.HASH, Types.HASH_POINTER) and isinstance(value, Hash):
            if not bracket_free(value):
                return False
        elif node.getType() in (Types.VECTOR_HASH, Types.VECTOR_HASH_POINTER):
            if not all(bracket_free(item) for item in value):
                return False
    return True


@INTEROP
@given(hashes(max_depth=3, max_leaves=20))
def test_cpp_rewrites_our_bytes_identically(karabo_peer, h):
    require(karabo_peer, "cpp")
    assume(bracket_free(h))
    ours = encodeBinary(h)
    assert karabo_peer.roundtrip("cpp", ours) == ours


@INTEROP
@given(hashes(max_depth=2, max_leaves=16, kinds=NATIVE_KINDS))
def test_native_rewrites_our_bytes_identically(karabo_peer, h):
    require(karabo_peer, "native")
    ours = encodeBinary(ascii_keys(h))
    assert karabo_peer.roundtrip("native", ours) == ours


CASES = [c for c in load_cases() if c["cpp_decode"] == "ok"]


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_cpp_reads_what_we_write_for_every_golden(karabo_peer, case):
    require(karabo_peer, "cpp")
    ours = encodeBinary(decodeBinary(read_bin(case)))
    assert karabo_peer.roundtrip("cpp", ours) == ours
