"""The physical memory's domains: struct vm_domain (sys/vm/vm_pagequeue.h), its free count
and free queues (sys/vm/vm_page.c vm_domain_allocate, vm_domain_freecnt_inc; vm_phys.c).

FreeBSD head, mid-2018 (docs/fault-path.md §"The 2018 fault path", facts from r331369,
r331863, r332974):

* Each domain has a free count, `vmd_free_count`, on a line of its own, changed with
  atomics by every CPU allocating or freeing a page of the domain (r331369: "Protect the
  vmd_free_count with atomics"): `vm_domain_allocate` is an fcmpset loop, one per page a
  reservation hands out (and one per bucket the page cache imports);
  `vm_domain_freecnt_inc` an atomic add, one per page freed.
* The buddy queues (vm_phys) under the domain's "vm page free queue" mutex
  (`vm_domain_free_lock`): taken for a reservation's 2 MB (1 in 512 pages), a page
  without an object (a page-table page, a PV chunk), a page-cache bucket import or
  release, and a reservation's return to the buddy queues.
* Its page queues (inactive, active, laundry), each under its own mutex ("vm active
  pagequeue", ...), reached through per-CPU batches (vm_page.py: vm_pqbatch_submit_page).
* The reservations' partially-populated queue under "VM reserv domain"
  (`vm_reserv_domain_lock`, vm_reserv.py).

How many domains: the preset's `vm_ndomains`.  A kernel built without `options NUMA`
(amd64 GENERIC until r338602, Sept 2018) has one, over every socket's DRAM, whatever the
SRAT says (vm_phys.c: `vm_ndomains = 1`).  With NUMA there is one per socket (the SRAT's
proximity domains), each CPU allocating from its own socket's first: first-touch, later
kernels' default (2018's was round-robin, not modelled).  These structures
are shared by every CPU of the domain in every testcase: their locks and lines are the
actor's, named here (`vm_phys_configure`) before the CPUs are forked.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING

from emu.kernel.kcalls import caller
from emu.kernel.kthread import Cycles, KCtx, Lock, Rmw, Unlock

if TYPE_CHECKING:
    from emu.kernel.config import KernelConfig

MAXMEMDOM = 8          # sys/amd64/include/param.h (MAXMEMDOM with options NUMA)
PQ_INACTIVE, PQ_ACTIVE, PQ_LAUNDRY = 0, 1, 2
PQ_COUNT = 3
PQ_LOCK_NAMES = ("vm inactive pagequeue", "vm active pagequeue", "vm laundry pagequeue")
VM_LEVEL_0_ORDER = 9   # a reservation: 2^9 pages, 2 MB (amd64 vmparam.h)

VM_DOMAIN_FREE = caller("vm_domain_free_lock")
VM_PHYS_ALLOC = caller("vm_phys_alloc_pages")
VM_PHYS_FREE = caller("vm_phys_free_pages")


def _named(base: str, d: int) -> str:
    """FreeBSD gives every domain's mutex one name; lockstat tells them apart by address,
    emu by the domain after the name (domain 0 keeps the bare name)."""
    return base if d == 0 else f"{base} (domain {d})"


def vm_phys_configure(kc: KernelConfig) -> SimpleNamespace:
    """Every domain's locks and lines (MAXMEMDOM of them: a run uses those its preset has).
    Returns them as `kc.ids.vmd`, by domain."""
    ids = kc.ids
    vmd = SimpleNamespace(free_lock=[ids.vm_free_lock], free_count=[], pq_lock=[],
                          reserv_lock=[])
    for d in range(MAXMEMDOM):
        if d:
            vmd.free_lock.append(kc.add_lock(_named("vm page free queue", d)))
        vmd.free_count.append(kc.lines.add(_named("vmd_free_count", d)))
        vmd.pq_lock.append([kc.add_lock(_named(name, d)) for name in PQ_LOCK_NAMES])
        vmd.reserv_lock.append(kc.add_lock(_named("VM reserv domain", d)))
    for lock in (*vmd.free_lock, *vmd.reserv_lock, *(q for d in vmd.pq_lock for q in d)):
        kc.lock_line(lock)
    ids.vmd = vmd
    return vmd


def domains(machine) -> tuple[int, list[int]]:
    """(vm_ndomains, the socket whose DRAM holds each domain's pages) of a machine preset.

    A domain over several sockets hands out its lowest physical addresses first: the boot
    frees its segments in address order (vm_page_startup), vm_phys_free_pages queues a
    freed block at the tail of its free list, and vm_phys_alloc_domain_pages takes the
    head and queues a split's upper halves at the head.  So from boot a benchmark's pages
    lie in the domain's first socket's DRAM (socket 0's: the lowest addresses), while it
    has room."""
    n = int(machine.costs.get("vm_ndomains", 1))   # the kernel's: no options NUMA, one
    n = max(1, min(n, MAXMEMDOM))
    return n, [d * machine.sockets // n for d in range(n)]


def domain_of_cpu(machine, cpu: int) -> int:
    """The domain a CPU allocates from first: its socket's (one domain per socket), or the
    one domain there is."""
    n, _ = domains(machine)
    per_socket = machine.cores_per_socket * machine.threads_per_core
    return (cpu // per_socket) * n // machine.sockets


# ------------------------------------------------------------------ the paths

def vm_domain_allocate(k: KCtx, d: int, npages: int = 1) -> Iterator:
    """Take npages off the domain's free count: an fcmpset of vmd_free_count."""
    yield Rmw(k.vm.vmd.free_count[d])


def vm_domain_freecnt_inc(k: KCtx, d: int, npages: int = 1) -> Iterator:
    """Give npages back: atomic_fetchadd_int(&vmd->vmd_free_count, npages)."""
    yield Rmw(k.vm.vmd.free_count[d])


def vm_phys_alloc_pages(k: KCtx, d: int, order: int) -> Iterator:
    """A block of 2^order pages from the domain's buddy queues, under its free lock."""
    lock = k.vm.vmd.free_lock[d]
    yield Lock(lock, VM_PHYS_ALLOC)
    yield Cycles(k.cost.vm_phys_alloc)
    yield Unlock(lock, VM_PHYS_ALLOC)


def vm_phys_free_pages(k: KCtx, d: int, order: int) -> Iterator:
    """A block back to the buddy queues (coalescing with its buddies), under the lock."""
    lock = k.vm.vmd.free_lock[d]
    yield Lock(lock, VM_PHYS_FREE)
    yield Cycles(k.cost.vm_phys_free)
    yield Unlock(lock, VM_PHYS_FREE)
