"""Access to the golden Hash encodings made by real Karabo 3 (``../shared/testdata/hash-golden``).

The manifest describes each case as a typed tree; ``tree_to_hash`` builds the same Hash through
the public API so that encoder and decoder can be compared against the C++ bytes.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from functools import lru_cache
from pathlib import Path

import pytest

from pykarabo import Hash, Schema, Types

# No key in the goldens contains NUL, so it is a separator that never splits a key.
RAW = "\x00"


def golden_dir() -> Path:
    """Where the golden vectors are: $PYKARABO_GOLDEN_DIR or ../shared beside the repository."""
    env = os.environ.get("PYKARABO_GOLDEN_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "hash-golden"


@lru_cache(maxsize=1)
def load_manifest() -> dict:
    """The parsed manifest.json; skips the calling test if the golden folder is absent."""
    path = golden_dir() / "manifest.json"
    if not path.exists():
        pytest.skip(f"golden vectors not found at {path.parent} (set PYKARABO_GOLDEN_DIR)")
    return json.loads(path.read_text())


def load_cases() -> list[dict]:
    """All golden cases (empty when the folder is absent, so parametrization yields a skip)."""
    path = golden_dir() / "manifest.json"
    if not path.exists():
        return []
    return json.loads(path.read_text())["cases"]


def case_ids(cases: list[dict]) -> list[str]:
    """Test ids for parametrization."""
    return [c["name"] for c in cases]


def read_bin(case: dict) -> bytes:
    """The C++ encoding of a case."""
    return (golden_dir() / case["files"]["bin"]).read_bytes()


def _float(hexbits: str, fmt: str) -> float:
    return struct.unpack(fmt, bytes.fromhex(hexbits))[0]


def tree_value(type_name: str, value):
    """The Python value the manifest notation ``value`` denotes for type ``type_name``."""
    t = Types[type_name]
    if t in (Types.HASH, Types.HASH_POINTER):
        return tree_to_hash(value)
    if t in (Types.VECTOR_HASH, Types.VECTOR_HASH_POINTER):
        return [tree_to_hash(v) for v in value]
    if t == Types.SCHEMA:
        return Schema(value["rootName"], tree_to_hash(value["hash"]))
    if t == Types.CHAR:
        return chr(value)
    if t in (Types.INT64, Types.UINT64):
        return int(value)
    if t == Types.FLOAT:
        return _float(value, ">f")
    if t == Types.DOUBLE:
        return _float(value, ">d")
    if t == Types.COMPLEX_FLOAT:
        return complex(_float(value[0], ">f"), _float(value[1], ">f"))
    if t == Types.COMPLEX_DOUBLE:
        return complex(_float(value[0], ">d"), _float(value[1], ">d"))
    if t == Types.VECTOR_CHAR:
        return base64.b64decode(value)
    if t == Types.BYTE_ARRAY:
        return bytearray(base64.b64decode(value))
    if t.isVector and t not in (Types.VECTOR_STRING, Types.VECTOR_NONE, Types.VECTOR_BOOL):
        return [tree_value(t.elementType.name, v) for v in value]
    return value


def tree_to_hash(nodes: list[dict]) -> Hash:
    """Build the Hash a manifest tree describes: same keys, order, types, values and attributes."""
    h = Hash()
    for node in nodes:
        key = node["key"]
        h.setAs(key, tree_value(node["type"], node["value"]), Types[node["type"]], sep=RAW)
        for attr in node["attrs"]:
            h.setAttribute(key, attr["key"], tree_value(attr["type"], attr["value"]),
                           type=Types[attr["type"]], sep=RAW)
    return h
