"""Hash <-> HDF5 mapping: any Hash saved to a group loads back fully equal (types, attributes, order)."""

from __future__ import annotations

import h5py
import numpy as np
from hypothesis import HealthCheck, given, settings

from pykarabo import Hash, NDArray, Types
from pykarabo.daq import load_hash, save_hash
from pykarabo.daq.hdf5hash import decode_name, encode_name

from ..strategies import hashes


def _roundtrip(h: Hash, tmp_path) -> Hash:
    with h5py.File(tmp_path / "h.h5", "w") as f:
        save_hash(h, f.create_group("hash", track_order=True))
    with h5py.File(tmp_path / "h.h5", "r") as f:
        return load_hash(f["hash"])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(hashes(max_depth=2, max_leaves=16))
def test_any_hash_roundtrips(tmp_path, h):
    back = _roundtrip(h, tmp_path)
    assert back.fullyEqual(h), (h, back)


def test_readable_layout(tmp_path):
    h = Hash("a.b", np.int16(3), "s", "text", "v", np.arange(4, dtype=np.float32), "arr",
             NDArray(np.ones((2, 3), np.uint8)), "odd/key", 1, "", True)
    h.setAttribute("a.b", "unitSymbol", "m")
    h.setAttribute("s", "tags", ["x", "y"])
    with h5py.File(tmp_path / "h.h5", "w") as f:
        save_hash(h, f)
        assert f["a/b"][()] == 3 and f["a/b"].dtype == np.int16 and f["a/b"].attrs["unitSymbol"] == "m"
        assert f["s"].asstr()[()] == "text" and f["s"].attrs["karabo.type"] == "STRING"
        assert f["arr"].shape == (2, 3) and f["v"].dtype == np.float32
        assert f[encode_name("odd/key")][()] == 1 and f["%"][()]
    back = _roundtrip(h, tmp_path)
    assert back.fullyEqual(h) and back.getType("a.b") == Types.INT16


def test_names():
    for name in ("", ".", "..", "a/b", "%2F", "a.b", "%", "x"):
        enc = encode_name(name)
        assert enc and "/" not in enc and "." not in enc and decode_name(enc) == name
