# Cython declarations for ops.py (see emu/compiled.py): compiled, the op table's functions
# run without an interpreter frame, and the accesses to a line call the cache-line model
# directly (a subclass's override, emu/causal/speedup.py, still wins: cpdef).
cimport cython

from emu.hw.coherence cimport Coherence


@cython.locals(coh=Coherence)
cpdef read(sim, ks, th, t, line)
@cython.locals(coh=Coherence)
cpdef write(sim, ks, th, t, line)
@cython.locals(coh=Coherence)
cpdef rmw(sim, ks, th, t, line)
