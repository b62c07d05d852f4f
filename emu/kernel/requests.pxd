# Cython declarations for requests.py (see emu/compiled.py): each request a C struct, made
# without an interpreter frame.
cdef class _Request:
    pass

cdef class Cycles(_Request):
    cdef public object n

cdef class Read(_Request):
    cdef public object line

cdef class Write(_Request):
    cdef public object line

cdef class Rmw(_Request):
    cdef public object line

cdef class Lock(_Request):
    cdef public object lock, caller

cdef class Unlock(_Request):
    cdef public object lock, caller

cdef class Ipi(_Request):
    cdef public object targets, vector, a1, a2

cdef class Sleep(_Request):
    cdef public object chan

cdef class Delay(_Request):
    cdef public object n

cdef class MemXfer(_Request):
    cdef public object arg

cdef class Call(_Request):
    cdef public object kid, args

cdef class Mark(_Request):
    cdef public object name
