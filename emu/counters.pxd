# Cython declarations for counters.py (see emu/compiled.py).  Nothing to type: compiled,
# note_extremes (each mutex release and contended acquisition) runs without a frame.
