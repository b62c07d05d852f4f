"""amd64 pmap paths (sys/amd64/amd64/pmap.c, FreeBSD head mid-2018).

pmap_remove and pmap_advise bracket their work with delayed invalidation (DI):
pmap_delayed_invl_started() and pmap_delayed_invl_finished(), which in 2018 serialise on the
global `invl_gen_mtx` (emu/kernel/di/mutex.py); the other strategies replace that pair.
Inside, under the pmap's mutex: the PTE walk, each removed page's PV entry freed under its PV
list lock, which is dropped *before* the TLB shootdown: the window DI exists for (a third CPU
in pmap_remove_all(m) sees an empty PV list while a stale TLB entry for m survives), closed
by pmap_delayed_invl_wait(m) in pmap_remove_all and pmap_remove_write.

Each path is a generator (emu/kernel/kthread.py) run where the address space lives: on the
CPU for a private (`_processes`) one, in the actor for a shared (`_threads`) one.  The
functions taking `td` are the CPU's entry points.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from emu.hw.tlb import IPI_INVLPG, IPI_INVLRNG, IPI_INVLTLB
from emu.kernel.invl import (
    DI_ENTER,
    DI_EXIT,
    pmap_delayed_invl_page,
    pmap_delayed_invl_wait,
    tracking,
)
from emu.kernel.kcalls import caller
from emu.kernel.kthread import NOW, SYNC, Call, Cycles, KCtx, Lock, Rmw, Unlock, Write, gcall
from emu.kernel.mp_x86 import smp_targeted_tlb_shootdown
from emu.kernel.proc import IMAGE_END
from emu.kernel.vm_page import PAGE_SHIFT, PAGE_SIZE, VmPage

if TYPE_CHECKING:
    from emu.kernel.proc import Proc

# amd64 PTE bits (pmap.h): valid, writable, user, accessed, modified, managed (PG_AVAIL2).
PG_V, PG_RW, PG_U, PG_A, PG_M, PG_MANAGED = 0x001, 0x002, 0x004, 0x020, 0x040, 0x400

PMAP_INVLPG_THRESHOLD = 4096 * PAGE_SIZE


class Pmap:
    """A page table (va -> pte, the frame in the bits above 12) and pm_active."""

    __slots__ = ("pid", "lock_id", "pte", "pm_active")

    def __init__(self, pid: int, lock_id: int | None) -> None:
        self.pid = pid
        self.lock_id = lock_id      # PMAP_LOCK: a shared mutex, or None (private)
        self.pte: dict[int, int] = {}
        self.pm_active: set[int] = set()

    def vas(self, sva: int, eva: int) -> list[int]:
        """The mapped pages in [sva, eva), in address order."""
        pte = self.pte
        if (eva - sva) >> PAGE_SHIFT <= len(pte):
            return [va for va in range(sva, eva, 1 << PAGE_SHIFT) if va in pte]
        return sorted(va for va in pte if sva <= va < eva)


def pt_line(pid: int, va: int) -> tuple:
    """The cache line of a PTE: eight 8-byte PTEs, 32 KB of address space."""
    return ("pte", pid, va >> 15)


def local_pmap(k: KCtx, p: Proc) -> Pmap:
    """A private address space's pmap (made at its first use: pmap_activate)."""
    vm = k.vm
    pmap = vm.pmaps.get(p.pid)
    if pmap is None:
        pmap = vm.pmaps[p.pid] = Pmap(p.pid, None)
        pmap.pm_active.add(k.cpu)   # a private space runs on this CPU only
        vm.ranges[p.pid] = p.vm_map.entries
    return pmap


MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED, MADV_FREE = range(6)

PMAP_ENTER = caller("pmap_enter")
PMAP_REMOVE = caller("pmap_remove")
PMAP_ADVISE = caller("pmap_advise")
PMAP_REMOVE_ALL = caller("pmap_remove_all")
PMAP_REMOVE_WRITE = caller("pmap_remove_write")


# ------------------------------------------------------------------ the paths

def pmap_enter(k: KCtx, pmap: Pmap, va: int, m: VmPage, writable: bool, write: bool
               ) -> Iterator:
    """Map m at va (the hardware sets PG_A, and PG_M for a write, on the access that follows:
    set here at once).  A valid old mapping is replaced and invalidated, all under the PV
    list lock, so it needs no DI."""
    vm, c = k.vm, k.cost
    yield Lock(pmap.lock_id, PMAP_ENTER)
    yield Rmw(vm.pv_line(m))                     # rw_wlock(PV list lock)
    yield Cycles(c.pmap_enter)
    yield SYNC
    old = pmap.pte.get(va, 0)
    om = vm.page(old) if old & PG_V else None
    pte = (m.pa << PAGE_SHIFT) | PG_V | PG_U | PG_MANAGED | PG_A
    if writable:
        pte |= PG_RW
    if write:
        pte |= PG_M
    pmap.pte[va] = pte
    if om is not m:
        if om is not None:
            om.pv.remove((pmap.pid, va))
            if old & PG_M:
                om.dirty = True
        m.pv.append((pmap.pid, va))
    if vm.check is not None:
        vm.trace(k, (yield NOW), "map", m, f"pmap_enter: va {va:#x} "
                 f"({'writable' if writable else 'read-only'})", va)
    yield Write(vm.pt_line(pmap.pid, va))
    if old & PG_A and (om is not m or old & PG_RW and not writable):
        yield from pmap_invalidate_page(k, pmap, va)
    yield Rmw(vm.pv_line(m))                     # rw_wunlock
    yield Unlock(pmap.lock_id, PMAP_ENTER)


PDRSHIFT = 21  # a page-directory entry maps 2MB (amd64 NBPDR)


def pmap_walk(c, sva: int, eva: int) -> int:
    """Cycles of pmap_remove's (and pmap_advise's) walk of [sva, eva): the fixed part, then
    one turn of the loop per 2MB page-directory entry the range spans.  Each turn re-reads
    pm_stats.resident_count and the PML4, PDP and PD entries and skips an empty PDE
    (amd64 pmap.c), so an untouched 128MB range still costs 64 or 65 turns.  A PDE with a
    page-table page is walked slot by slot over the range's part of it (pmap_remove_ptes):
    the one the range shares with the process image below it (emu.kernel.proc.IMAGE_END).
    Removing a valid PTE is priced by the caller; here every slot costs its empty test."""
    if eva <= sva:
        return c.pmap_remove_walk
    npde = ((eva - 1) >> PDRSHIFT) - (sva >> PDRSHIFT) + 1
    block = (IMAGE_END - 1) >> PDRSHIFT << PDRSHIFT  # the image's last 2MB, a PT page
    lo, hi = max(sva, IMAGE_END), min(eva, block + (1 << PDRSHIFT))
    slots = (hi - lo) >> PAGE_SHIFT if hi > lo else 0
    return c.pmap_remove_walk + c.pmap_walk_pde * npde + c.pmap_pte_slot * slots


def _pmap_remove(k: KCtx, pmap: Pmap, sva: int, eva: int) -> Iterator:
    """pmap_remove's body between the DI calls: under the pmap lock, remove each valid PTE
    and its PV entry, then invalidate the range (a shootdown when others run the pmap)."""
    vm, c = k.vm, k.cost
    yield Lock(pmap.lock_id, PMAP_REMOVE)
    yield Cycles(pmap_walk(c, sva, eva))
    anyvalid = False
    for va in pmap.vas(sva, eva):
        pte = pmap.pte[va]
        m = vm.page(pte)
        yield Rmw(vm.pv_line(m))                 # CHANGE_PV_LIST_LOCK_TO_PHYS
        yield Cycles(c.pmap_remove_pte)
        yield SYNC
        pte = pmap.pte.pop(va, 0)
        if not pte & PG_V:
            continue
        m.pv.remove((pmap.pid, va))
        if pte & PG_M:
            m.dirty = True
        pmap_delayed_invl_page(k, m)
        anyvalid = True
        if vm.check is not None:
            vm.trace(k, (yield NOW), "unmap", m, f"pmap_remove: va {va:#x}, PV entry "
                     "freed, PV lock dropped before the shootdown", va)
        yield Write(vm.pt_line(pmap.pid, va))
    if anyvalid:
        yield from pmap_invalidate_range(k, pmap, sva, eva)
    yield Unlock(pmap.lock_id, PMAP_REMOVE)


def _pmap_advise(k: KCtx, pmap: Pmap, sva: int, eva: int, advice: int) -> Iterator:
    """MADV_DONTNEED/MADV_FREE: clear PG_A (and PG_M, dirtying the page) in each valid
    managed PTE; if any changed, pmap_invalidate_all."""
    if advice not in (MADV_DONTNEED, MADV_FREE):
        return
    vm, c = k.vm, k.cost
    yield Lock(pmap.lock_id, PMAP_ADVISE)
    anychanged = False
    for va in pmap.vas(sva, eva):
        pte = pmap.pte[va]
        if pte & (PG_MANAGED | PG_V) != PG_MANAGED | PG_V:
            continue
        if pte & (PG_M | PG_RW) == PG_M | PG_RW:
            if advice == MADV_DONTNEED:
                vm.page(pte).dirty = True   # vm_page_dirty: spares pmap_is_modified later
            new = pte & ~(PG_M | PG_A)
        elif pte & PG_A:
            new = pte & ~PG_A
        else:
            continue
        yield Rmw(vm.pt_line(pmap.pid, va))         # atomic_clear_long(pte, ...)
        yield SYNC
        pmap.pte[va] = new
        anychanged = True
    if anychanged:
        yield Cycles(pmap_walk(c, sva, eva))
        yield from pmap_invalidate_all(k, pmap)
    yield Unlock(pmap.lock_id, PMAP_ADVISE)


def pmap_remove_all(k: KCtx, m: VmPage) -> Iterator:
    """Remove every mapping of m (the page daemon, before it frees m), each invalidated
    while its pmap and m's PV list are locked; then pmap_delayed_invl_wait(m): mappings
    removed by a pmap_remove whose shootdown may still be in flight."""
    vm, c = k.vm, k.cost
    yield Rmw(vm.pv_line(m))                     # rw_wlock(PV list lock)
    yield SYNC
    while m.pv:
        pid, va = m.pv[0]
        pmap = vm.pmaps[pid]
        yield Lock(pmap.lock_id, PMAP_REMOVE_ALL)  # PMAP_TRYLOCK, or drop the PV lock first
        yield SYNC
        if (pid, va) in m.pv:
            pte = pmap.pte.pop(va)
            m.pv.remove((pid, va))
            if pte & PG_M:
                m.dirty = True
            if vm.check is not None:
                vm.trace(k, (yield NOW), "unmap", m, f"pmap_remove_all: va {va:#x}", va)
            yield Cycles(c.pmap_remove_pte)
            yield Write(vm.pt_line(pid, va))
            yield from pmap_invalidate_page(k, pmap, va)
        yield Unlock(pmap.lock_id, PMAP_REMOVE_ALL)
        yield SYNC
    yield Rmw(vm.pv_line(m))                     # rw_wunlock
    if vm.check is not None:
        vm.trace(k, (yield NOW), "pv-empty", m,
                 "pmap_remove_all: no mapping left; pmap_delayed_invl_wait(m)")
    yield from pmap_delayed_invl_wait(k, m)


def pmap_remove_write(k: KCtx, m: VmPage) -> Iterator:
    """Write-protect every mapping of m (before it is laundered), then
    pmap_delayed_invl_wait(m)."""
    vm, c = k.vm, k.cost
    yield Rmw(vm.pv_line(m))
    yield SYNC
    for pid, va in list(m.pv):
        pmap = vm.pmaps[pid]
        yield Lock(pmap.lock_id, PMAP_REMOVE_WRITE)
        yield SYNC
        pte = pmap.pte.get(va, 0)
        if pte & PG_V and pte & PG_RW and vm.page(pte) is m:
            if pte & PG_M:
                m.dirty = True
            pmap.pte[va] = pte & ~(PG_RW | PG_M)
            if vm.check is not None:
                vm.trace(k, (yield NOW), "protect", m, f"pmap_remove_write: va {va:#x}", va)
            yield Cycles(c.pmap_remove_pte)
            yield Write(vm.pt_line(pid, va))
            yield from pmap_invalidate_page(k, pmap, va)
        yield Unlock(pmap.lock_id, PMAP_REMOVE_WRITE)
    yield Rmw(vm.pv_line(m))
    yield from pmap_delayed_invl_wait(k, m)


# ------------------------------------------------------------------ TLB invalidation

def _others(k: KCtx, pmap: Pmap) -> set[int]:
    return pmap.pm_active - {k.cpu}


def pmap_invalidate_page(k: KCtx, pmap: Pmap, va: int) -> Iterator:
    if k.cpu in pmap.pm_active:
        yield Cycles(k.cost.invlpg)
        if k.td is not None:
            k.td.tlb.invlpg(va)
    yield from smp_targeted_tlb_shootdown(k, _others(k, pmap), IPI_INVLPG, va, va + PAGE_SIZE)


def pmap_invalidate_range(k: KCtx, pmap: Pmap, sva: int, eva: int) -> Iterator:
    if eva - sva >= PMAP_INVLPG_THRESHOLD:
        yield from pmap_invalidate_all(k, pmap)
        return
    if k.cpu in pmap.pm_active:
        yield Cycles(k.cost.invlpg * ((eva - sva) >> PAGE_SHIFT))
        if k.td is not None:
            k.td.tlb.invlrng(sva, eva)
    yield from smp_targeted_tlb_shootdown(k, _others(k, pmap), IPI_INVLRNG, sva, eva)


def pmap_invalidate_all(k: KCtx, pmap: Pmap) -> Iterator:
    if k.cpu in pmap.pm_active:
        yield Cycles(k.cost.invltlb)
        if k.td is not None:
            k.td.tlb.invltlb()
    yield from smp_targeted_tlb_shootdown(k, _others(k, pmap), IPI_INVLTLB, 0, 0)


# ------------------------------------------------------------------ shared spaces: kernel calls

def _pmap_remove_k(k: KCtx, pid: int, sva: int, eva: int) -> Iterator:
    yield from _pmap_remove(k, k.vm.pmaps[pid], sva, eva)


def _pmap_advise_k(k: KCtx, pid: int, sva: int, eva: int, advice: int) -> Iterator:
    yield from _pmap_advise(k, k.vm.pmaps[pid], sva, eva, advice)


PMAP_REMOVE_K = gcall(_pmap_remove_k)
PMAP_ADVISE_K = gcall(_pmap_advise_k)


def _pmap_activate_k(k: KCtx, pid: int, on: int) -> Iterator:
    """pmap_activate_sw: this CPU joins (1) or leaves (0) the pmap's pm_active."""
    yield SYNC
    active = k.vm.pmaps[pid].pm_active
    if on:
        active.add(k.cpu)
    else:
        active.discard(k.cpu)


PMAP_ACTIVATE_K = gcall(_pmap_activate_k, blocking=False)


# ------------------------------------------------------------------ the CPU's entry points

def pmap_remove(k: KCtx, p: Proc, sva: int, eva: int) -> Iterator:
    """Remove the range's mappings.  mmap1 never touches its pages, so the walk finds no
    valid PTE: nothing to invalidate and no TLB shootdown, only the DI bracket (the chosen
    `di` strategy: emu/kernel/di/)."""
    td = k.td
    di = td.kernel.di
    track = tracking(td)
    yield from di.pmap_delayed_invl_started(k)
    if track:
        yield Call(DI_ENTER)
    if p.shared:
        yield Call(PMAP_REMOVE_K, (p.pid, sva, eva))
        if eva - sva >= PMAP_INVLPG_THRESHOLD:
            td.tlb.invltlb()
        else:
            td.tlb.invlrng(sva, eva)
    else:
        pmap = local_pmap(k, p)
        if pmap.pte and pmap.vas(sva, eva):
            yield from _pmap_remove(k, pmap, sva, eva)
        else:
            yield Cycles(pmap_walk(k.cost, sva, eva))
    if track:
        yield Call(DI_EXIT)
    yield from di.pmap_delayed_invl_finished(k)


def pmap_advise(k: KCtx, p: Proc, sva: int, eva: int, advice: int) -> Iterator:
    """pmap_advise runs under DI too (it may invalidate)."""
    if advice not in (MADV_DONTNEED, MADV_FREE):
        return
    td = k.td
    di = td.kernel.di
    track = tracking(td)
    yield from di.pmap_delayed_invl_started(k)
    if track:
        yield Call(DI_ENTER)
    if p.shared:
        yield Call(PMAP_ADVISE_K, (p.pid, sva, eva, advice))
        td.tlb.invltlb()
    else:
        yield from _pmap_advise(k, local_pmap(k, p), sva, eva, advice)
    if track:
        yield Call(DI_EXIT)
    yield from di.pmap_delayed_invl_finished(k)


def pmap_activate(k: KCtx, p: Proc, on: bool = True) -> Iterator:
    """cpu_switch -> pmap_activate_sw: join (or leave) the pmap's pm_active.  Leaving loads
    another %cr3, which flushes the TLB's user entries."""
    if p.shared:
        yield Call(PMAP_ACTIVATE_K, (p.pid, int(on)))
    else:
        local_pmap(k, p)
    if not on:
        k.td.tlb.invltlb()
