"""The hardware page walk and the page fault handler (sys/vm/vm_fault.c, FreeBSD head
mid-2018; docs/fault-path.md has the path with its sources).

vm_access is what the MMU does on a TLB miss: walk the page table; if the PTE is valid and
allows the access, set PG_A (and PG_M for a write) and return the translation for the TLB;
otherwise trap into vm_fault and walk again.

vm_fault (trap_pfault -> vm_fault -> vm_fault_hold), as the 2018 kernel ran it:

* vm_map_lookup under the map's lock (an sx lock taken shared; a writer in mmap/munmap
  excludes us); an anonymous entry gets its object at its first fault, a write to a
  private file mapping its shadow object (vm_object_shadow), each coloured so that its
  pages line up with the virtual 2 MB frames (vm_object_color: reservations).
* The first object read-locked (VM_OBJECT_RLOCK) when the gate allows, for
  vm_fault_soft_fast: a page already resident and valid in the first object is mapped at
  once (pmap_enter, then vm_fault_prefault maps up to 4 resident neighbours on each side
  read-only, pmap_enter_quick), with no page-queue operation.  Otherwise the lock is
  upgraded (VM_OBJECT_TRYUPGRADE) to the write lock of the slow path.
* The slow path, object by object down the chain, each write-locked hand over hand:
  vm_page_lookup; a page found in a backing object is dequeued (vm_page_remque) and
  busied; a page absent from the first object is allocated there (vm_page_alloc,
  exclusive-busied), a vnode's hole is zero-filled by its pager; at the chain's end a new
  anonymous page is zeroed (pmap_zero_page, no prezeroed pages in 2018).  A write that
  found the page in a backing object copies it (pmap_copy_page) and deactivates the
  source (release_page).
* Then, the object unlocked, pmap_enter; then the first object write-locked again for
  vm_page_lock / vm_page_activate (a batched page-queue operation) / vm_page_unlock and
  vm_page_xunbusy, and once more by vm_object_deallocate of the fault's reference.

Every object here is one task's own (will-it-scale makes a file per task), so its lock is
on a line only its owner's CPU holds: in a `_processes` testcase priced locally, in the
actor a line of its own (VmState.object_line).  The map lock is taken twice (lookup, then
re-taken for pmap_enter with the map's timestamp checked, "lookup_still_valid"): the
actor's shared maps are mutexes, not sx locks, and holding one across the fault would
serialise a process's faults, which the shared sx does not.
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
from emu.kernel.pmap import (
    PG_A,
    PG_M,
    PG_RW,
    PG_V,
    pmap_copy_page,
    pmap_enter,
    pmap_enter_quick,
    pmap_zero_page,
)
from emu.kernel.vm_page import (
    OBJT_DEFAULT,
    OBJT_VNODE,
    PAGE_SHIFT,
    PQ_NONE,
    VmObject,
    VmPage,
    vm_object_color,
    vm_page_activate,
    vm_page_alloc,
    vm_page_deactivate,
    vm_page_free,
    vm_pqbatch_submit_page,
)

VM_FAULT = caller("vm_fault")
PFBAK = PFFOR = 4       # vm_fault_prefault's reach on each side (vm_fault.c)


def vm_access(k: KCtx, pid: int, va: int, write: int) -> Iterator:
    """A user access that missed the TLB.  Returns [pa, writes_ok, gen, wgen, t] for the
    TLB (t: when the walk read the PTE), or None: no mapping allows it (SIGSEGV)."""
    vm = k.vm
    pmap = vm.pmaps[pid]
    line = vm.pt_line(pid, va)
    if line is None:
        yield Cycles(k.cost.tlb_walk + k.cost.l1_hit)
    else:
        yield Cycles(k.cost.tlb_walk)
        yield Read(line)
    for _ in range(4):
        yield SYNC
        pte = pmap.pte.get(va, 0)
        if pte & PG_V and (not write or pte & PG_RW):
            need = PG_A | (PG_M if write else 0)
            if pte & need != need:
                yield Rmw(line)                  # the walker's locked update of the PTE
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


def _object_lock(k: KCtx, obj: VmObject, pairs: int) -> Iterator:
    """`pairs` acquire/release pairs of a shared space's object's rwlock word
    (VM_OBJECT_WLOCK, RLOCK, TRYUPGRADE, WUNLOCK: one locked instruction each; a private
    object's are charged by vm_fault)."""
    line = k.vm.object_line(obj)
    for _ in range(2 * pairs):
        yield Rmw(line)


def vm_fault(k: KCtx, pid: int, va: int, write: int) -> Iterator:
    """Map the page behind va; returns it, or None (no entry, or a write to a read-only one).

    vm_map_lookup under the map's lock, find or make the page with the lock dropped, then
    re-take the lock and check the map's timestamp before pmap_enter ("lookup_still_valid"):
    if an unmap changed the map meanwhile, the page goes back and the fault retries, so
    nothing is mapped from a deleted entry.  A private address space's locks (its map's sx
    word, its objects' rwlock words) are on lines only this CPU holds: their atomics are
    charged with the trap, once the path the fault takes is known."""
    vm, c = k.vm, k.cost
    mlock = vm.map_locks.get(pid)
    private = vm.private
    if not private:
        yield Cycles(c.vm_fault)
    while True:
        if not private:
            yield Lock(mlock, VM_FAULT)          # vm_map_lookup: sx_slock(&map->lock)
            yield SYNC
        e = vm.lookup(pid, va)
        generation = vm.map_gen.get(pid, 0)
        if not private:
            yield Unlock(mlock, VM_FAULT)
        if e is None or (write and not e.writable):
            if private:
                yield Cycles(c.vm_fault + 2 * c.atomic_local)
            return None
        pindex = e.offset + ((va - e.start) >> PAGE_SHIFT)
        if e.object is None:                     # an anonymous entry's first fault
            e.object = vm.new_object(OBJT_DEFAULT, (e.end - e.start) >> PAGE_SHIFT)
        obj = e.object
        vm_object_color(obj, (va >> PAGE_SHIFT) - pindex)   # (before vm_page_alloc)
        cow = e.cow and obj.type == OBJT_VNODE
        if cow and write and e.shadow is None:   # vm_map_lookup: vm_object_shadow
            e.shadow = vm.new_object(OBJT_DEFAULT, (e.end - e.start) >> PAGE_SHIFT)
            e.shadow.backs_vnode = True
            vm_object_color(e.shadow, (va >> PAGE_SHIFT) - pindex)
        first = e.shadow if cow and e.shadow is not None else obj
        m = first.pages.get(pindex)
        fast = m is not None and m.busy is None and _fast_gate(first, write)
        if private:       # the trap; the map's sx (2 pairs); the objects' rwlocks
            pairs = 2 + (1 if fast else 4 + (first is not obj and m is None))
            yield Cycles(c.vm_fault + 2 * pairs * c.atomic_local)
        if fast:
            r = yield from vm_fault_soft_fast(k, pid, va, e, first, m,
                                              _writable(e, obj, m), write, mlock, generation)
            if r is not None:
                return r
            continue
        m = yield from vm_fault_hold(k, e, first, obj, pindex, cow, write)
        if m is None:
            continue                             # slept on a busy page: RetryFault
        if not private:
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
            obj.mightbedirty = True                  # vm_fault_dirty: OBJ_MIGHTBEDIRTY
        yield from pmap_enter(k, vm.pmaps[pid], va, m, _writable(e, obj, m), bool(write))
        if not private:
            yield Unlock(mlock, VM_FAULT)
            yield from _object_lock(k, first, 2)     # activate; vm_object_deallocate
        yield from vm_page_activate(k, m)
        yield from unbusy(k, m)
        return m


def _writable(e, obj: VmObject, m: VmPage) -> bool:
    """A private file mapping maps the file's own page read-only (copy-on-write)."""
    return e.writable and not (e.cow and obj.type == OBJT_VNODE and m.object is obj)


def _fast_gate(first: VmObject, write: int) -> bool:
    """vm_fault_hold's gate to the read-locked path: not a write, or not a vnode's, or a
    vnode object already OBJ_MIGHTBEDIRTY."""
    return not write or first.type != OBJT_VNODE or first.mightbedirty


def vm_fault_soft_fast(k: KCtx, pid: int, va: int, e, first: VmObject, m: VmPage,
                       writable: bool, write: int, mlock, generation: int) -> Iterator:
    """The page is resident and valid in the first object: map it under the object's read
    lock, then vm_fault_prefault; no page-queue operation.  None: the map changed."""
    vm = k.vm
    private = vm.private
    if not private:
        yield from _object_lock(k, first, 1)     # VM_OBJECT_RLOCK ... RUNLOCK
        yield Lock(mlock, VM_FAULT)
        yield SYNC
        if vm.map_gen.get(pid, 0) != generation or first.pages.get(m.pindex) is not m \
                or m.busy is not None:
            yield Unlock(mlock, VM_FAULT)
            return None
    if write:
        m.dirty = True                           # vm_fault_dirty
        if first.type == OBJT_VNODE:
            first.mightbedirty = True
    pmap = vm.pmaps[pid]
    yield from pmap_enter(k, pmap, va, m, writable, bool(write))
    yield from vm_fault_prefault(k, pmap, va, e, first)
    if not private:
        yield Unlock(mlock, VM_FAULT)
    return m


def vm_fault_prefault(k: KCtx, pmap, va: int, e, first: VmObject) -> Iterator:
    """Map up to PFBAK pages behind and PFFOR ahead that are resident in the first object
    and not mapped yet, read-only (pmap_enter_quick); each side stops at its first hole."""
    for step in (-1, 1):
        for i in range(1, (PFBAK if step < 0 else PFFOR) + 1):
            a = va + step * i * 4096
            if a < e.start or a >= e.end:
                break
            pindex = e.offset + ((a - e.start) >> PAGE_SHIFT)
            m = first.pages.get(pindex)
            if m is None:
                break
            if pmap.pte.get(a, 0) & PG_V or m.busy is not None:
                continue                         # pmap_is_prefaultable: already mapped
            yield from pmap_enter_quick(k, pmap, a, m)


def vm_fault_hold(k: KCtx, e, first: VmObject, obj: VmObject, pindex: int, cow: bool,
                   write: int) -> Iterator:
    """vm_fault_hold's write-locked walk (its slow path, after the read-locked fast path
    failed): the page, exclusive-busied, in the object the mapping will use (the first
    object), or None after sleeping on a busy page."""
    if not k.vm.private:
        yield from _object_lock(k, first, 1)     # RLOCK, TRYUPGRADE (the gate's miss)
        yield from _object_lock(k, first, 1)     # WLOCK ... WUNLOCK before pmap_enter
        yield SYNC
    m = first.pages.get(pindex)
    if m is not None:
        if m.busy is not None:
            yield Sleep(m)
            return None
        m.busy = k.cpu
        yield from vm_page_remque(k, m)
        return m
    if first is obj and obj.type == OBJT_DEFAULT:    # zero-fill at the chain's end
        m = yield from vm_page_alloc(k, obj, pindex)
        if m is None:
            return None                              # someone else allocated it first
        m.busy = k.cpu
        yield from pmap_zero_page(k, m)
        return m
    if first is not obj:                             # COW: the backing vnode object
        if not k.vm.private:
            yield from _object_lock(k, obj, 1)       # VM_OBJECT_WLOCK(next_object)
        src = yield from _grab_or_fill(k, obj, pindex)
        if src is None:
            return None
        if write:
            m = yield from vm_page_alloc(k, first, pindex)
            if m is not None:
                yield from pmap_copy_page(k, src, m)
        else:
            m = None
        if m is None:
            if write:                                # someone else allocated it first
                yield from unbusy(k, src)
                return None
            return src                               # a read maps the file's page
        src.busy = None                              # release_page: xunbusy, deactivate
        if k.ks is not None:
            wakeup(k.ks, src, (yield NOW))
        yield from vm_page_deactivate(k, src)
        m.busy = k.cpu
        return m
    return (yield from _grab_or_fill(k, first, pindex))


def _grab_or_fill(k: KCtx, obj: VmObject, pindex: int) -> Iterator:
    """The object's page at pindex, busied: resident (dequeued: vm_page_remque), or
    allocated and zero-filled (anonymous memory at the chain's end; a sparse file's hole,
    which its pager fills with zeroes)."""
    while True:
        if not k.vm.private:
            yield SYNC
        m = obj.pages.get(pindex)
        if m is not None:
            if m.busy is not None:
                yield Sleep(m)
                continue
            m.busy = k.cpu
            yield from vm_page_remque(k, m)
            return m
        m = yield from vm_page_alloc(k, obj, pindex)
        if m is None:
            continue                                  # someone else allocated it first
        m.busy = k.cpu
        yield from pmap_zero_page(k, m)
        return m


def vm_page_remque(k: KCtx, m: VmPage) -> Iterator:
    """vm_page_lock; vm_page_remque (dequeue: a batched page-queue operation); unlock."""
    if m.queue != PQ_NONE:
        q, m.queue = m.queue, PQ_NONE
        yield from vm_pqbatch_submit_page(k, m, q)


def unbusy(k: KCtx, m: VmPage) -> Iterator:
    """vm_page_xunbusy: wake whoever sleeps on it."""
    m.busy = None
    if k.ks is not None:
        wakeup(k.ks, m, (yield NOW))


VM_ACCESS_K = gcall(vm_access)
