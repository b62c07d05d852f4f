# Cython declarations for thread.py (see emu/compiled.py): the fields as C struct slots.
cdef class ModelThread:
    cdef public object cpu, task, held, offcpu, on_resume, awaiting_acks, drain
    cdef public list holding, args
