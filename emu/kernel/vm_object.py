"""VM object termination (sys/vm/vm_object.c: vm_object_terminate_pages, mid-2018).

When munmap drops the last reference to an anonymous object, every resident page is freed
(vm_page_free): out of the object, its queue entry dropped through this CPU's batch
(a deferred dequeue), back to its reservation with the domain's free count incremented
(an atomic on vmd_free_count per page), the reservation's 2 MB back to the buddy queues
under the free lock when its last page goes.  A page the page daemon holds busy is left to
it.

In a private address space the loop is written out here, with one local charge per page
and only the shared operations yielded, so that a 128 MB unmap costs the host two requests
a page; a shared space's objects go through vm_page_free one page at a time.
"""

from __future__ import annotations

from collections.abc import Iterator

from emu.kernel.kthread import SYNC, Cycles, KCtx, Rmw
from emu.kernel.vm_page import PQ_NONE, VM_BATCHQUEUE_SIZE, VmObject, vm_page_free


def vm_object_terminate_pages(k: KCtx, obj: VmObject) -> Iterator:
    """Free every resident page of a dying object."""
    vm, c = k.vm, k.cost
    if not vm.private or vm.check is not None:
        for m in list(obj.pages.values()):
            yield SYNC
            if m.object is not obj:
                continue
            if m.busy is None:
                yield from vm_page_free(k, m)
            else:                      # the page daemon has it: it frees it when done
                m.object = None
                obj.pages.pop(m.pindex, None)
        yield Cycles(c.vm_map_delete)
        return
    rmw = [Rmw(line) for line in vm.vmd.free_count]
    each = c.vm_page_free + c.vm_reserv_free + 2 * c.atomic_local + c.vm_pqbatch_insert
    batch = vm.pqbatch
    for m in list(obj.pages.values()):
        rv = m.rv
        key = (k.cpu, m.domain, m.queue)
        if (rv is None or rv.popcnt == 1 or not rv.queued or m.queue == PQ_NONE
                or batch.get(key, 0) >= VM_BATCHQUEUE_SIZE):
            # A page-queue batch fills, the reservation joins or leaves its domain's
            # partpop queue, or the page is not a reservation's: vm_page_free itself.
            yield from vm_page_free(k, m)
            continue
        batch[key] = batch.get(key, 0) + 1        # vm_page_dequeue_deferred
        m.queue = PQ_NONE
        m.object = None
        m.gen += 1
        m.dirty = m.inactive = False
        m.rv = None
        rv.pages.pop(m.pindex_rv, None)
        rv.popcnt -= 1                            # vm_reserv_free_page
        yield Cycles(each)
        yield rmw[rv.domain]                      # vm_domain_freecnt_inc
    obj.pages.clear()
    yield Cycles(c.vm_map_delete)
