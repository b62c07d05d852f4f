"""Physical pages, VM objects, the page allocator and the page queues (sys/vm/vm_page.c,
vm_object.c; FreeBSD head mid-2018: r331369, r331863, r332974).

A `VmPage` knows its owner (object, pindex), its reservation and domain, its page queue,
its PV list (the (pmap, va) pairs mapping it, amd64 md.pv_list), its delayed-invalidation
generation (md.invl_gen), whether it is dirty or busy, and two generations the checker
reads: `gen` counts the times it was freed (a TLB entry filled before the last free is
stale), `wgen` the times it was cleaned after pmap_remove_write (a write through an entry
filled before that is lost).

vm_page_alloc, in the 2018 order (vm_page_alloc_domain_after):
1. a reservation (emu/kernel/vm_reserv.py) for a coloured object's page whose 2 MB frame
   lies inside the object: the domain's free count (an atomic), and the free lock once
   per 2 MB;
2. the domain's page cache (r331863, UMA zone "vm pgcache"): a per-CPU bucket of 253
   pages (UMA_ZONE_MAXBUCKET), no lock on a hit; an empty bucket is refilled by
   vm_page_import, one vm_domain_allocate and one free lock for the whole bucket; a full
   free bucket goes back by vm_page_release the same way;
3. a page without an object (a page-table page, a PV chunk) straight from the buddy
   queues: vm_domain_allocate and the free lock, per page.
Freed pages are reused last-in first-out, as UMA's buckets do: a freed page soon has
another owner.

The page queues (r332974, "Improve VM page queue scalability"): vm_page_activate,
vm_page_deactivate and the dequeue of a freed page set the page's queue state and put it
in this CPU's batch for the page's domain and queue (vm_pqbatch_submit_page); the 32nd
operation (VM_BATCHQUEUE_SIZE 31 on amd64, plus the one that did not fit) takes the
queue's mutex and processes the batch.  The batch is per CPU: no lock until it is full.
"""

from __future__ import annotations

from collections.abc import Iterator

from emu.kernel.kcalls import caller
from emu.kernel.kthread import NOW, SYNC, Cycles, KCtx, Lock, Rmw, Unlock
from emu.kernel.vm_phys import (
    PQ_ACTIVE,
    PQ_INACTIVE,
    PQ_LAUNDRY,
    vm_domain_allocate,
    vm_domain_freecnt_inc,
)
from emu.kernel.vm_reserv import (
    VM_LEVEL_0_NPAGES,
    VmReserv,
    vm_reserv_alloc_page,
    vm_reserv_extend,
    vm_reserv_free_page,
)

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_MASK = PAGE_SIZE - 1
BUCKET = 253           # UMA BUCKET_MAX: (256 * 8 - sizeof(struct uma_bucket)) / 8
VM_BATCHQUEUE_SIZE = 31   # amd64 vmparam.h
IMPORT_STRIDE = 64        # vm_page_import: "n = 64; /* Starting stride, arbitrary. */"
PQ_NONE = -1

OBJT_DEFAULT, OBJT_VNODE = "anon", "vnode"

VM_PAGE_ALLOC = caller("vm_page_alloc")
VM_PAGE_FREE = caller("vm_page_free")
VM_PAGE_IMPORT = caller("vm_page_import")
VM_PAGE_RELEASE = caller("vm_page_release")
VM_PQBATCH = caller("vm_pqbatch_submit_page")

__all__ = ["OBJT_DEFAULT", "OBJT_VNODE", "PAGE_MASK", "PAGE_SHIFT", "PAGE_SIZE", "PQ_ACTIVE",
           "PQ_INACTIVE", "PQ_LAUNDRY", "PQ_NONE", "PhysMem", "VmObject", "VmPage",
           "vm_page_activate", "vm_page_alloc", "vm_page_alloc_noobj", "vm_page_deactivate",
           "vm_page_free", "vm_page_free_noobj", "vm_pqbatch_submit_page"]


class VmPage:
    __slots__ = ("pa", "object", "pindex", "pv", "invl_gen", "gen", "wgen", "dirty", "busy",
                 "inactive", "unmapped_by", "rv", "pindex_rv", "domain", "queue")

    def __init__(self, pa: int) -> None:
        self.pa = pa
        self.object: VmObject | None = None
        self.pindex = 0
        self.pv: list[tuple[int, int]] = []    # (pid, va) of each mapping
        self.invl_gen = 0
        self.gen = 0
        self.wgen = 0
        self.dirty = False
        self.busy: int | None = None            # the CPU holding it exclusive-busy
        self.inactive = False
        self.unmapped_by: set[int] = set()      # DI sections that removed a mapping of it
                                                 # and have not finished (the checker's)
        self.rv: VmReserv | None = None         # the reservation it came from
        self.pindex_rv = 0                      # its index in the reservation
        self.domain = 0
        self.queue = PQ_NONE


class VmObject:
    __slots__ = ("id", "type", "pages", "size", "pg_color", "colored", "rvs", "mightbedirty",
                 "backs_vnode")

    def __init__(self, oid: int, type: str, size: int = 0) -> None:
        self.id = oid
        self.type = type
        self.pages: dict[int, VmPage] = {}
        self.size = size     # pages (a vnode's length, an anonymous mapping's)
        self.pg_color = 0
        self.colored = False                    # OBJ_COLORED: reservations may serve it
        self.rvs: dict[int, VmReserv] = {}      # its reservations by first pindex
        self.mightbedirty = False               # OBJ_MIGHTBEDIRTY: a page was written
        self.backs_vnode = False                # a shadow whose backing object is a vnode's


def vm_object_color(obj: VmObject, color: int) -> None:
    """vm_object_color: line the object's pages up with the virtual 2 MB frames (once)."""
    if not obj.colored:
        obj.pg_color = color & (VM_LEVEL_0_NPAGES - 1)
        obj.colored = True


class PhysMem:
    """The physical pages of one place: 2 MB frames for reservations, single pages (and a
    per-CPU cache of them) for the rest."""

    def __init__(self, base: int = 1) -> None:
        self.next_pa = (base + VM_LEVEL_0_NPAGES - 1) & ~(VM_LEVEL_0_NPAGES - 1)
        self.free: list[VmPage] = []
        self.caches: dict[int, list[VmPage]] = {}
        self.frames: list[int] = []          # freed 2 MB frames, reused last-in first-out
        self.pages: dict[int, VmPage] = {}   # pa -> page, for the PTE -> vm_page lookup

    def cache(self, cpu: int) -> list[VmPage]:
        c = self.caches.get(cpu)
        if c is None:
            c = self.caches[cpu] = []
        return c

    def _new(self, pa: int) -> VmPage:
        m = self.pages.get(pa)
        if m is None:
            m = self.pages[pa] = VmPage(pa)
        return m

    def take(self) -> VmPage:
        """One page off the buddy queues (a freed one first)."""
        if self.free:
            return self.free.pop()
        m = self._new(self.next_pa)
        self.next_pa += 1
        return m

    def refill(self, cpu: int, n: int = BUCKET) -> None:
        c = self.cache(cpu)
        got = [self.take() for _ in range(n)]
        got.reverse()  # the most recently freed page comes out first
        c.extend(got)

    def drain(self, cpu: int) -> None:
        c = self.cache(cpu)
        self.free.extend(c[:BUCKET])
        del c[:BUCKET]

    def alloc_frame(self, domain: int) -> int:
        """A 2 MB frame for a reservation: its first page frame number."""
        if self.frames:
            return self.frames.pop()
        if self.next_pa & (VM_LEVEL_0_NPAGES - 1):   # single pages took part of this one
            self.next_pa = (self.next_pa | (VM_LEVEL_0_NPAGES - 1)) + 1
        base = self.next_pa
        self.next_pa += VM_LEVEL_0_NPAGES
        return base

    def free_frame(self, base: int) -> None:
        self.frames.append(base)

    def frame_page(self, pa: int) -> VmPage:
        return self._new(pa)


def _insert(k: KCtx, m: VmPage, obj: VmObject, pindex: int, d: int) -> None:
    m.object, m.pindex, m.domain = obj, pindex, d
    m.dirty = m.inactive = False
    m.invl_gen = 0
    m.queue = PQ_NONE
    obj.pages[pindex] = m


def vm_page_alloc(k: KCtx, obj: VmObject, pindex: int) -> Iterator:
    """vm_page_alloc: a page inserted in obj at pindex, from a reservation, else this
    CPU's page cache; None if another CPU inserted one there meanwhile."""
    vm, c = k.vm, k.cost
    d = vm.domain_of[k.cpu]
    rv = None
    if obj.colored:
        rv = yield from vm_reserv_extend(k, obj, pindex)
        if rv is None:
            rv = yield from vm_reserv_alloc_page(k, obj, pindex, d)
    if rv is None:
        cache = vm.phys.cache(k.cpu)
        if not cache:                              # uma_zalloc's slow path: zone_import
            yield from vm_domain_allocate(k, d, BUCKET)
            lock = vm.vmd.free_lock[d]
            yield Lock(lock, VM_PAGE_IMPORT)
            # vm_phys_alloc_npages in runs of up to 64 pages (vm_page_import's stride):
            # the buddy queues' work is per run, each page a pointer stored in the bucket.
            yield Cycles(-(-BUCKET // IMPORT_STRIDE) * c.vm_phys_alloc + BUCKET * c.l1_hit)
            vm.phys.refill(k.cpu)
            yield Unlock(lock, VM_PAGE_IMPORT)
    yield Cycles(c.vm_page_alloc)
    if not vm.private:
        yield SYNC
        if pindex in obj.pages:
            return None
    if rv is not None:
        idx = pindex - rv.first
        m = vm.phys.frame_page(rv.base + idx)
        m.rv, m.pindex_rv = rv, idx
        rv.pages[idx] = m
        rv.popcnt += 1
        d = rv.domain
    else:
        m = vm.phys.cache(k.cpu).pop()
    _insert(k, m, obj, pindex, d)
    if vm.check is not None:  # (before the zeroing that follows: the page is ours from here)
        vm.trace(k, (yield NOW), "alloc", m, f"vm_page_alloc: object {obj.id} page {pindex}")
    return m


def vm_page_alloc_noobj(k: KCtx) -> Iterator:
    """vm_page_alloc(NULL, ..., VM_ALLOC_NOOBJ): no reservation, no page cache: the
    domain's free count and free lock for this one page (a page-table page, a PV chunk)."""
    vm, c = k.vm, k.cost
    d = vm.domain_of[k.cpu]
    yield from vm_domain_allocate(k, d)
    lock = vm.vmd.free_lock[d]
    yield Lock(lock, VM_PAGE_ALLOC)
    yield Cycles(c.vm_phys_alloc)
    m = vm.phys.take()
    yield Unlock(lock, VM_PAGE_ALLOC)
    m.object, m.domain, m.queue = None, d, PQ_NONE
    return m


def vm_page_free_noobj(k: KCtx, m: VmPage) -> Iterator:
    """vm_page_free of a page without an object: back to the buddy queues at once."""
    vm = k.vm
    lock = vm.vmd.free_lock[m.domain]
    yield Lock(lock, VM_PAGE_FREE)
    yield Cycles(k.cost.vm_phys_free)
    vm.phys.free.append(m)
    yield Unlock(lock, VM_PAGE_FREE)
    yield from vm_domain_freecnt_inc(k, m.domain)


def vm_page_free(k: KCtx, m: VmPage) -> Iterator:
    """vm_page_free: out of its object and its queue (a deferred dequeue), back to its
    reservation or this CPU's page cache; it may be reused at once.  It happens at the
    caller's point of time: the caller has synced and checked the page is its to free
    (not busy with someone else)."""
    vm = k.vm
    if m.object is not None:
        m.object.pages.pop(m.pindex, None)
    if vm.check is not None:
        vm.trace(k, (yield NOW), "free", m, "vm_page_free: back to the free pages")
    m.object = None
    m.gen += 1
    m.dirty = m.inactive = False
    yield Cycles(k.cost.vm_page_free)
    if m.queue != PQ_NONE:                            # vm_page_dequeue_deferred
        yield from vm_pqbatch_submit_page(k, m, m.queue)
        m.queue = PQ_NONE
    if m.rv is not None:
        yield from vm_reserv_free_page(k, m)
        return
    c = vm.phys.cache(k.cpu)
    c.append(m)
    if len(c) >= 2 * BUCKET:                          # a full free bucket: vm_page_release
        lock = vm.vmd.free_lock[m.domain]
        yield Lock(lock, VM_PAGE_RELEASE)
        yield Cycles(BUCKET * k.cost.vm_phys_page)
        vm.phys.drain(k.cpu)
        yield Unlock(lock, VM_PAGE_RELEASE)
        yield from vm_domain_freecnt_inc(k, m.domain, BUCKET)


# ------------------------------------------------------------------ the page queues

def vm_pqbatch_submit_page(k: KCtx, m: VmPage, queue: int, extra: int = 0) -> Iterator:
    """Put m in this CPU's batch for (its domain, queue); a full batch is processed under
    the queue's mutex (vm_pqbatch_process).  `extra`: the caller's local cycles, charged
    with the insert."""
    vm = k.vm
    key = (k.cpu, m.domain, queue)
    n = vm.pqbatch.get(key, 0) + 1
    if n <= VM_BATCHQUEUE_SIZE:
        vm.pqbatch[key] = n
        yield Cycles(k.cost.vm_pqbatch_insert + extra)
        return
    vm.pqbatch[key] = 0
    lock = vm.vmd.pq_lock[m.domain][queue]
    if extra:
        yield Cycles(extra)
    yield Lock(lock, VM_PQBATCH)
    yield Cycles(n * k.cost.vm_pqbatch_page)
    yield Unlock(lock, VM_PQBATCH)


def vm_page_lock_line(k: KCtx, m: VmPage) -> tuple | None:
    """vm_page_lock: pa_lock[pa_index(pa) % PA_LOCK_COUNT], one per 2 MB frame hash."""
    return None if k.vm.private else ("pa_lock", (m.pa >> 9) % 256)


def vm_page_activate(k: KCtx, m: VmPage) -> Iterator:
    """vm_page_lock; vm_page_activate (a batched queue operation); vm_page_unlock."""
    line = vm_page_lock_line(k, m)
    if line is not None:
        yield Rmw(line)
    if m.queue != PQ_ACTIVE:
        m.queue = PQ_ACTIVE
        m.inactive = False
        yield from vm_pqbatch_submit_page(
            k, m, PQ_ACTIVE, 2 * k.cost.atomic_local if line is None else 0)
    elif line is None:
        yield Cycles(2 * k.cost.atomic_local)
    if line is not None:
        yield Rmw(line)


def vm_page_deactivate(k: KCtx, m: VmPage, queue: int = PQ_INACTIVE) -> Iterator:
    """vm_page_deactivate (or, for a dirty page, vm_page_launder): to the inactive (or
    laundry) queue, where the page daemon looks first; a page already there stays."""
    m.inactive = True
    if m.queue != queue:
        m.queue = queue
        yield from vm_pqbatch_submit_page(k, m, queue)
