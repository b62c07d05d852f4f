# Cython declarations for engine.py (see emu/compiled.py).  Times stay Python ints here:
# a run with -s 0 ends at NEVER (2**62), and sums past it must not wrap.
cimport cython

from emu.kernel.mtx cimport Mtx
from emu.kernel.thread cimport ModelThread


cdef class Thread(ModelThread):
    cdef public object state, t, pc, seq, lookahead, iterations, boundary, boundary_t
    cdef public object version, steal
    cdef public list ops, siblings
    cdef public object queue, ipi_waiters
    cdef public bint stretch


cdef class Engine:
    cdef public dict threads
    cdef public object smt_slowdown, ks, board, words, period, boundaries, t_end
    cdef public object ipi_latency, ipi_handler, ipi_send, handler_cost
    cdef public object reply, interrupt, ret_value
    cdef public list heap, intr_bounds, starved
    cdef public object ready
    cdef public object seq, processed, running
    cdef dict __dict__
    # Overridden by the profiling engine (emu/clock/profile.py): cpdef, not cdef.
    cdef _push(self, tuple entry)
    cpdef _load(self, Thread th)
    @cython.locals(ops=list, pc=Py_ssize_t)
    cpdef _step(self, Thread th, t)
    @cython.locals(pc=Py_ssize_t, works=bint)
    cpdef _advance(self, Thread th, t)
    cpdef bint sibling_works(self, Thread th)
    @cython.locals(m=Mtx)
    cpdef lock(self, ModelThread th, t, lock, caller)
    @cython.locals(m=Mtx)
    cpdef unlock(self, ModelThread th, t, lock, caller)
