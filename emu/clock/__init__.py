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


def clock_module(name: str) -> ModuleType:
    try:
        return import_module(CLOCKS[name])
    except KeyError:
        raise ValueError(f"unknown clock {name!r} (known: {', '.join(CLOCKS)})") from None
