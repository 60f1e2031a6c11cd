"""A minimal PNG writer (8-bit greyscale) so previews need no imaging library.

A PNG file is the 8-byte signature followed by chunks ``length | type | data | CRC-32``: ``IHDR``
(width, height, bit depth 8, colour type 0 = greyscale, no interlace), one ``IDAT`` holding the
zlib-compressed rows, each prefixed by filter byte 0 (none), and an empty ``IEND``.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["to_grey8", "write_png", "preview_image"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def to_grey8(image: np.ndarray) -> np.ndarray:
    """Scale a 2-d array to uint8 between its 1st and 99th percentile (NaNs become black)."""
    values = np.asarray(image, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros(values.shape, np.uint8)
    low, high = np.percentile(finite, [1, 99])
    scaled = (np.nan_to_num(values, nan=low) - low) / ((high - low) or 1.0)
    return (np.clip(scaled, 0, 1) * 255).astype(np.uint8)


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Write a 2-d uint8 array as a greyscale PNG."""
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError("write_png needs a 2-d uint8 array")
    height, width = image.shape
    rows = np.zeros((height, width + 1), np.uint8)   # column 0: filter type 0 for every row
    rows[:, 1:] = image
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    Path(path).write_bytes(_SIGNATURE + _chunk(b"IHDR", header)
                           + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + _chunk(b"IEND", b""))


def preview_image(array: np.ndarray) -> np.ndarray | None:
    """A 2-d image of an array: its two longest axes, index 0 of the others (None if not an image).

    Taking the longest axes finds the pixels in both file ``(pulses, modules, ss, fs)`` and online
    ``(modules, fs, ss, pulses)`` detector layouts.
    """
    if array.ndim < 2 or array.dtype.kind not in "biuf":
        return None
    keep = sorted(np.argsort(array.shape, kind="stable")[-2:])
    return array[tuple(slice(None) if axis in keep else 0 for axis in range(array.ndim))]
