"""The user-space side a testcase sees: will-it-scale's view of libc.

A testcase calls `ctx.mmap(...)`, `ctx.munmap(...)`, touches memory with `ctx.store(addr)`
(`c[i] = 0`) and `ctx.load(addr)` (`*(volatile char *)(c + i)`), and bumps
`ctx.iterations`, exactly as will-it-scale's tests/*.c do.  Memory holds no data here: an
access is what the MMU and the kernel do for it (emu/cpu/mmu.py).
"""

from __future__ import annotations

from emu.cpu.mmu import user_access
from emu.cpu.td import Td
from emu.kernel.kern_synch import mi_switch
from emu.kernel.pmap import MADV_DONTNEED, MADV_FREE, MADV_NORMAL, pmap_activate
from emu.kernel.proc import Proc
from emu.kernel.run_local import run_local
from emu.kernel.vm_map import vfs_create, vm_map_thread_window
from emu.kernel.vm_mmap import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    MAP_SHARED,
    sys_madvise,
    sys_mmap,
    sys_munmap,
)
from emu.kernel.vm_state import local_ctx
from emu.kernel.vm_unix import sys_break, sys_sbrk_current

PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC = 0, 1, 2, 4
MAP_FAILED = -1

__all__ = ["MADV_DONTNEED", "MADV_FREE", "MADV_NORMAL", "MAP_ANONYMOUS", "MAP_FAILED",
           "MAP_FIXED", "MAP_PRIVATE", "MAP_SHARED", "PROT_EXEC", "PROT_NONE", "PROT_READ",
           "PROT_WRITE", "Ctx", "getpagesize"]


def getpagesize() -> int:
    return 4096


class Ctx:
    """One task's process context: its CPU (`td`), its process, its task number, and the
    CPUs of all tasks (for testcases that interrupt each other)."""

    def __init__(self, td: Td, proc: Proc, nr: int, cpus: list[int] | None = None) -> None:
        self.td = td
        self.proc = proc
        self.nr = nr
        self.cpus = cpus or [td.cpu]
        self._iterations = 0
        self._files = 0
        vm_map_thread_window(proc, nr)
        self.k = local_ctx(td)    # the kernel paths' view of this CPU
        run_local(td, pmap_activate(self.k, proc))  # it starts running here: pm_active

    def mmap(self, addr: int | None, length: int, prot: int, flags: int, fd: int = -1,
             offset: int = 0) -> int:
        rv = run_local(self.td, sys_mmap(self.k, self.proc, addr or 0, length, prot, flags,
                                         fd, offset))
        return MAP_FAILED if rv < 0 else rv

    def munmap(self, addr: int, length: int) -> int:
        return -1 if run_local(self.td, sys_munmap(self.k, self.proc, addr, length)) < 0 else 0

    def madvise(self, addr: int, length: int, advice: int) -> int:
        rv = run_local(self.td, sys_madvise(self.k, self.proc, addr, length, advice))
        return -1 if rv < 0 else 0

    def brk(self, addr: int) -> int:
        """brk(2): set the break; 0, or -1 (ENOMEM)."""
        return -1 if run_local(self.td, sys_break(self.k, self.proc, addr)) < 0 else 0

    def sbrk(self, incr: int) -> int:
        """sbrk(3): libc keeps the break; a non-zero increment moves it with brk(2).
        Returns the old break."""
        old = sys_sbrk_current(self.k, self.proc)
        if incr and self.brk(old + incr) < 0:
            return MAP_FAILED
        return old

    def store(self, addr: int, value: int = 0) -> None:
        """`*(char *)addr = value`: a user-mode write."""
        user_access(self.td, self.proc, addr, True)

    def load(self, addr: int) -> None:
        """`*(volatile char *)addr`: a user-mode read (no data is modelled: returns None)."""
        user_access(self.td, self.proc, addr, False)

    def mkstemp(self, template: str) -> int:
        """A new empty file of this task's (the name is not modelled); returns its fd."""
        self._files += 1
        fd = 2 + self._files
        self.proc.files[fd] = ((self.nr + 1) << 16 | self._files, 0)
        return fd

    def ftruncate(self, fd: int, length: int) -> int:
        """Give the file its length (a sparse file: its pages read as zeroes)."""
        if fd not in self.proc.files:
            return -1
        fid = self.proc.files[fd][0]
        self.proc.files[fd] = (fid, (length + 4095) // 4096)
        run_local(self.td, vfs_create(self.k, self.proc, fid, (length + 4095) // 4096))
        return 0

    def unlink(self, path: str) -> int:
        return 0

    def sched_yield(self, cycles: int = 0) -> None:
        """Leave the CPU for a while (mi_switch to idle and back: pm_active is left, the
        TLB flushed by the %cr3 switch, then rejoined)."""
        run_local(self.td, mi_switch(self.k, self.proc, cycles))

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
