"""--profile's attribution of a kernel path driven by run_local: to its generators, as if
they were frames (emu/clock/profile.py `_kpath`)."""

from __future__ import annotations

import sys
from types import SimpleNamespace

from emu.clock.profile import _kpath
from emu.kernel.kthread import Cycles, Rmw
from emu.kernel.run_local import run_local


class Td:
    cost = SimpleNamespace(atomic_local=1, l1_hit=1)

    def __init__(self) -> None:
        self.charged: list[tuple[str, str | None]] = []

    def _who(self, depth: int) -> None:
        f, c = _kpath(sys._getframe(depth))
        self.charged.append((f.co_name, c.co_name if c else None))

    def cycles(self, n: int) -> None:
        self._who(2)          # as ProfilingTd.cycles: its caller's frame is run_local's

    def atomic(self, line: int) -> None:
        self._who(2)


def inner():
    yield Cycles(1)
    yield Rmw(5)              # a shared op: charged to its issuer the same way


def outer():
    yield Cycles(2)
    yield from inner()
    yield from (Cycles(3),)   # requests from a tuple are the delegating generator's own
    yield Cycles(4)


def entry_point(td: Td) -> None:
    run_local(td, outer())


def test_innermost_generator_called_from_its_delegator_or_from_run_locals_caller():
    td = Td()
    entry_point(td)
    assert td.charged == [("outer", "entry_point"), ("inner", "outer"), ("inner", "outer"),
                          ("outer", "entry_point"), ("outer", "entry_point")]


def test_a_path_run_from_inside_another_path():
    td = Td()

    def via_another_path():
        yield Cycles(1)
        run_local(td, outer())   # a path that runs another on the side (nested driver)

    run_local(td, via_another_path())
    assert td.charged[0][0] == "via_another_path"
    assert td.charged[1] == ("outer", "via_another_path")
