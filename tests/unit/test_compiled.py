"""The compiled model modules (emu/compiled.py): which they are, that `make setup` built them,
and that EMU_PURE=1 runs their Python source instead.  That both give the same results is
pinned in tests/golden/test_pinned.py."""

from __future__ import annotations

import os
import subprocess
import sys

from emu import compiled

WHERE = ("import importlib, emu.compiled as c; print(' '.join("
         "importlib.import_module(n).__file__ for n in c.compiled_modules()))")


def _files(env: dict) -> list[str]:
    out = subprocess.run([sys.executable, "-c", WHERE], capture_output=True, text=True,
                         env=env, check=True, timeout=120).stdout
    return out.split()


def test_the_modules_with_a_pxd_are_the_compiled_ones():
    assert compiled.compiled_modules() == [
        "emu.clock.engine", "emu.counters", "emu.hw.coherence", "emu.hw.memctl",
        "emu.kernel.kthread", "emu.kernel.mtx", "emu.kernel.ops", "emu.kernel.requests",
        "emu.kernel.thread"]


def test_make_setup_built_them_and_they_run():
    # `make test` runs `make setup` first, which compiles them (setup.py); a stale build
    # (a .py edited since) would run the Python source, and this says so.
    env = {k: v for k, v in os.environ.items() if k != compiled.PURE_ENV}
    assert all(f.endswith(".so") for f in _files(env)), "rebuild: make setup"


def test_emu_pure_runs_the_python_source():
    files = _files({**os.environ, compiled.PURE_ENV: "1"})
    assert all(f.endswith(".py") for f in files)
