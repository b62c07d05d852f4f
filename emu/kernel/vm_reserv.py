"""Superpage reservations (sys/vm/vm_reserv.c, FreeBSD head mid-2018, after r331369).

vm_page_alloc asks a reservation first: a 2 MB run of physical pages set aside for one
object's 512 pages that share a 2 MB virtual frame (the object is coloured at its first
fault, vm_object_color, so the object's pages line up with the virtual superpages).

* `vm_reserv_extend`: the object already has the reservation: under the reservation's own
  mutex (r331369: "Lock reservations with a dedicated lock in each reservation"), take the
  domain's free count (`vm_domain_allocate`, an atomic on vmd_free_count) and mark the
  page populated.  Per page.
* `vm_reserv_alloc_page`: the first page of a 2 MB frame: a 2^9 block from the buddy
  queues under the domain's free lock ("except where a superpage is allocated from the
  physical layer, which is roughly 1/512 of the operations"), the reservation inserted
  in the object's list under the hashed `vm_reserv_object_lock`.  A frame that does not
  lie wholly inside the object (the ends of a mapping not 2 MB aligned) gets none.
* The domain's queue of partially-populated reservations, under "VM reserv domain"
  (`vm_reserv_domain_lock`): a reservation is moved on it at most once a tick
  (PARTPOPSLOP, 1 ms), and a fault fills a reservation's 512 pages in well under that,
  so it is locked when a reservation joins the queue (new, or its first page freed) and
  when it leaves it (fully populated, or empty).
* `vm_reserv_free_page` (vm_page_free): the page goes back to its reservation, the free
  count up by one (atomic); when its last page is freed its 2 MB go back to the buddy
  queues under the free lock.
* `vm_reserv_level_iffullpop`: every page populated: pmap_enter may promote the frame.

The reservation's mutex and the object's hash lock belong to the object's owner in a
`_processes` testcase (each task has its own objects; docs/fault-path.md): a line no other
CPU holds, priced locally.  In the actor they are lines of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from emu.kernel.kcalls import caller
from emu.kernel.kthread import Cycles, KCtx, Lock, Rmw, Unlock
from emu.kernel.vm_phys import (
    VM_LEVEL_0_ORDER,
    vm_domain_allocate,
    vm_domain_freecnt_inc,
    vm_phys_alloc_pages,
    vm_phys_free_pages,
)

if TYPE_CHECKING:
    from emu.kernel.vm_page import VmObject, VmPage

VM_LEVEL_0_NPAGES = 1 << VM_LEVEL_0_ORDER
VM_RESERV_POPULATE = caller("vm_reserv_populate")
VM_RESERV_DEPOPULATE = caller("vm_reserv_depopulate")
PARTPOPSLOP = 1        # ticks between moves of a reservation on the partpop queue


class VmReserv:
    """struct vm_reserv: the object and 2 MB frame it serves, its populated count."""

    __slots__ = ("id", "object", "first", "domain", "base", "popcnt", "pages", "queued")

    def __init__(self, rid: int, obj: VmObject, first: int, domain: int, base: int) -> None:
        self.id = rid
        self.object = obj
        self.first = first          # the object's pindex of the frame's first page
        self.domain = domain
        self.base = base            # the frame's first physical page number
        self.popcnt = 0
        self.pages: dict[int, VmPage] = {}
        self.queued = False         # on the domain's partpop queue


def vm_reserv_first(obj: VmObject, pindex: int) -> int | None:
    """The pindex where pindex's reservation would begin, or None: the frame would begin
    before the object (pindex < VM_RESERV_INDEX), or end past the end of a vnode's object
    or of one backed by a vnode's (an anonymous object may grow: vm_reserv_alloc_page
    speculates that it will)."""
    first = pindex - ((obj.pg_color + pindex) & (VM_LEVEL_0_NPAGES - 1))
    if first < 0 or pindex >= obj.size:
        return None
    if first + VM_LEVEL_0_NPAGES > obj.size and (obj.type != "anon"    # OBJT_DEFAULT
                                                 or obj.backs_vnode):
        return None
    return first


def vm_reserv_line(k: KCtx, rv: VmReserv) -> tuple | None:
    """The reservation's mutex: the owner's alone in a private address space."""
    return None if k.vm.private else ("vm_reserv", rv.id)


def vm_reserv_extend(k: KCtx, obj: VmObject, pindex: int) -> Iterator:
    """The object's reservation for pindex, if it has one: under the reservation's mutex,
    vm_domain_allocate (an fcmpset of the domain's vmd_free_count).  None: it has none."""
    first = vm_reserv_first(obj, pindex)
    rv = obj.rvs.get(first) if first is not None else None
    if rv is None:
        return None
    c = k.cost
    line = vm_reserv_line(k, rv)
    if line is None:
        yield Cycles(c.vm_reserv_extend + 2 * c.atomic_local)
        yield Rmw(k.vm.vmd.free_count[rv.domain])   # vm_domain_allocate
    else:
        yield Cycles(c.vm_reserv_extend)
        yield Rmw(line)
        yield Rmw(k.vm.vmd.free_count[rv.domain])   # vm_domain_allocate
        yield Rmw(line)
    if rv.popcnt + 1 == VM_LEVEL_0_NPAGES:          # full: leaves the partpop queue
        yield from _partpopq(k, rv)
    return rv


def vm_reserv_alloc_page(k: KCtx, obj: VmObject, pindex: int, d: int) -> Iterator:
    """A new reservation for pindex's 2 MB frame, from domain d's buddy queues; None if the
    frame does not lie inside the object."""
    first = vm_reserv_first(obj, pindex)
    if first is None:
        return None
    yield from vm_domain_allocate(k, d)
    yield from vm_phys_alloc_pages(k, d, VM_LEVEL_0_ORDER)
    base = k.vm.phys.alloc_frame(d)
    rv = obj.rvs[first] = VmReserv(k.vm.next_rv(), obj, first, d, base)
    yield Cycles(k.cost.vm_reserv_alloc)            # vm_reserv_insert, object hash lock
    yield from _partpopq(k, rv)                     # joins the partpop queue
    return rv


def _partpopq(k: KCtx, rv: VmReserv, who: int = VM_RESERV_POPULATE) -> Iterator:
    """Insert rv in, or remove it from, its domain's partpop queue (vm_reserv_populate
    and vm_reserv_depopulate take the domain's lock for it)."""
    lock = k.vm.vmd.reserv_lock[rv.domain]
    yield Lock(lock, who)
    yield Cycles(k.cost.vm_reserv_queue)
    yield Unlock(lock, who)
    rv.queued = not rv.queued


def vm_reserv_free_page(k: KCtx, m: VmPage) -> Iterator:
    """The page goes back to its reservation; the last one takes the 2 MB back to the
    buddy queues."""
    rv = m.rv
    m.rv = None
    rv.pages.pop(m.pindex_rv, None)
    rv.popcnt -= 1
    line = vm_reserv_line(k, rv)
    c = k.cost
    if line is None:
        yield Cycles(c.vm_reserv_free + 2 * c.atomic_local)
    else:
        yield Rmw(line)
        yield Cycles(c.vm_reserv_free)
        yield Rmw(line)
    if rv.queued == (rv.popcnt == 0):               # joins (first free) or leaves (empty)
        yield from _partpopq(k, rv, VM_RESERV_DEPOPULATE)
    yield from vm_domain_freecnt_inc(k, rv.domain)
    if rv.popcnt == 0:
        rv.object.rvs.pop(rv.first, None)
        yield from vm_phys_free_pages(k, rv.domain, VM_LEVEL_0_ORDER)
        k.vm.phys.free_frame(rv.base)


def vm_reserv_level_iffullpop(m: VmPage) -> int:
    """0 if m's reservation is fully populated (a superpage can map it), else -1."""
    rv = m.rv
    return 0 if rv is not None and rv.popcnt == VM_LEVEL_0_NPAGES else -1
