"""The hardware page walk and the page fault handler (sys/vm/vm_fault.c, mid-2018).

vm_access is what the MMU does on a TLB miss: walk the page table; if the PTE is valid and
allows the access, set PG_A (and PG_M for a write) and return the translation for the TLB;
otherwise trap into vm_fault and walk again.  vm_fault: vm_map_lookup under the map's lock
(an sx lock taken shared: the word's line moves, a writer in mmap/munmap excludes us), the
object (an anonymous mapping gets one at its first fault), the page (resident: a soft fault;
else vm_page_alloc and zero it, or copy it from the file page for a private file mapping's
write), busy while it is mapped, then pmap_enter.
"""

from __future__ import annotations

from collections.abc import Iterator

from emu.kernel.kcalls import caller
from emu.kernel.kthread import (
    NOW,
    SYNC,
    Cycles,
    KCtx,
    Lock,
    Read,
    Rmw,
    Sleep,
    Unlock,
    gcall,
    wakeup,
)
from emu.kernel.pmap import PG_A, PG_M, PG_RW, PG_V, pmap_enter
from emu.kernel.vm_page import (
    OBJT_DEFAULT,
    OBJT_VNODE,
    PAGE_SHIFT,
    VmObject,
    VmPage,
    vm_page_alloc,
    vm_page_free,
)

VM_FAULT = caller("vm_fault")


def vm_access(k: KCtx, pid: int, va: int, write: int) -> Iterator:
    """A user access that missed the TLB.  Returns [pa, writes_ok, gen, wgen, t] for the
    TLB (t: when the walk read the PTE), or None: no mapping allows it (SIGSEGV)."""
    vm = k.vm
    pmap = vm.pmaps[pid]
    yield Cycles(k.cost.tlb_walk)
    yield Read(vm.pt_line(pid, va))
    for _ in range(4):
        yield SYNC
        pte = pmap.pte.get(va, 0)
        if pte & PG_V and (not write or pte & PG_RW):
            need = PG_A | (PG_M if write else 0)
            if pte & need != need:
                yield Rmw(vm.pt_line(pid, va))   # the walker's locked update of the PTE
                yield SYNC
                pte = pmap.pte.get(va, 0)
                if not pte & PG_V:
                    continue
                pmap.pte[va] = pte = pte | need
            m = vm.page(pte)
            t = yield NOW
            if vm.check is not None:
                vm.trace(k, t, "fill", m, f"CPU {k.cpu} fills its TLB: va {va:#x}"
                         f"{' (write)' if write else ''}", va)
            return [m.pa, int(bool(pte & PG_RW and pte & PG_M)), m.gen, m.wgen, t or 0]
        if (yield from vm_fault(k, pid, va, write)) is None:
            return None
    return None


def vm_fault(k: KCtx, pid: int, va: int, write: int) -> Iterator:
    """Map the page behind va; returns it, or None (no entry, or a write to a read-only one).

    vm_map_lookup under the map's lock (sx, shared: a writer in mmap/munmap excludes it),
    find the page with the lock dropped, then re-take the lock and check the map's timestamp
    before pmap_enter ("lookup_still_valid"): if an unmap changed the map meanwhile, the
    page goes back and the fault retries, so nothing is mapped from a deleted entry."""
    vm, c = k.vm, k.cost
    yield Cycles(c.vm_fault)
    mlock = vm.map_locks.get(pid)
    while True:
        yield Lock(mlock, VM_FAULT)              # vm_map_lookup: sx_slock(&map->lock)
        yield SYNC
        e = vm.lookup(pid, va)
        generation = vm.map_gen.get(pid, 0)
        yield Unlock(mlock, VM_FAULT)
        if e is None or (write and not e.writable):
            return None
        pindex = e.offset + ((va - e.start) >> PAGE_SHIFT)
        if e.object is None:
            e.object = vm.new_object(OBJT_DEFAULT)
        obj = e.object
        if e.cow and obj.type == OBJT_VNODE:
            if write or (e.shadow is not None and pindex in e.shadow.pages):
                if e.shadow is None:
                    e.shadow = vm.new_object(OBJT_DEFAULT)   # vm_object_shadow
                m = yield from vm_page_grab(k, e.shadow, pindex, backing=obj)
                writable = True
            else:
                m = yield from vm_page_grab(k, obj, pindex)   # the file's page, copy-on-write
                writable = False
        else:
            m = yield from vm_page_grab(k, obj, pindex)
            writable = e.writable
        yield Lock(mlock, VM_FAULT)
        yield SYNC
        if vm.map_gen.get(pid, 0) != generation:     # the map changed: RetryFault
            yield Unlock(mlock, VM_FAULT)
            yield SYNC
            if m.object is None:                     # its object died meanwhile
                yield from vm_page_free(k, m)
            yield from unbusy(k, m)
            continue
        if write and obj.type == OBJT_VNODE and not e.cow:
            m.dirty = True                           # a shared file mapping: written back
        yield from pmap_enter(k, vm.pmaps[pid], va, m, writable, bool(write))
        yield Unlock(mlock, VM_FAULT)
        yield from unbusy(k, m)
        return m


def vm_page_grab(k: KCtx, obj: VmObject, pindex: int, backing: VmObject | None = None
                 ) -> Iterator:
    """The page at pindex, exclusive-busied: resident (sleeping while someone else has it
    busy: vm_page_sleep_if_busy), or allocated and zeroed (a hole of a sparse file reads as
    zeroes), or copied from the backing file's page."""
    c = k.cost
    while True:
        yield Rmw(k.vm.object_line(obj))                  # VM_OBJECT_WLOCK
        yield SYNC
        m = obj.pages.get(pindex)
        if m is not None:
            if m.busy is not None:
                yield Sleep(m)
                continue
            m.busy = k.cpu
            return m
        if backing is not None:
            src = yield from vm_page_grab(k, backing, pindex)
            m = yield from vm_page_alloc(k, obj, pindex)
            if m is not None:
                yield Cycles(c.pmap_copy_page)
            yield from unbusy(k, src)
        else:
            m = yield from vm_page_alloc(k, obj, pindex)
            yield Cycles(c.pmap_zero_page)
        if m is None:
            continue                                      # someone else allocated it first
        m.busy = k.cpu
        return m


def unbusy(k: KCtx, m: VmPage) -> Iterator:
    """vm_page_xunbusy: wake whoever sleeps on it."""
    m.busy = None
    if k.ks is not None:
        wakeup(k.ks, m, (yield NOW))


VM_ACCESS_K = gcall(vm_access)
