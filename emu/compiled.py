"""Which of the model's modules run compiled, and the switch back to their Python source.

The kernel actor's inner loop is compiled by Cython when `make setup` finds it (setup.py):
the engine (emu/clock/engine.py), the mutex and cache-line models (emu/kernel/mtx.py,
emu/hw/coherence.py), the thread they share (emu/kernel/thread.py), the op table
(emu/kernel/ops.py), the actor's kernel-path driver and the requests it reads
(emu/kernel/kthread.py, requests.py), the memory controllers (emu/hw/memctl.py) and the
counter board (emu/counters.py).  The .py file stays the model, and is what is compiled: a
module's .pxd beside it only declares the types of its classes' fields and of its hot
methods' arguments and locals (cycles: C long long, overflow-checked), so a reader reads
one text.  Every module with a .pxd is compiled; nothing else.  The CPU's kernel-path
driver (emu/kernel/run_local.py) and the kernel paths stay Python: --profile reads their
frames.

The Python source runs instead, all of it (a compiled module's classes extend another's, so
they go together), when EMU_PURE=1 or when any compiled module is missing or older than its
source (an edit since `make setup`).  tests/golden pins the same results on both paths.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

PURE_ENV = "EMU_PURE"
_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def compiled_modules() -> list[str]:
    """The dotted names of the modules Cython compiles: those with a .pxd beside them."""
    names = []
    for folder, _, files in os.walk(_PACKAGE):
        for f in files:
            if f.endswith(".pxd") and f[:-4] + ".py" in files:
                rel = os.path.relpath(os.path.join(folder, f[:-4]), os.path.dirname(_PACKAGE))
                names.append(rel.replace(os.sep, "."))
    return sorted(names)


def _base(name: str) -> str:
    return os.path.join(os.path.dirname(_PACKAGE), *name.split("."))


def _extension(name: str) -> str | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        if os.path.exists(_base(name) + suffix):
            return _base(name) + suffix
    return None


def _current(name: str) -> bool:
    ext = _extension(name)
    if ext is None:
        return False
    base = _base(name)
    source = max(os.path.getmtime(base + ".py"), os.path.getmtime(base + ".pxd"))
    return os.path.getmtime(ext) >= source


def compiled_in_use() -> bool:
    """Whether the compiled modules run (rather than their Python source)."""
    names = compiled_modules()
    return (not os.environ.get(PURE_ENV) and bool(names)
            and all(_current(name) for name in names))


class _PythonSource(importlib.abc.MetaPathFinder):
    """Loads a compiled module from its .py, when the Python source is to run."""

    def __init__(self, names: list[str]) -> None:
        self.names = set(names)

    def find_spec(self, name, path, target=None):
        if name not in self.names:
            return None
        return importlib.util.spec_from_file_location(name, _base(name) + ".py")


def install() -> None:
    """Decide once, before any compiled module is imported, which of the two runs."""
    if compiled_in_use() or any(isinstance(f, _PythonSource) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _PythonSource(compiled_modules()))
