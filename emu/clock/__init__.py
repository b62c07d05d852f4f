"""Clocks: how emulated time passes.  Each is one module behind the same two entry points:

    make_td(spec, task, sock, board) -> Td       the CPU side, in a CPU process
    serve(router, spec, board, alive) -> None    the actor side, in the kernel actor
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

CLOCKS = {
    "virtual": "emu.clock.virtual",  # exact, reproducible (default)
    "wall": "emu.clock.wall",        # host time, free-running, NOT reproducible
}


# `--profile`: a clock's profiling twin, the same clock with counting Td and engine.
PROFILERS = {
    "virtual": "emu.clock.profile",
}


def clock_module(name: str, profile: bool = False) -> ModuleType:
    try:
        return import_module((PROFILERS if profile else CLOCKS)[name])
    except KeyError:
        if profile and name in CLOCKS:
            raise ValueError(f"--profile needs the virtual clock, not {name!r}") from None
        raise ValueError(f"unknown clock {name!r} (known: {', '.join(CLOCKS)})") from None
