"""The VM state of one place, and where it lives: not a FreeBSD structure, but the home of
the ones the paths use (pmap.py: Pmap; vm_map.py: MapEntry; vm_page.py: pages, objects)
for the address spaces kept in one process.

Code runs where it would run.  A `_processes` task's address space is private: its entries,
objects, page table and PV entries live in its CPU process (`local_vm`), and the kernel paths
over them run there.  A `_threads` address space is shared by every task: its state lives in
the kernel actor (`shared_vm`) and the paths over it run there as kernel calls, touching the
cache lines a real CPU would (page-table lines, PV list locks, the pmap mutex).  The TLBs stay
in the CPU processes either way (emu/hw/tlb.py).

Each CPU process also keeps its own copy of the map's *ranges* (emu/kernel/vm_map.py VmMap),
which is what mmap's vm_map_findspace and munmap's entry walk use; the objects behind the
ranges are here.
"""

from __future__ import annotations

from collections import defaultdict

from emu.kernel.kthread import KCtx
from emu.kernel.pmap import Pmap, pt_line
from emu.kernel.vm_map import MapEntry
from emu.kernel.vm_page import OBJT_DEFAULT, PAGE_SHIFT, PhysMem, VmObject, VmPage
from emu.kernel.vm_phys import domain_of_cpu, domains

NPV_LIST_LOCKS = 256   # amd64 pmap.c: NPV_LIST_LOCKS = MAXCPU, hashed by 2MB frame







class VmState:
    """The VM state of one place: a CPU process (its private spaces) or the actor."""

    def __init__(self, ids, cpu_base: int = 0, private: bool = False) -> None:
        self.ids = ids
        # A CPU process's own state: its lines are only ever in this CPU's cache, so its
        # paths name no line (None: emu/kernel/kthread.py prices them as local).
        self.private = private
        self.free_lock: int = ids.vm_free_lock
        self.smp_ipi_mtx: int = ids.smp_ipi_mtx
        self.smp_tlb_line: int = ids.smp_tlb_line
        self.pv_lines: list[int] = ids.pv_lines
        self.phys = PhysMem(base=(cpu_base << 28) + 1)
        self.pmaps: dict[int, Pmap] = {}
        self.maps: dict[int, dict[int, MapEntry]] = {}
        self.hint: dict[int, MapEntry] = {}
        self.map_locks: dict[int, int] = {}        # shared maps' locks (sx, taken shared)
        self.map_gen: dict[int, int] = {}          # a shared map's timestamp: bumped by changes
        self.ranges: dict[int, dict[int, int]] = {}  # a private map's ranges (proc.VmMap)
        self.uncharged: set[tuple[int, int]] = set()  # (pid, start) of entries not charged
        self.vnodes: set[tuple[int, int]] = set()     # (pid, start) of entries mapping a file
        self.files: dict[int, VmObject] = {}
        self.next_oid = (cpu_base << 20) + 1
        self.check = None     # emu.kernel.invariant.Checker, when the run checks the invariant
        self.invl = None      # emu.kernel.invl: delayed-invalidation semantics, when tracked
        self.unmapped: dict[int, set[VmPage]] = {}  # pages each open DI section unmapped
        # The physical memory's domains (emu/kernel/vm_phys.py): their shared locks and
        # lines, the domain each CPU allocates from, the socket whose DRAM holds each.
        self.vmd = ids.vmd
        self.pv_chunks_mutex: int = ids.pv_chunks_mutex   # amd64 pmap.c, global
        self.domain_of: defaultdict[int, int] | list[int] = defaultdict(int)  # (no machine: 0)
        self.domain_socket: list[int] = [0]
        self.pqbatch: dict[tuple[int, int, int], int] = {}  # per-CPU page-queue batches
        self.brk: dict[int, int] = {}          # a shared process's break (vm_unix.py)
        self._rv = (cpu_base << 24)

    def set_machine(self, machine) -> None:
        """Where the domains are: from the machine preset (vm_ndomains, the topology)."""
        _, self.domain_socket = domains(machine)
        self.domain_of = [domain_of_cpu(machine, cpu) for cpu in range(machine.ncpus)]

    def page_socket(self, m: VmPage) -> int:
        """The socket whose DRAM holds m: its domain's first (vm_phys.py `domains`)."""
        return self.domain_socket[m.domain]

    def next_rv(self) -> int:
        self._rv += 1
        return self._rv

    # pages and objects
    @property
    def pages(self) -> dict[int, VmPage]:
        return self.phys.pages

    def page(self, pte: int) -> VmPage:
        return self.phys.pages[pte >> PAGE_SHIFT]

    def new_object(self, type: str = OBJT_DEFAULT, size: int = 0) -> VmObject:
        obj = VmObject(self.next_oid, type, size)
        self.next_oid += 1
        return obj

    def pv_line(self, m: VmPage) -> int | None:
        """The PV list lock of a page: PHYS_TO_PV_LIST_LOCK, by its 2MB frame."""
        return None if self.private else self.pv_lines[(m.pa >> 9) % NPV_LIST_LOCKS]

    def pt_line(self, pid: int, va: int) -> tuple | None:
        return None if self.private else pt_line(pid, va)

    def object_line(self, obj: VmObject) -> tuple | None:
        """The line of an object's lock word (VM_OBJECT_WLOCK)."""
        return None if self.private else ("vm_object", obj.id)

    # maps
    def map(self, pid: int) -> dict[int, MapEntry]:
        m = self.maps.get(pid)
        if m is None:
            m = self.maps[pid] = {}
        return m

    def lookup(self, pid: int, va: int) -> MapEntry | None:
        e = self.hint.get(pid)
        entries = self.map(pid)
        if e is not None and e.start <= va < e.end and entries.get(e.start) is e:
            return e
        for e in entries.values():
            if e.start <= va < e.end:
                self.hint[pid] = e
                return e
        # A private anonymous mapping gets its entry here at its first fault (mmap1 never
        # pays for one).
        for s, end in self.ranges.get(pid, {}).items():
            if s <= va < end:
                e = entries[s] = MapEntry(s, end, None, 0, False, True)
                self.hint[pid] = e
                return e
        return None

    def trace(self, k: KCtx, t: int, kind: str, m: VmPage | None, text: str,
              va: int = -1) -> None:
        """Log an event for the checker's trace (paths call it only when vm.check is set,
        with t from `yield NOW`)."""
        self.check.event(k, t, kind, m, text, va)




# ------------------------------------------------------------------ where a path runs

def local_vm(td) -> VmState:
    """This CPU's private VM state (a `_processes` task's address space)."""
    vm = td.vm
    if vm is None:
        vm = td.vm = VmState(td.kernel.ids, cpu_base=td.cpu + 1, private=True)
        machine = getattr(td, "machine", None)
        if machine is not None:
            vm.set_machine(machine)
    return vm


def local_ctx(td) -> KCtx:
    k = getattr(td, "_kctx", None)
    if k is None:
        k = td._kctx = KCtx(td.cost, td.cpu, local_vm(td), td=td, rng=td.rng)
    return k




def shared_vm_state(ids) -> VmState:
    """The actor's VM state, made with its KernelState (`ks.vm`): every shared (`_threads`)
    address space, with the pmap and map locks emu.kernel.config.vm_configure named."""
    vm = VmState(ids)
    for pid, (map_lock, pmap_lock) in ids.vm_shared.items():
        vm.pmaps[pid] = Pmap(pid, pmap_lock)
        vm.map_locks[pid] = map_lock
        vm.map(pid)
    return vm


def shared_vm(ks) -> VmState:
    """The actor's VM state: every shared (`_threads`) address space."""
    return ks.vm


