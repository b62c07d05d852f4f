# Cython declarations for kthread.py (see emu/compiled.py): the actor's driver of kernel
# paths, its fields a C struct.  The CPU's driver (run_local.py) stays Python source.
cdef class _Run:
    cdef public object ks, sim, th, gen, t, now, pending, on_done
    cpdef go(self, value)
    cdef _perform(self, req, t)
    cdef _continue(self, t)
    cdef _complete(self, tuple res)
