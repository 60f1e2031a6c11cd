"""Protocol 1.0 encoding of numpy values inside msgpack.

Protocol 1.0 embeds arrays in the msgpack body using the map layout that
msgpack-numpy defined (bin keys ``nd``, ``type``, ``kind``, ``shape``,
``data``). The hooks here reproduce that layout byte for byte so that
msgpack-numpy is not needed as a dependency.
"""

from typing import Any

import numpy as np


def check_array_dtype(dtype: np.dtype) -> None:
    """Reject dtypes whose bytes cannot be rebuilt from a raw buffer by a receiver."""
    # Object arrays hold pointers and structured dtypes have no parseable
    # name in protocol 2.2; the reference decoders choke on both.
    if dtype.hasobject or dtype.fields is not None or dtype.kind == "V":
        raise TypeError(f"arrays of dtype {dtype} cannot be sent over the bridge")


def raw_bytes(array: np.ndarray) -> memoryview:
    """Return a flat byte view of a C-contiguous array's memory, without copying."""
    # Going through uint8 also covers dtypes (datetime64, ...) that refuse to
    # export a buffer themselves.
    return array.reshape(-1).view(np.uint8).data


def encode(obj: Any) -> Any:
    """msgpack ``default`` hook writing numpy objects as protocol 1.0 maps."""
    if isinstance(obj, np.ndarray):
        check_array_dtype(obj.dtype)
        if not obj.flags.c_contiguous:
            obj = np.ascontiguousarray(obj)
        return {
            b"nd": True,
            b"type": obj.dtype.str,
            b"kind": b"",
            b"shape": obj.shape,
            b"data": raw_bytes(obj),
        }
    if isinstance(obj, np.generic) and not isinstance(obj, (np.void, np.object_)):
        return {b"nd": False, b"type": obj.dtype.str, b"data": np.asarray(obj).tobytes()}
    if isinstance(obj, complex):
        return {b"complex": True, b"data": repr(obj)}
    raise TypeError(f"cannot serialize object of type {type(obj).__name__}")


def decode(obj: dict) -> Any:
    """msgpack ``object_hook`` turning protocol 1.0 numpy maps back into numpy objects."""
    if b"nd" in obj:
        dtype = np.dtype(obj[b"type"])
        data = obj[b"data"]
        if obj[b"nd"] is True:
            if obj.get(b"kind", b"") != b"":
                raise ValueError(f"unsupported numpy array kind {obj[b'kind']!r}")
            shape = tuple(obj[b"shape"])
            expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if len(data) != expected:
                raise ValueError(
                    f"array has {len(data)} bytes, shape {shape} of {dtype} needs {expected}"
                )
            return np.frombuffer(data, dtype=dtype).reshape(shape)
        if len(data) != dtype.itemsize:
            raise ValueError(f"numpy scalar has {len(data)} bytes, {dtype} needs {dtype.itemsize}")
        return np.frombuffer(data, dtype=dtype)[0]
    if obj.get(b"complex") is True:
        return complex(obj[b"data"])
    return obj
