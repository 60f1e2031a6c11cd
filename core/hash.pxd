# Declarations of the Hash so that the binary codec (and later the pipeline core) can reach its
# internals without going through Python attribute lookups.

cdef class Node:
    cdef readonly str key
    cdef object value          # canonical Python representation for `type` (see hash.pyx docstring)
    cdef int type              # Karabo type code
    cdef Attributes attrs      # None while the element has no attributes


cdef class Attributes:
    cdef dict _d               # name -> Node (attributes are typed values, like elements)
    cdef Node _owner           # while still empty and detached: the node to attach to on write

    cdef Node _set(self, str name, object value, int type)
    cdef Node _node(self, str name)


cdef class Hash:
    cdef dict _d               # key -> Node; a dict keeps insertion order

    cdef Node _find(self, str path, str sep)
    cdef Node _find_indexed(self, str key, str sep)
    cdef Hash _parent(self, list parts, str sep)
    cdef Node _node(self, path, str sep)
    cdef _copy_into(self, Hash target, bint deep)
    cdef _set_inferred(self, path, value)
    cdef Node _put(self, str key, object value, int t)
    cdef Node _set(self, str path, object value, int t, str sep)


cdef class NDArray(Hash):
    pass


cdef class ImageData(Hash):
    pass


cdef class Schema:
    cdef public str rootName
    cdef public Hash hash


cdef Node new_node(str key, object value, int type)
cpdef object makeSchema(str rootName, Hash hash)
cdef object public_value(Node node)
cdef Attributes node_attrs(Node node)
cdef object classed_hash(Attributes attrs)
