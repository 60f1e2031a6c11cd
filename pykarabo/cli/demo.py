"""``pykarabo demo``: a short tour of the Hash and its Karabo 3 wire format.

This stands in until the full demonstration (devices, pipelines, bridge, DAQ) replaces it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pykarabo import Hash, Types, decodeBinary, encodeBinary, encodeBinaryBuffers


def register(sub) -> None:
    """Add the ``demo`` subcommand."""
    p = sub.add_parser("demo", help="show a Karabo Hash and its binary encoding")
    p.add_argument("--seconds", type=float, default=0, help="accepted for compatibility; the tour ends by itself")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build a detector-train Hash, encode it like Karabo 3 and decode it without copying."""
    now = time.time()
    train = Hash()
    train["header.trainId"] = np.uint64(10_000_001)
    train.setAttribute("header.trainId", "sec", int(now), type=Types.UINT64)
    train.setAttribute("header.trainId", "frac", int((now % 1) * 1e18), type=Types.UINT64)
    train.setAttribute("header.trainId", "tid", 10_000_001, type=Types.UINT64)
    train["image.data"] = np.random.default_rng(0).integers(0, 4096, (64, 512, 128), dtype=np.uint16)
    train["image.cellId"] = np.arange(64, dtype=np.uint16)
    train["detector.state"] = "ACQUIRING"
    print(train)

    t0 = time.perf_counter()
    parts = encodeBinaryBuffers(train)
    t1 = time.perf_counter()
    blob = encodeBinary(train)
    t2 = time.perf_counter()
    back = decodeBinary(blob)
    t3 = time.perf_counter()
    arr = back["image.data"]
    print(f"encodeBinary: {len(blob):,} bytes in {1e3 * (t2 - t1):.2f} ms; "
          f"as {len(parts)} buffers (arrays not copied) in {1e6 * (t1 - t0):.0f} µs")
    print(f"decodeBinary: {1e6 * (t3 - t2):.0f} µs; image {arr.shape} {arr.dtype} is a view of the "
          f"received bytes: {np.shares_memory(arr, np.frombuffer(blob, np.uint8))}")
    print(f"round trip exact (values, types, attributes, order): {back.fullyEqual(train)}")
    return 0
