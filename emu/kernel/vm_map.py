"""vm_map operations run on the CPU that calls them (sys/vm/vm_map.c), as kernel paths
(generators: emu/kernel/kthread.py) over the CPU's own context `k` (k.td is curthread).

The CPU's copy of the map's ranges (proc.VmMap) serves findspace and the entry walk; the
objects behind a shared (threads) map live in the actor, which learns of every insert and
delete by a kernel call (emu/kernel/vm_state.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from emu.kernel.kthread import SYNC, Call, Cycles, KCtx, Lock, Unlock, gcall
from emu.kernel.pmap import local_pmap, pmap_advise, pmap_remove
from emu.kernel.proc import IMAGE_END, USER_BASE
from emu.kernel.vm_object import vm_object_terminate_pages
from emu.kernel.vm_page import (
    OBJT_DEFAULT,
    OBJT_VNODE,
    PQ_INACTIVE,
    PQ_LAUNDRY,
    VmObject,
    vm_page_deactivate,
)

if TYPE_CHECKING:
    from emu.kernel.proc import Proc

KERN_SUCCESS, KERN_NO_SPACE = 0, 3


@dataclass
class VmMap:
    """A process's map of address ranges (sys/vm/vm_map.h: struct vm_map)."""

    lock_id: int | None          # a shared lock in the actor, or None: private to one CPU
    min_offset: int = USER_BASE
    max_offset: int = 0x0000_7fff_ffff_f000
    entries: dict[int, int] = field(default_factory=dict)  # start -> end
    hint: int = 0                # where vm_map_findspace starts looking
    brk: int = 0                 # the break (vm_daddr + vm_dsize); 0: not moved yet

    def findspace(self, length: int) -> int:
        """First-fit from the hint, like vm_map_findspace's common case, above the image."""
        start = max(self.hint, IMAGE_END)
        for s, e in sorted(self.entries.items()):
            if e <= start:
                continue
            if s >= start + length:
                break
            start = e
        if start + length > self.max_offset:
            return -1
        return start


class MapEntry:
    """A vm_map_entry: its object (None until the first fault of an anonymous mapping),
    the object's page at `start`, copy-on-write (a private file mapping) with the shadow
    object its written pages go to, and whether it may be written."""

    __slots__ = ("start", "end", "object", "offset", "cow", "shadow", "writable")

    def __init__(self, start: int, end: int, obj: VmObject | None, offset: int, cow: bool,
                 writable: bool) -> None:
        self.start, self.end = start, end
        self.object, self.offset = obj, offset
        self.cow, self.shadow, self.writable = cow, None, writable

THREAD_WINDOW = 1 << 36   # each thread's copy of a shared map finds space in its own 64 GB


class MapSpec(NamedTuple):
    """What a new entry maps: an anonymous object or a file (fid), from page `offset`,
    copy-on-write (MAP_PRIVATE), writable, and charged to swap (private and writable)."""

    fid: int = -1
    offset: int = 0
    cow: bool = False
    writable: bool = True
    charged: bool = True


ANON = MapSpec()


def vm_map_thread_window(p: Proc, nr: int) -> None:
    """A shared map's copy on task nr's CPU hands out addresses from the task's own window,
    so no two threads are ever given the same range (one map would never do that)."""
    if p.shared:
        p.vm_map.hint = p.vm_map.min_offset + nr * THREAD_WINDOW


def vm_map_lock(k: KCtx, map: VmMap) -> Iterator:
    """sx_xlock on a user map.  A private map's lock is only ever on this CPU's cache."""
    yield Lock(map.lock_id)


def vm_map_unlock(k: KCtx, map: VmMap) -> Iterator:
    yield Unlock(map.lock_id)


def vm_map_find(k: KCtx, p: Proc, length: int, spec: MapSpec = ANON) -> Iterator:
    """vm_map_find with VMFS_OPTIMAL_SPACE: findspace, then vm_map_insert.  Returns the
    address, or -1 (KERN_NO_SPACE)."""
    map = p.vm_map
    yield from vm_map_lock(k, map)
    start = map.findspace(length)
    if start >= 0:
        yield from vm_map_insert(k, p, start, start + length, spec)
    yield from vm_map_unlock(k, map)
    return start


def vm_map_fixed(k: KCtx, p: Proc, start: int, length: int, spec: MapSpec = ANON
                 ) -> Iterator:
    """MAP_FIXED: whatever was mapped there is unmapped first, under the same lock."""
    map = p.vm_map
    yield from vm_map_lock(k, map)
    yield from vm_map_delete(k, p, start, start + length)
    yield from vm_map_insert(k, p, start, start + length, spec)
    yield from vm_map_unlock(k, map)
    return start


def vm_map_insert(k: KCtx, p: Proc, start: int, end: int, spec: MapSpec = ANON) -> Iterator:
    """A private writable mapping is charged to swap up front (MAP_ACC_CHARGED) and its
    entry keeps a reference on the thread's credential."""
    yield Cycles(k.cost.vm_map_insert)
    kernel = k.td.kernel
    if spec.charged:
        yield from kernel.swap.swap_reserve_by_cred(k, end - start)
        yield from kernel.ucred.crhold(k)
    p.vm_map.entries[start] = end
    if not spec.charged:
        k.vm.uncharged.add((p.pid, start))
    if spec.fid >= 0:
        k.vm.vnodes.add((p.pid, start))
    if p.shared:
        yield Call(VM_MAP_INSERT_K, (p.pid, start, end, spec.fid, spec.offset,
                                     spec.cow | spec.writable << 1 | spec.charged << 2))
    elif spec is not ANON:
        local_pmap(k, p)
        vm = k.vm
        vm.map(p.pid)[start] = _entry(vm, start, end, spec)


def _entry(vm, start: int, end: int, spec: MapSpec) -> MapEntry:
    obj = vm.files[spec.fid] if spec.fid >= 0 else None
    return MapEntry(start, end, obj, spec.offset, spec.cow, spec.writable)


def vm_map_remove(k: KCtx, p: Proc, start: int, end: int) -> Iterator:
    map = p.vm_map
    yield from vm_map_lock(k, map)
    rv = yield from vm_map_delete(k, p, start, end)
    yield from vm_map_unlock(k, map)
    return rv


def vm_map_delete(k: KCtx, p: Proc, start: int, end: int) -> Iterator:
    """Unmap [start, end): pmap_remove, then vm_map_entry_delete for each entry."""
    map = p.vm_map
    victims = [s for s, e in map.entries.items() if s < end and e > start]
    for s in victims:
        yield from pmap_remove(k, p, s, map.entries[s])
        yield Cycles(k.cost.vm_map_delete)
        yield from vm_map_entry_delete(k, p, s)
    return KERN_SUCCESS


def vm_map_entry_delete(k: KCtx, p: Proc, start: int) -> Iterator:
    """Unlink the entry, give back its swap charge and its credential reference, drop its
    object (an anonymous object's pages are freed; a file's stay cached)."""
    end = p.vm_map.entries.pop(start)
    vm = k.vm
    charged = (p.pid, start) not in vm.uncharged
    if not charged:
        vm.uncharged.discard((p.pid, start))
    if (p.pid, start) in vm.vnodes:
        vm.vnodes.discard((p.pid, start))
        yield Cycles(k.cost.vnode_ref)        # vm_object_deallocate of a vnode's: vrele
    if p.shared:
        yield Call(VM_MAP_DELETE_K, (p.pid, start))
    else:
        e = vm.maps.get(p.pid, {}).pop(start, None)
        if e is not None:
            vm.hint.pop(p.pid, None)
            if _has_pages(e):
                yield from vm_map_entry_free(k, e)
    if charged:
        kernel = k.td.kernel
        yield from kernel.swap.swap_release_by_cred(k, end - start)
        yield from kernel.ucred.crfree(k)


def _has_pages(e: MapEntry) -> bool:
    return bool((e.object is not None and e.object.type == OBJT_DEFAULT and e.object.pages)
                or (e.shadow is not None and e.shadow.pages))


def vm_map_entry_free(k: KCtx, e: MapEntry) -> Iterator:
    """vm_object_deallocate of the entry's own objects: vm_object_terminate frees their
    pages (a page the page daemon holds busy is left to it)."""
    for obj in (e.object, e.shadow):
        if obj is None or obj.type != OBJT_DEFAULT:
            continue
        yield from vm_object_terminate_pages(k, obj)


def vm_map_madvise(k: KCtx, p: Proc, start: int, end: int, advice: int) -> Iterator:
    """madvise(2): under the map's read lock, pmap_advise then vm_object_madvise for each
    entry in the range (MADV_DONTNEED, MADV_FREE: the pages go to the inactive queue, where
    the page daemon looks first)."""
    map = p.vm_map
    yield Cycles(k.cost.vm_map_insert)      # vm_map_lookup_entry, the entry walk
    if map.lock_id is not None:             # sx_slock: a writer excludes us
        yield Lock(map.lock_id)
        yield Unlock(map.lock_id)
    for s, e in list(map.entries.items()):
        if s < end and e > start:
            lo, hi = max(s, start), min(e, end)
            yield from pmap_advise(k, p, lo, hi, advice)
            if p.shared:
                yield Call(VM_OBJECT_MADVISE_K, (p.pid, lo, hi, advice))
            else:
                yield from vm_object_madvise(k, p.pid, lo, hi, advice)
    return KERN_SUCCESS


def vm_object_madvise(k: KCtx, pid: int, start: int, end: int, advice: int) -> Iterator:
    from emu.kernel.pmap import MADV_DONTNEED, MADV_FREE

    if advice not in (MADV_DONTNEED, MADV_FREE):
        return
    vm = k.vm
    e = vm.lookup(pid, start)
    if e is None:
        return
    for obj in (e.shadow, e.object):
        if obj is None:
            continue
        for va in range(start, end, 4096):
            m = obj.pages.get(e.offset + ((va - e.start) >> 12))
            if m is not None:
                yield Cycles(k.cost.vm_page_advise)   # vm_page_advise
                yield SYNC
                # A dirty page goes to the laundry, a clean one to the inactive queue.
                yield from vm_page_deactivate(k, m, PQ_LAUNDRY if m.dirty else PQ_INACTIVE)


# ------------------------------------------------------------------ shared maps: kernel calls

def _vm_map_insert_k(k: KCtx, pid: int, start: int, end: int, fid: int, offset: int,
                     flags: int) -> Iterator:
    yield SYNC
    vm = k.vm
    spec = MapSpec(fid, offset, bool(flags & 1), bool(flags & 2), bool(flags & 4))
    vm.map(pid)[start] = _entry(vm, start, end, spec)
    vm.map_gen[pid] = vm.map_gen.get(pid, 0) + 1


def _vm_map_delete_k(k: KCtx, pid: int, start: int) -> Iterator:
    vm = k.vm
    e = vm.map(pid).pop(start, None)
    vm.hint.pop(pid, None)
    vm.map_gen[pid] = vm.map_gen.get(pid, 0) + 1
    if e is not None and _has_pages(e):
        yield from vm_map_entry_free(k, e)


def _vfs_create_k(k: KCtx, fid: int, npages: int) -> Iterator:
    """The file a task made (mkstemp + ftruncate): its vnode's VM object."""
    yield SYNC
    k.vm.files[fid] = k.vm.new_object(OBJT_VNODE, npages)


def vfs_create(k: KCtx, p: Proc, fid: int, npages: int) -> Iterator:
    if p.shared:
        yield Call(VFS_CREATE_K, (fid, npages))
    else:
        k.vm.files[fid] = k.vm.new_object(OBJT_VNODE, npages)


VM_MAP_INSERT_K = gcall(_vm_map_insert_k, blocking=False)
VM_MAP_DELETE_K = gcall(_vm_map_delete_k)
VM_OBJECT_MADVISE_K = gcall(vm_object_madvise)
VFS_CREATE_K = gcall(_vfs_create_k, blocking=False)
