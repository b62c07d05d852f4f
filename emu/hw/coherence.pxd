# Cython declarations for coherence.py (see emu/compiled.py).  Times and costs are cycles:
# C long long, compiled with overflowcheck, so a value past 2**63 raises instead of wrapping.
cimport cython

cpdef long long leg(long long cost)


cdef class Line:
    cdef public long long owner, busy_until, written, transfers, accesses, wait, busy
    cdef public set sharers
    cdef public bint moving
    cpdef account(self, long long t, long long start, long long done)


cpdef long long line_handed(Line ln, long long cost) except? -1


cdef class Coherence:
    cdef public list transfer, inbound
    cdef public long long hit, atomic, memory
    cdef public object lines
    cdef long long _fetch(self, Line ln, long long cpu) except? -1
    cdef long long _own(self, Line ln, long long cpu, long long invalidate) except? -1
    @cython.locals(col=list, far="long long", sharer=Py_ssize_t)
    cdef long long _rfo(self, Line ln, long long cpu) except? -1
    @cython.locals(busy="long long", start="long long", done="long long", handed="long long")
    cdef long long _served(self, Line ln, long long t, long long cost, long long extra) except? -1
    cpdef long long rfo_cost(self, key, long long cpu) except? -1
    @cython.locals(ln=Line, cost="long long", done="long long")
    cpdef long long read(self, key, long long cpu, long long t) except? -1
    @cython.locals(ln=Line, cost="long long", done="long long")
    cpdef long long write(self, key, long long cpu, long long t) except? -1
    @cython.locals(done="long long")
    cpdef long long store(self, th, key, long long t) except? -1
    @cython.locals(ln=Line, cost="long long", done="long long")
    cpdef long long rmw(self, key, long long cpu, long long t, long long invalidate=*) except? -1
    @cython.locals(ln=Line, busy="long long", start="long long", done="long long",
                   handed="long long", moved=bint)
    cpdef long long rmw_arrived(self, key, long long cpu, long long t, long long travel) except? -1
