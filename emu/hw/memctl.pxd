# Cython declarations for memctl.py (see emu/compiled.py): the MEMCTL op runs in the actor
# once per page zeroed or copied.
cdef class MemCtl:
    cdef public object bytes_per_cycle
    cdef public list free_at, requests, bytes, busy, wait
