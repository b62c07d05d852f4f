"""emu: an emulated many-CPU FreeBSD kernel for studying scalability collapses."""

from emu import compiled

compiled.install()  # the model's hot modules: compiled, or their Python source (emu/compiled.py)
