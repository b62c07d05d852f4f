# Cython declarations for mtx.py (see emu/compiled.py).  The methods that make closures
# (acquire, release, _fcmpset_sent) stay Python methods: Cython compiles no closure in a cdef.
# _round and _catch_up are cpdef: tests/unit/test_mtx.py drives them directly.
from emu.hw.coherence cimport Coherence, Line

cdef class Spinner:
    cdef public object th
    cdef public long long since, start, caller, next_check, delay, version, blocked_at, paused

cdef class Mtx:
    cdef public object ks, name, lock_id, word, owner, owner_caller, acquired_at
    cdef public bint spin
    cdef public Line line
    cdef public Coherence coh
    cdef public list spinners, blocked, inflight, stats
    cdef public dict callers
    cdef public long long pause, hit, max_delay, wakeup, block_cost, nspinning
    cdef _extremes(self, caller, lo, value)
    cdef _count(self, caller, field, value=*)
    cdef _landed(self, th, since, t, caller)
    cdef _fcmpset(self, cpu, t, row=*)
    cpdef _catch_up(self, t, row=*, changed=*)
    cdef _reads(self, list misses)
    cdef _take(self, th, t, caller)
    cdef _contend(self, Spinner sp, t)
    cpdef _round(self, Spinner sp)
    cdef _backoff(self, Spinner sp, after)
    cdef _push(self, Spinner sp)
    cdef _unlist(self, Spinner sp)
    cdef _pop_live(self)
    cdef _race(self, r, list row, changed, held)
    cdef _grab(self, Spinner sp, key, travel, t)
    cdef _acquired(self, Spinner sp, t)
    cdef _block(self, Spinner sp, t)
    cdef _woken(self, Spinner sp, t)
    cpdef owner_off_cpu(self, t)
