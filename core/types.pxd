# Karabo 3 type codes (src/karabo/data/types/Types.hh), shared by every core module.
cdef enum:
    T_BOOL = 0
    T_VECTOR_BOOL = 1
    T_CHAR = 2
    T_VECTOR_CHAR = 3
    T_INT8 = 4
    T_VECTOR_INT8 = 5
    T_UINT8 = 6
    T_VECTOR_UINT8 = 7
    T_INT16 = 8
    T_VECTOR_INT16 = 9
    T_UINT16 = 10
    T_VECTOR_UINT16 = 11
    T_INT32 = 12
    T_VECTOR_INT32 = 13
    T_UINT32 = 14
    T_VECTOR_UINT32 = 15
    T_INT64 = 16
    T_VECTOR_INT64 = 17
    T_UINT64 = 18
    T_VECTOR_UINT64 = 19
    T_FLOAT = 20
    T_VECTOR_FLOAT = 21
    T_DOUBLE = 22
    T_VECTOR_DOUBLE = 23
    T_COMPLEX_FLOAT = 24
    T_VECTOR_COMPLEX_FLOAT = 25
    T_COMPLEX_DOUBLE = 26
    T_VECTOR_COMPLEX_DOUBLE = 27
    T_STRING = 28
    T_VECTOR_STRING = 29
    T_HASH = 30
    T_VECTOR_HASH = 31
    T_SCHEMA = 32
    T_VECTOR_SCHEMA = 33
    T_NONE = 35
    T_VECTOR_NONE = 36
    T_BYTE_ARRAY = 37
    T_UNKNOWN = 38
    T_SIMPLE = 39
    T_SEQUENCE = 40
    T_POINTER = 41
    T_HASH_POINTER = 42
    T_VECTOR_HASH_POINTER = 43
    T_MAX_CODE = 43


cdef inline bint is_numeric_vector(int code) noexcept:
    """VECTOR_BOOL and the packed numeric vectors (not VECTOR_CHAR): stored as 1-d numpy arrays."""
    return code == T_VECTOR_BOOL or (T_VECTOR_INT8 <= code <= T_VECTOR_COMPLEX_DOUBLE and code % 2 == 1)
