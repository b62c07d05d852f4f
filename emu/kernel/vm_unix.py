"""The break: brk(2) and sbrk(2) (sys/vm/vm_unix.c: sys_break / kern_break, mid-2018;
docs/fault-path.md "brk1").

kern_break, under the process's map lock taken exclusive (vm_map_lock):

* grow: the rlimit checks (RLIMIT_DATA, RLIMIT_VMEM), then vm_map_insert(map, NULL, 0, old,
  new, ...): an anonymous writable range is charged to swap (swap_reserve: sw_dev_mtx and the
  uid's ui_vmsize mutex in 2018, the chosen `--swap` strategy here), and it coalesces with
  the heap's entry just below (vm_object_coalesce grows the heap's object; no new entry, no
  crhold);
* shrink: vm_map_delete(map, new, old): vm_map_clip_start splits the heap's entry (a new
  entry, a reference on its object), pmap_remove of the range under delayed invalidation
  (the chosen `--di` strategy: r336030's skip of entries without pages came in July 2018),
  and vm_map_entry_delete: the object's pages in the range removed, its size cut, the
  charge given back (swap_release_by_cred with the object's credential, the charge having
  moved into the object at the first clip, so no crfree).

brk1 never touches the page, so nothing is ever mapped, zeroed or freed.  A `_threads`
testcase shares one break: whether a call grows, shrinks or does nothing is the shared
map's, read under its lock from the actor (BREAK_K).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from emu.kernel.kthread import SYNC, Cycles, KCtx, gcall
from emu.kernel.pmap import pmap_remove
from emu.kernel.vm_map import vm_map_lock, vm_map_unlock

if TYPE_CHECKING:
    from emu.kernel.proc import Proc

PAGE_SIZE = 4096
ENOMEM, EINVAL = 12, 22
# Where the heap begins: the end of will-it-scale's data and bss (a few pages past the
# text, far below the mmap region at emu.kernel.proc.USER_BASE).
HEAP_BASE = 0x0000_0000_0080_0000
MAXDSIZ = 32 << 30               # amd64 vmparam.h: the data segment's limit (RLIMIT_DATA)


def _brk_k(k: KCtx, pid: int, new: int) -> Iterator:
    """The shared process's break: set it to `new`, return the old one."""
    yield SYNC
    brk = k.vm.brk
    old = brk.get(pid, HEAP_BASE)
    brk[pid] = new
    return old


BREAK_K = gcall(_brk_k, blocking=False)


def sys_break(k: KCtx, p: Proc, nsize: int) -> Iterator:
    """kern_break: set the break to nsize (page-rounded); returns 0 or -errno."""
    c = k.cost
    yield Cycles(c.syscall)
    new = (nsize + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
    if new < HEAP_BASE or new - HEAP_BASE > MAXDSIZ:
        return -ENOMEM if new > HEAP_BASE else -EINVAL
    map = p.vm_map
    yield from vm_map_lock(k, map)
    if p.shared:
        old = k.td.query(BREAK_K, p.pid, new)   # the shared map's break, under its lock
    else:
        old = map.brk or HEAP_BASE
        map.brk = new
    kernel = k.td.kernel
    if new > old:
        # vm_map_insert: rlimit checks, the charge, vm_object_coalesce with the heap's entry
        yield Cycles(c.vm_map_insert)
        yield from kernel.swap.swap_reserve_by_cred(k, new - old)
    elif new < old:
        # vm_map_delete: vm_map_clip_start, pmap_remove, vm_map_entry_delete
        yield Cycles(c.vm_map_delete)
        yield from pmap_remove(k, p, new, old)
        yield from kernel.swap.swap_release_by_cred(k, old - new)
    yield from vm_map_unlock(k, map)
    return 0


def sys_sbrk_current(k: KCtx, p: Proc) -> int:
    """sbrk(0): libc's own copy of the break (no system call)."""
    return p.vm_map.brk or HEAP_BASE
