"""TLB invalidation and shootdown (amd64 pmap.c pmap_invalidate_*, mp_x86.c
smp_targeted_tlb_shootdown, FreeBSD head 2018).

pmap_invalidate_page/range/all invalidate on this CPU, then ask every other CPU in the
pmap's pm_active to do the same.  smp_targeted_tlb_shootdown drops this CPU from the mask
and returns if nothing is left; else it takes the global smp_ipi_mtx spin lock (one
shootdown at a time in the whole machine: parallel shootdowns came only in 2020), publishes
the addresses and ++smp_tlb_generation, sends one IPI per target and spins until every
target's pc_smp_tlb_done equals the generation (each target's ACK), then unlocks.  A range
of PMAP_INVLPG_THRESHOLD (4096 pages) or more becomes a full flush.
"""

from __future__ import annotations

from collections.abc import Iterator

from emu.hw.tlb import IPI_INVLPG, IPI_INVLRNG, IPI_INVLTLB
from emu.kernel.kcalls import caller
from emu.kernel.kthread import NOW, Ipi, KCtx, Lock, Unlock, Write

SHOOTDOWN = caller("smp_targeted_tlb_shootdown")


def smp_targeted_tlb_shootdown(k: KCtx, mask: set[int], vector: int, a1: int, a2: int
                               ) -> Iterator:
    if not mask:
        return
    vm = k.vm
    yield Lock(vm.smp_ipi_mtx, SHOOTDOWN)
    yield Write(vm.smp_tlb_line)   # smp_tlb_addr1/2, smp_tlb_pmap, ++smp_tlb_generation
    targets = tuple(sorted(mask))
    k.ks.sim.count_shootdown(k.th)
    if vm.check is not None:
        t = yield NOW
        first = t + getattr(k.ks.sim, "ipi_latency", 0)
        vm.trace(k, t, "shootdown", None,
                 f"smp_targeted_tlb_shootdown: {_VECTOR[vector]} {_range(vector, a1, a2)}, "
                 f"IPIs to CPUs {list(targets)} (delivered from {first} on)", a1)
    yield Ipi(targets, vector, a1, a2)  # ... and spin until every ACK is in
    if vm.check is not None:
        vm.trace(k, (yield NOW), "acked", None,
                 f"every target acknowledged ({list(targets)})", a1)
    yield Unlock(vm.smp_ipi_mtx, SHOOTDOWN)


_VECTOR = {IPI_INVLPG: "invlpg", IPI_INVLRNG: "invlrng", IPI_INVLTLB: "invltlb"}


def _range(vector: int, a1: int, a2: int) -> str:
    return "all" if vector == IPI_INVLTLB else f"{a1:#x}-{a2:#x}"












