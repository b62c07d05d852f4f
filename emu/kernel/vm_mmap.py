"""The mmap(2) and munmap(2) system calls (sys/vm/vm_mmap.c)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emu.kernel.vm_map import vm_map_find, vm_map_remove

if TYPE_CHECKING:
    from emu.cpu.td import Td
    from emu.kernel.proc import Proc

PAGE_SIZE = 4096
EINVAL, ENOMEM = 22, 12


def round_page(x: int) -> int:
    return (x + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def sys_mmap(td: Td, p: Proc, addr: int, length: int) -> int:
    """kern_mmap for an anonymous private mapping: returns the address or -errno."""
    td.cycles(td.cost.syscall)
    if length <= 0:
        return -EINVAL
    start = vm_map_find(td, p.vm_map, round_page(length))
    return start if start >= 0 else -ENOMEM


def sys_munmap(td: Td, p: Proc, addr: int, length: int) -> int:
    """kern_munmap: returns 0 or -errno."""
    td.cycles(td.cost.syscall)
    if addr & (PAGE_SIZE - 1) or length <= 0:
        return -EINVAL
    return -vm_map_remove(td, p.vm_map, addr, addr + round_page(length))
