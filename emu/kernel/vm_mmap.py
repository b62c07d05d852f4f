"""The mmap(2), munmap(2) and madvise(2) system calls (sys/vm/vm_mmap.c)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from emu.kernel.kthread import Cycles, KCtx
from emu.kernel.vm_map import (
    ANON,
    MapSpec,
    vm_map_find,
    vm_map_fixed,
    vm_map_madvise,
    vm_map_remove,
)

if TYPE_CHECKING:
    from emu.kernel.proc import Proc

PAGE_SIZE = 4096
EINVAL, ENOMEM, EBADF = 22, 12, 9
PROT_WRITE = 2
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x1, 0x2, 0x10, 0x1000


def round_page(x: int) -> int:
    return (x + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def sys_mmap(k: KCtx, p: Proc, addr: int, length: int, prot: int = 3,
             flags: int = MAP_PRIVATE | MAP_ANONYMOUS, fd: int = -1, offset: int = 0
             ) -> Iterator:
    """kern_mmap: returns the address or -errno.  A private writable mapping (anonymous or
    a file's) is charged to swap; a file mapping also references the file's vnode."""
    yield Cycles(k.cost.syscall)
    if length <= 0 or offset & (PAGE_SIZE - 1):
        return -EINVAL
    private, writable = bool(flags & MAP_PRIVATE), bool(prot & PROT_WRITE)
    if flags & MAP_ANONYMOUS:
        spec = ANON if private and writable else MapSpec(writable=writable, charged=False)
    else:
        if fd not in p.files:
            return -EBADF
        yield Cycles(k.cost.vm_mmap_vnode + k.cost.vnode_ref)  # vm_mmap_vnode: vget, getattr
        spec = MapSpec(p.files[fd][0], offset // PAGE_SIZE, cow=private, writable=writable,
                       charged=private and writable)
    size = round_page(length)
    if flags & MAP_FIXED:
        if addr & (PAGE_SIZE - 1):
            return -EINVAL
        return (yield from vm_map_fixed(k, p, addr, size, spec))
    start = yield from vm_map_find(k, p, size, spec)
    return start if start >= 0 else -ENOMEM


def sys_munmap(k: KCtx, p: Proc, addr: int, length: int) -> Iterator:
    """kern_munmap: returns 0 or -errno."""
    yield Cycles(k.cost.syscall)
    if addr & (PAGE_SIZE - 1) or length <= 0:
        return -EINVAL
    return -(yield from vm_map_remove(k, p, addr, addr + round_page(length)))


def sys_madvise(k: KCtx, p: Proc, addr: int, length: int, advice: int) -> Iterator:
    yield Cycles(k.cost.syscall)
    if addr & (PAGE_SIZE - 1) or length <= 0:
        return -EINVAL
    return -(yield from vm_map_madvise(k, p, addr, addr + round_page(length), advice))
