# Cython declarations for mtx.py (see emu/compiled.py).  acquire and release are cpdef, so
# the engine calls them directly; the callbacks a mutex schedules (_landed, _grab, _woken)
# are cpdef, bound with functools.partial.  _round and _catch_up are cpdef:
# tests/unit/test_mtx.py drives them directly.
cimport cython

from emu.counters cimport note_extremes
from emu.hw.coherence cimport Coherence, Line
from emu.kernel.thread cimport ModelThread

cdef class Spinner:
    cdef public ModelThread th
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
    @cython.locals(row=list)
    cdef _count(self, caller, Py_ssize_t field, value=*)
    @cython.locals(travel="long long")
    cpdef acquire(self, ModelThread th, t, caller)
    cpdef _landed(self, ModelThread th, since, caller, t)
    cdef _fcmpset(self, cpu, t, row=*)
    @cython.locals(heap=list, sharers=set, late=list, fresh=list, misses=list, sp=Spinner,
                   served=bint)
    cpdef _catch_up(self, t, row=*, changed=*)
    cdef _reads(self, list misses)
    cdef _take(self, ModelThread th, t, caller)
    cdef _contend(self, Spinner sp, t)
    cpdef _round(self, Spinner sp)
    cdef _backoff(self, Spinner sp, after)
    cdef _push(self, Spinner sp)
    cdef _unlist(self, Spinner sp)
    @cython.locals(heap=list, sp=Spinner)
    cdef _pop_live(self)
    @cython.locals(seen=list, sp=Spinner, m="long long", read="long long",
                   handed="long long", taken="long long", served="long long")
    cdef _race(self, r, list row, changed, held)
    @cython.locals(coh=Coherence, dist=list)
    cpdef release(self, ModelThread th, t)
    cdef _fcmpset_sent(self, Spinner sp, tuple key, travel)
    cpdef _grab(self, Spinner sp, key, travel, t)
    cdef _acquired(self, Spinner sp, t)
    cdef _block(self, Spinner sp, t)
    cpdef _woken(self, Spinner sp, t)
    cpdef owner_off_cpu(self, t)
