"""Physical pages, VM objects and the page allocator (sys/vm/vm_page.c, vm_object.c).

A `VmPage` knows its owner (object, pindex), its PV list (the (pmap, va) pairs mapping it,
amd64 md.pv_list), its delayed-invalidation generation (md.invl_gen), whether it is dirty,
busy or inactive, and two generations the checker reads: `gen` counts the times it was
freed (a TLB entry filled before the last free is stale), `wgen` the times it was cleaned
after pmap_remove_write (a write through an entry filled before that is lost).

vm_page_alloc takes pages from a per-CPU cache (FreeBSD 12's per-domain page cache zone,
UMA buckets) and refills it a bucket at a time from the domain's free queues under the
"vm page free queue" mutex; vm_page_free puts them back the same way.  Freed pages are
reused last-in first-out, as UMA's buckets do: a freed page soon has another owner.
"""

from __future__ import annotations

from collections.abc import Iterator

from emu.kernel.kcalls import caller
from emu.kernel.kthread import NOW, SYNC, Cycles, KCtx, Lock, Unlock

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_MASK = PAGE_SIZE - 1
BUCKET = 64            # pages moved between a CPU's cache and the free queues at a time

OBJT_DEFAULT, OBJT_VNODE = "anon", "vnode"

VM_PAGE_ALLOC = caller("vm_page_alloc")
VM_PAGE_FREE = caller("vm_page_free")


class VmPage:
    __slots__ = ("pa", "object", "pindex", "pv", "invl_gen", "gen", "wgen", "dirty", "busy",
                 "inactive", "unmapped_by")

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


class VmObject:
    __slots__ = ("id", "type", "pages", "size")

    def __init__(self, oid: int, type: str, size: int = 0) -> None:
        self.id = oid
        self.type = type
        self.pages: dict[int, VmPage] = {}
        self.size = size     # pages (a vnode's length)


class PhysMem:
    """The free pages of one memory domain, with a cache per CPU."""

    def __init__(self, base: int = 1) -> None:
        self.next_pa = base        # page frame numbers never handed out yet
        self.free: list[VmPage] = []
        self.caches: dict[int, list[VmPage]] = {}
        self.pages: dict[int, VmPage] = {}   # pa -> page, for the PTE -> vm_page lookup

    def cache(self, cpu: int) -> list[VmPage]:
        c = self.caches.get(cpu)
        if c is None:
            c = self.caches[cpu] = []
        return c

    def refill(self, cpu: int) -> None:
        c, free = self.cache(cpu), self.free
        for _ in range(BUCKET):
            if free:
                c.append(free.pop())
            else:
                m = VmPage(self.next_pa)
                self.pages[m.pa] = m
                self.next_pa += 1
                c.append(m)
        c.reverse()  # the most recently freed page comes out first

    def drain(self, cpu: int) -> None:
        c = self.cache(cpu)
        self.free.extend(c[:BUCKET])
        del c[:BUCKET]


def vm_page_alloc(k: KCtx, obj: VmObject, pindex: int) -> Iterator:
    """vm_page_alloc: a page from this CPU's cache, inserted in obj at pindex; None if
    another CPU inserted one there while this one refilled its cache."""
    vm = k.vm
    c = vm.phys.cache(k.cpu)
    if not c:
        yield Lock(vm.free_lock, VM_PAGE_ALLOC)
        yield Cycles(BUCKET * k.cost.vm_phys_page)
        vm.phys.refill(k.cpu)
        yield Unlock(vm.free_lock, VM_PAGE_ALLOC)
    yield Cycles(k.cost.vm_page_alloc)
    yield SYNC
    if pindex in obj.pages:
        return None
    m = c.pop()
    m.object, m.pindex = obj, pindex
    m.dirty = m.inactive = False
    m.invl_gen = 0
    obj.pages[pindex] = m
    if vm.check is not None:  # (before the zeroing that follows: the page is ours from here)
        vm.trace(k, (yield NOW), "alloc", m, f"vm_page_alloc: object {obj.id} page {pindex}")
    return m


def vm_page_free(k: KCtx, m: VmPage) -> Iterator:
    """vm_page_free: out of its object, back to this CPU's cache; it may be reused at once.
    It happens at the caller's point of time: the caller has synced and checked the page is
    its to free (not busy with someone else)."""
    vm = k.vm
    if m.object is not None:
        m.object.pages.pop(m.pindex, None)
    if vm.check is not None:
        vm.trace(k, (yield NOW), "free", m, "vm_page_free: back to the free pages")
    m.object = None
    m.gen += 1
    m.dirty = m.inactive = False
    c = vm.phys.cache(k.cpu)
    c.append(m)
    yield Cycles(k.cost.vm_page_free)
    if len(c) >= 2 * BUCKET:
        yield Lock(vm.free_lock, VM_PAGE_FREE)
        yield Cycles(BUCKET * k.cost.vm_phys_page)
        vm.phys.drain(k.cpu)
        yield Unlock(vm.free_lock, VM_PAGE_FREE)
