"""The mmap(2), munmap(2) and madvise(2) system calls (sys/vm/vm_mmap.c)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emu.kernel.vm_map import (
    ANON,
    MapSpec,
    vm_map_find,
    vm_map_fixed,
    vm_map_madvise,
    vm_map_remove,
)

if TYPE_CHECKING:
    from emu.cpu.td import Td
    from emu.kernel.proc import Proc

PAGE_SIZE = 4096
EINVAL, ENOMEM, EBADF = 22, 12, 9
PROT_WRITE = 2
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x1, 0x2, 0x10, 0x1000


def round_page(x: int) -> int:
    return (x + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def sys_mmap(td: Td, p: Proc, addr: int, length: int, prot: int = 3,
             flags: int = MAP_PRIVATE | MAP_ANONYMOUS, fd: int = -1, offset: int = 0) -> int:
    """kern_mmap: returns the address or -errno.  A private writable mapping (anonymous or
    a file's) is charged to swap; a file mapping also references the file's vnode."""
    td.cycles(td.cost.syscall)
    if length <= 0 or offset & (PAGE_SIZE - 1):
        return -EINVAL
    private, writable = bool(flags & MAP_PRIVATE), bool(prot & PROT_WRITE)
    if flags & MAP_ANONYMOUS:
        spec = ANON if private and writable else MapSpec(writable=writable, charged=False)
    else:
        if fd not in p.files:
            return -EBADF
        td.cycles(td.cost.vm_mmap_vnode + td.cost.vnode_ref)  # vm_mmap_vnode: vget, getattr
        spec = MapSpec(p.files[fd][0], offset // PAGE_SIZE, cow=private, writable=writable,
                       charged=private and writable)
    size = round_page(length)
    if flags & MAP_FIXED:
        if addr & (PAGE_SIZE - 1):
            return -EINVAL
        return vm_map_fixed(td, p, addr, size, spec)
    start = vm_map_find(td, p, size, spec)
    return start if start >= 0 else -ENOMEM


def sys_munmap(td: Td, p: Proc, addr: int, length: int) -> int:
    """kern_munmap: returns 0 or -errno."""
    td.cycles(td.cost.syscall)
    if addr & (PAGE_SIZE - 1) or length <= 0:
        return -EINVAL
    return -vm_map_remove(td, p, addr, addr + round_page(length))


def sys_madvise(td: Td, p: Proc, addr: int, length: int, advice: int) -> int:
    td.cycles(td.cost.syscall)
    if addr & (PAGE_SIZE - 1) or length <= 0:
        return -EINVAL
    return -vm_map_madvise(td, p, addr, addr + round_page(length), advice)
