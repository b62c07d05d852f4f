"""The user-space side a testcase sees: will-it-scale's view of libc.

A testcase calls `ctx.mmap(...)`, `ctx.munmap(...)` and bumps `ctx.iterations`, exactly as
will-it-scale's tests/*.c call mmap(2), munmap(2) and `(*iterations)++`.
"""

from __future__ import annotations

from emu.cpu.td import Td
from emu.kernel.proc import Proc
from emu.kernel.vm_mmap import sys_mmap, sys_munmap

PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC = 0, 1, 2, 4
MAP_SHARED, MAP_PRIVATE, MAP_ANONYMOUS = 0x1, 0x2, 0x1000
MAP_FAILED = -1


class Ctx:
    """One task's process context: its CPU (`td`), its process, its task number, and the
    CPUs of all tasks (for testcases that interrupt each other)."""

    def __init__(self, td: Td, proc: Proc, nr: int, cpus: list[int] | None = None) -> None:
        self.td = td
        self.proc = proc
        self.nr = nr
        self.cpus = cpus or [td.cpu]
        self._iterations = 0

    def mmap(self, addr: int | None, length: int, prot: int, flags: int, fd: int = -1,
             offset: int = 0) -> int:
        del prot, flags, fd, offset  # anonymous private mappings are all that is modelled
        rv = sys_mmap(self.td, self.proc, addr or 0, length)
        return MAP_FAILED if rv < 0 else rv

    def munmap(self, addr: int, length: int) -> int:
        return -1 if sys_munmap(self.td, self.proc, addr, length) < 0 else 0

    @property
    def iterations(self) -> int:
        return self._iterations

    @iterations.setter
    def iterations(self, value: int) -> None:
        """`(*iterations)++`: the loop's own instructions, then a counted iteration."""
        td = self.td
        for _ in range(value - self._iterations):
            td.cycles(td.cost.user_loop)
            td.count()
        self._iterations = value
