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

from emu.hw.memctl import memctl_arg
from emu.hw.tlb import IPI_INVLPG, IPI_INVLRNG, IPI_INVLTLB
from emu.kernel.invl import (
    DI_ENTER,
    DI_EXIT,
    pmap_delayed_invl_page,
    pmap_delayed_invl_wait,
    tracking,
)
from emu.kernel.kcalls import caller
from emu.kernel.kthread import (
    NOW,
    SYNC,
    Call,
    Cycles,
    KCtx,
    Lock,
    MemXfer,
    Rmw,
    Unlock,
    Write,
    gcall,
)
from emu.kernel.mp_x86 import smp_targeted_tlb_shootdown
from emu.kernel.proc import IMAGE_END
from emu.kernel.vm_page import (
    PAGE_SHIFT,
    PAGE_SIZE,
    VmPage,
    vm_page_alloc_noobj,
    vm_page_free_noobj,
)
from emu.kernel.vm_reserv import vm_reserv_level_iffullpop

if TYPE_CHECKING:
    from emu.kernel.proc import Proc

# amd64 PTE bits (pmap.h): valid, writable, user, accessed, modified, managed (PG_AVAIL2).
PG_V, PG_RW, PG_U, PG_A, PG_M, PG_MANAGED = 0x001, 0x002, 0x004, 0x020, 0x040, 0x400

PMAP_INVLPG_THRESHOLD = 4096 * PAGE_SIZE
PDRSHIFT = 21          # a page-directory entry maps 2MB (amd64 NBPDR)
NPTEPG = 512           # PTEs in a page-table page
NPCPV = 168            # PV entries in a pv_chunk (_NPCPV)


class Pmap:
    """A page table (va -> pte, the frame in the bits above 12), pm_active, the page-table
    pages by 2 MB frame with their count of valid PTEs (the PT page's wire_count), the
    frames promoted to 2 MB mappings, and the PV entries its chunks hold."""

    __slots__ = ("pid", "lock_id", "pte", "pm_active", "ptp", "ptp_page", "pde", "pv_used",
                 "pv_chunks")

    def __init__(self, pid: int, lock_id: int | None) -> None:
        self.pid = pid
        self.lock_id = lock_id      # PMAP_LOCK: a shared mutex, or None (private)
        self.pte: dict[int, int] = {}
        self.pm_active: set[int] = set()
        self.ptp: dict[int, int] = {}          # 2 MB frame -> valid 4 KB PTEs in it
        self.ptp_page: dict[int, VmPage] = {}  # 2 MB frame -> its page-table page
        self.pde: set[int] = set()             # frames mapped by one 2 MB PDE
        self.pv_used = 0                       # PV entries in use (pm_pvchunk)
        self.pv_chunks: list[VmPage] = []      # its chunks' pages, _NPCPV entries each

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
GET_PV_ENTRY = caller("get_pv_entry")
FREE_PV_CHUNK = caller("free_pv_chunk")
PMAP_REMOVE = caller("pmap_remove")
PMAP_ADVISE = caller("pmap_advise")
PMAP_REMOVE_ALL = caller("pmap_remove_all")
PMAP_REMOVE_WRITE = caller("pmap_remove_write")


# ------------------------------------------------------------------ the paths

def pmap_enter(k: KCtx, pmap: Pmap, va: int, m: VmPage, writable: bool, write: bool
               ) -> Iterator:
    """Map m at va (the hardware sets PG_A, and PG_M for a write, on the access that follows:
    set here at once), under PMAP_LOCK and the page's PV list lock; a valid old mapping is
    replaced and invalidated under them, so it needs no DI.  A frame's first mapping
    allocates its page-table page (_pmap_allocpte: a page without an object, zeroed); a
    new mapping takes a PV entry (get_pv_entry); the 512th valid PTE of a frame whose
    reservation is fully populated promotes it to a 2 MB mapping (pmap_promote_pde)."""
    vm, c = k.vm, k.cost
    private = pmap.lock_id is None      # PMAP_LOCK and the PV list lock: this CPU's lines
    frame = va >> PDRSHIFT
    if not private:
        yield Lock(pmap.lock_id, PMAP_ENTER)
    if frame not in pmap.ptp_page:
        yield from _pmap_allocpte(k, pmap, frame)
    pvl = vm.pv_line(m)
    if pvl is not None:
        yield Rmw(pvl)                           # rw_wlock(PV list lock)
        yield SYNC
    old = pmap.pte.get(va, 0)
    om = vm.page(old) if old & PG_V else None
    if om is not m:
        yield from get_pv_entry(k, pmap)
    yield Cycles(c.pmap_enter + (4 * c.atomic_local if private else 0))
    if not private:
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
            pmap.pv_used -= 1                    # the old entry goes (free_pv_entry)
        else:
            pmap.ptp[frame] = pmap.ptp.get(frame, 0) + 1
        m.pv.append((pmap.pid, va))
    if vm.check is not None:
        vm.trace(k, (yield NOW), "map", m, f"pmap_enter: va {va:#x} "
                 f"({'writable' if writable else 'read-only'})", va)
    if not private:
        yield Write(vm.pt_line(pmap.pid, va))
    if old & PG_A and (om is not m or old & PG_RW and not writable):
        yield from pmap_invalidate_page(k, pmap, va)
    if (pmap.ptp.get(frame) == NPTEPG and frame not in pmap.pde
            and vm_reserv_level_iffullpop(m) == 0):
        yield from pmap_promote_pde(k, pmap, frame, m)
    if pvl is not None:
        yield Rmw(pvl)                           # rw_wunlock
    if not private:
        yield Unlock(pmap.lock_id, PMAP_ENTER)


def pmap_enter_quick(k: KCtx, pmap: Pmap, va: int, m: VmPage) -> Iterator:
    """A read-only mapping of a resident page (vm_fault_prefault): PMAP_LOCK, the PV list
    lock, pmap_try_insert_pv_entry, the PTE."""
    vm, c = k.vm, k.cost
    private = pmap.lock_id is None
    frame = va >> PDRSHIFT
    if not private:
        yield Lock(pmap.lock_id, PMAP_ENTER)
    if frame not in pmap.ptp_page:
        yield from _pmap_allocpte(k, pmap, frame)
    pvl = vm.pv_line(m)
    if pvl is not None:
        yield Rmw(pvl)
    yield from get_pv_entry(k, pmap)
    yield Cycles(c.pmap_enter + (4 * c.atomic_local if private else 0))
    if not private:
        yield SYNC
    if not pmap.pte.get(va, 0) & PG_V:
        pmap.pte[va] = (m.pa << PAGE_SHIFT) | PG_V | PG_U | PG_MANAGED
        pmap.ptp[frame] = pmap.ptp.get(frame, 0) + 1
        m.pv.append((pmap.pid, va))
        if vm.check is not None:
            vm.trace(k, (yield NOW), "map", m, f"pmap_enter_quick: va {va:#x} (read-only)",
                     va)
        if pmap.lock_id is not None:
            yield Write(vm.pt_line(pmap.pid, va))
    else:
        pmap.pv_used -= 1
    if pvl is not None:
        yield Rmw(pvl)
    if not private:
        yield Unlock(pmap.lock_id, PMAP_ENTER)


def _pmap_allocpte(k: KCtx, pmap: Pmap, frame: int) -> Iterator:
    """A page-table page for the 2 MB frame: vm_page_alloc(NULL, ..., VM_ALLOC_NOOBJ |
    VM_ALLOC_ZERO), zeroed (no prezeroed pages in 2018)."""
    ptp = yield from vm_page_alloc_noobj(k)
    yield from pmap_zero_page(k, ptp)
    pmap.ptp_page[frame] = ptp
    pmap.ptp.setdefault(frame, 0)


def _pmap_free_ptp(k: KCtx, pmap: Pmap, frame: int) -> Iterator:
    """pmap_unwire_ptp / pmap_remove_pt_page: the frame's page-table page is freed (after
    the invalidation: vm_page_free_pages_toq, a page without an object)."""
    ptp = pmap.ptp_page.pop(frame, None)
    pmap.ptp.pop(frame, None)
    pmap.pde.discard(frame)
    if ptp is not None:
        yield from vm_page_free_noobj(k, ptp)


def get_pv_entry(k: KCtx, pmap: Pmap) -> Iterator:
    """A PV entry from the pmap's chunks (pm_pvchunk, _NPCPV = 168 a chunk); a full set
    takes a new chunk: a page without an object, then the global pv_chunks list under
    pv_chunks_mutex ("pmap pv chunk list")."""
    if pmap.pv_used >= len(pmap.pv_chunks) * NPCPV:
        pc = yield from vm_page_alloc_noobj(k)
        lock = k.vm.pv_chunks_mutex
        yield Lock(lock, GET_PV_ENTRY)
        yield Cycles(k.cost.pv_chunk_list)
        yield Unlock(lock, GET_PV_ENTRY)
        pmap.pv_chunks.append(pc)
    pmap.pv_used += 1


def free_pv_entries(k: KCtx, pmap: Pmap, n: int) -> Iterator:
    """free_pv_entry n times: a chunk left with no entry in use is freed (free_pv_chunk:
    off the global list under pv_chunks_mutex, its page back to the buddy queues).
    Entries are taken from the first chunk with room and a freed entry's chunk moves to
    the head, so chunks empty in the order they filled: the pmap keeps a count."""
    pmap.pv_used -= n
    while pmap.pv_chunks and pmap.pv_used <= (len(pmap.pv_chunks) - 1) * NPCPV:
        pc = pmap.pv_chunks.pop()
        lock = k.vm.pv_chunks_mutex
        yield Lock(lock, FREE_PV_CHUNK)
        yield Cycles(k.cost.pv_chunk_list)
        yield Unlock(lock, FREE_PV_CHUNK)
        yield from vm_page_free_noobj(k, pc)


def pmap_promote_pde(k: KCtx, pmap: Pmap, frame: int, m: VmPage) -> Iterator:
    """The frame's 512 PTEs map its reservation's pages in order with the same bits: one
    2 MB PDE replaces them (the PT page is kept for a later demotion), and
    pmap_pv_promote_pde keeps the first PV entry for the 2 MB mapping and frees the
    other 511."""
    yield Cycles(k.cost.pmap_promote_pde)
    pmap.pde.add(frame)
    yield from free_pv_entries(k, pmap, NPTEPG - 1)


def pmap_zero_page(k: KCtx, m: VmPage) -> Iterator:
    """pagezero (rep stosq) of the page's 4 KB through its socket's memory controllers:
    the core's own cycles, then the controllers' queue (emu/hw/memctl.py)."""
    core = k.cost.pmap_zero_page
    yield Cycles(core)
    yield MemXfer(memctl_arg(k.vm.page_socket(m), k.cost.pagezero_dram_bytes, core))


def pmap_copy_page(k: KCtx, src: VmPage, dst: VmPage) -> Iterator:
    """pagecopy (rep movsq): 4 KB read from the source page's socket, written to the
    destination's."""
    core = k.cost.pmap_copy_page
    yield Cycles(core)
    s, d = k.vm.page_socket(src), k.vm.page_socket(dst)
    nbytes = k.cost.pagecopy_dram_bytes
    if s == d:
        yield MemXfer(memctl_arg(s, nbytes, core))
    else:                              # the read from one socket, the write to the other
        yield MemXfer(memctl_arg(s, nbytes // 2, core))
        yield MemXfer(memctl_arg(d, nbytes - nbytes // 2, core))




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
    """pmap_remove's body between the DI calls: under the pmap lock, remove each 2 MB
    mapping (pmap_remove_pde: one PV entry, the 512 pages' flags) and each valid PTE
    (pmap_remove_pte: its PV entry, under the page's PV list lock), then invalidate the
    range (a shootdown when others run the pmap); the page-table pages left empty are
    freed after the invalidation (vm_page_free_pages_toq)."""
    vm, c = k.vm, k.cost
    private = pmap.lock_id is None and vm.private
    yield Lock(pmap.lock_id, PMAP_REMOVE)
    yield Cycles(pmap_walk(c, sva, eva))
    anyvalid = False
    freed_ptp: list[int] = []
    removed = 0
    by_frame: dict[int, list[int]] = {}
    for va in pmap.vas(sva, eva):
        by_frame.setdefault(va >> PDRSHIFT, []).append(va)
    for frame, vas in by_frame.items():
        if frame in pmap.pde and len(vas) == NPTEPG:      # pmap_remove_pde
            yield Cycles(c.pmap_remove_pde + (2 * c.atomic_local if private else 0))
            if not private:
                yield Rmw(vm.pv_line(vm.page(pmap.pte[vas[0]])))
                yield SYNC
            for va in vas:
                pte = pmap.pte.pop(va, 0)
                if pte & PG_V:
                    m = vm.page(pte)
                    m.pv.remove((pmap.pid, va))
                    if pte & PG_M:
                        m.dirty = True
                    pmap_delayed_invl_page(k, m)
            removed += 1
            anyvalid = True
            pmap.ptp[frame] = 0
            freed_ptp.append(frame)                       # pmap_remove_pt_page
            continue
        pmap.pde.discard(frame)                           # (demoted: pmap_demote_pde)
        if private:
            n = 0
            for va in vas:
                pte = pmap.pte.pop(va, 0)
                if pte & PG_V:
                    m = vm.page(pte)
                    m.pv.remove((pmap.pid, va))
                    if pte & PG_M:
                        m.dirty = True
                    n += 1
            if n:
                yield Cycles(n * (c.pmap_remove_pte + 2 * c.atomic_local))
                anyvalid = True
                removed += n
                left = pmap.ptp.get(frame, 0) - n
                pmap.ptp[frame] = left
                if left <= 0:
                    freed_ptp.append(frame)               # pmap_unwire_ptp
            continue
        for va in vas:
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
            removed += 1
            left = pmap.ptp.get(frame, 0) - 1
            pmap.ptp[frame] = left
            if left == 0:
                freed_ptp.append(frame)
            if vm.check is not None:
                vm.trace(k, (yield NOW), "unmap", m, f"pmap_remove: va {va:#x}, PV entry "
                         "freed, PV lock dropped before the shootdown", va)
            yield Write(vm.pt_line(pmap.pid, va))
    if removed:
        yield from free_pv_entries(k, pmap, removed)
    if anyvalid:
        yield from pmap_invalidate_range(k, pmap, sva, eva)
    yield Unlock(pmap.lock_id, PMAP_REMOVE)
    for frame in freed_ptp:
        yield from _pmap_free_ptp(k, pmap, frame)


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
