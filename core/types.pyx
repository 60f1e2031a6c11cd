# cython: language_level=3
"""Karabo's type system: the ``Types`` enum and the numpy mapping of its numeric types."""

from enum import IntEnum

import numpy as np


class Types(IntEnum):
    """Karabo 3 value types with their wire codes (``Types::ReferenceType``)."""

    BOOL = 0
    VECTOR_BOOL = 1
    CHAR = 2
    VECTOR_CHAR = 3
    INT8 = 4
    VECTOR_INT8 = 5
    UINT8 = 6
    VECTOR_UINT8 = 7
    INT16 = 8
    VECTOR_INT16 = 9
    UINT16 = 10
    VECTOR_UINT16 = 11
    INT32 = 12
    VECTOR_INT32 = 13
    UINT32 = 14
    VECTOR_UINT32 = 15
    INT64 = 16
    VECTOR_INT64 = 17
    UINT64 = 18
    VECTOR_UINT64 = 19
    FLOAT = 20
    VECTOR_FLOAT = 21
    DOUBLE = 22
    VECTOR_DOUBLE = 23
    COMPLEX_FLOAT = 24
    VECTOR_COMPLEX_FLOAT = 25
    COMPLEX_DOUBLE = 26
    VECTOR_COMPLEX_DOUBLE = 27
    STRING = 28
    VECTOR_STRING = 29
    HASH = 30
    VECTOR_HASH = 31
    SCHEMA = 32
    VECTOR_SCHEMA = 33
    # 34 was ANY in Karabo 2 and no longer exists.
    NONE = 35
    VECTOR_NONE = 36
    BYTE_ARRAY = 37
    UNKNOWN = 38
    SIMPLE = 39
    SEQUENCE = 40
    POINTER = 41
    HASH_POINTER = 42
    VECTOR_HASH_POINTER = 43

    @property
    def isVector(self) -> bool:
        """True for the VECTOR_* types (sequences on the wire)."""
        return self.name.startswith("VECTOR_")

    @property
    def elementType(self) -> "Types":
        """The scalar type of a VECTOR_* type (VECTOR_HASH -> HASH); the type itself otherwise."""
        if self.name.startswith("VECTOR_"):
            return Types[self.name[len("VECTOR_"):]]
        return self

    @property
    def vectorType(self) -> "Types":
        """The VECTOR_* type whose elements are of this type."""
        return Types["VECTOR_" + self.name]

    @property
    def dtype(self) -> "np.dtype | None":
        """The little-endian numpy dtype of a numeric scalar or vector type, else None."""
        return _DTYPES.get(self.elementType)

    @classmethod
    def fromDtype(cls, dtype) -> "Types":
        """The scalar Karabo type of a numpy dtype (byte order ignored); TypeError if none."""
        dt = np.dtype(dtype)
        try:
            return _TYPE_OF_KIND[(dt.kind, dt.itemsize)]
        except KeyError:
            raise TypeError(f"numpy dtype {dt} has no Karabo type") from None


_DTYPES = {
    Types.BOOL: np.dtype(np.bool_),
    Types.CHAR: np.dtype("S1"),
    Types.INT8: np.dtype("<i1"),
    Types.UINT8: np.dtype("<u1"),
    Types.INT16: np.dtype("<i2"),
    Types.UINT16: np.dtype("<u2"),
    Types.INT32: np.dtype("<i4"),
    Types.UINT32: np.dtype("<u4"),
    Types.INT64: np.dtype("<i8"),
    Types.UINT64: np.dtype("<u8"),
    Types.FLOAT: np.dtype("<f4"),
    Types.DOUBLE: np.dtype("<f8"),
    Types.COMPLEX_FLOAT: np.dtype("<c8"),
    Types.COMPLEX_DOUBLE: np.dtype("<c16"),
}
_TYPE_OF_KIND = {(dt.kind, dt.itemsize): t for t, dt in _DTYPES.items() if t != Types.CHAR}
