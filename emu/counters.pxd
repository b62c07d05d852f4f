# Cython declarations for counters.py (see emu/compiled.py): note_extremes (each mutex
# release and contended acquisition) is a C call from the compiled mutex model.
cpdef note_extremes(list row, Py_ssize_t lo, value)
