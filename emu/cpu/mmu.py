"""A user-mode load or store, as the MMU sees it: the TLB, else a page walk, else a fault.

A private (`_processes`) address space: the TLB, the page table and vm_fault are all on
this CPU, and nobody else can invalidate its TLB.  A shared (`_threads`) one: another CPU
may shoot this TLB down at any time, so before trusting an entry the CPU syncs with the
actor (`td.sync`: its exact virtual time T, with every invalidation delivered by T
applied); a miss is one kernel call in the actor (VM_ACCESS_K: the walk, and the fault if
it finds no valid PTE) whose value fills the TLB.  The invalidations delivered between the
walk and T are applied after the fill, as the hardware would meet them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emu.kernel.invariant import CHECK_ACCESS
from emu.kernel.pmap import local_pmap
from emu.kernel.run_local import run_local
from emu.kernel.vm_fault import VM_ACCESS_K, vm_access
from emu.kernel.vm_page import PAGE_MASK
from emu.kernel.vm_state import local_ctx

if TYPE_CHECKING:
    from emu.cpu.td import Td
    from emu.kernel.proc import Proc


class SegmentationFault(Exception):
    """An access no mapping allows (the testcase would get SIGSEGV)."""


def user_access(td: Td, p: Proc, va: int, write: bool) -> None:
    va &= ~PAGE_MASK
    tlb = td.tlb
    e = tlb.entries.get(va)
    if p.shared:
        if e is not None:
            td.sync()
            e = tlb.entries.get(va)
            if e is not None and (e[1] or not write):
                if td.kernel.ids.check:
                    td.call(CHECK_ACCESS, va, e[0], e[2], e[3], int(write), e[4])
                return
        r = td.query(VM_ACCESS_K, p.pid, va, int(write))
        if r is None:
            raise SegmentationFault(f"CPU {td.cpu}: no mapping allows access to {va:#x}")
        tlb.deliver(r[4])
        tlb.fill(va, (r[0], r[1], r[2], r[3], r[4]))
        tlb.deliver(td.vtime)
        return
    if e is not None and (e[1] or not write):
        return
    local_pmap(local_ctx(td), p)
    r = run_local(td, vm_access(local_ctx(td), p.pid, va, int(write)))
    if r is None:
        raise SegmentationFault(f"CPU {td.cpu}: no mapping allows access to {va:#x}")
    tlb.fill(va, (r[0], r[1], r[2], r[3], 0))
