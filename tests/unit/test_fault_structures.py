"""The 2018 fault path's structures, each on its own (emu/kernel/vm_page.py, vm_reserv.py,
vm_phys.py, pmap.py, vm_fault.py): what a path takes, counted from the operations a CPU
records.  Per-CPU structures cost no shared operation; shared ones cost exactly the
FreeBSD kernel's acquisitions."""

from __future__ import annotations

from collections import Counter

from emu.cpu.td import Td
from emu.hw.coherence import Coherence
from emu.hw.machine import load_machine
from emu.kernel.config import build_kernel
from emu.kernel.kcalls import unpack_lock
from emu.kernel.kthread import KCtx, Rmw
from emu.kernel.ops import OP_ATOMIC, OP_LOCK
from emu.kernel.pmap import NPCPV, Pmap, pmap_enter
from emu.kernel.run_local import run_local
from emu.kernel.vm_fault import _object_lock
from emu.kernel.vm_page import (
    BUCKET,
    OBJT_DEFAULT,
    VM_BATCHQUEUE_SIZE,
    vm_object_color,
    vm_page_activate,
    vm_page_alloc,
)
from emu.kernel.vm_reserv import VM_LEVEL_0_NPAGES
from emu.kernel.vm_state import VmState, local_ctx


class Recorder(Td):
    """A CPU that keeps its operations instead of sending them."""

    def __init__(self, kc) -> None:
        super().__init__(0, 0, load_machine(), kc, 1)
        self.ops: list[tuple[int, int]] = []

    def cycles(self, n: int) -> None:
        pass

    def _op(self, op: int, arg: int) -> None:
        self.ops.append((op, arg))


def cpu():
    kc = build_kernel("processes", [0])
    td = Recorder(kc)
    return kc, td, local_ctx(td)


def locks(kc, ops) -> Counter:
    return Counter(kc.locks.names[unpack_lock(a)[0]] for op, a in ops if op == OP_LOCK)


def atomics(kc, ops) -> Counter:
    return Counter(kc.lines.names[a] for op, a in ops if op == OP_ATOMIC)


def alloc(td, k, obj, pindexes) -> None:
    for i in pindexes:
        assert run_local(td, vm_page_alloc(k, obj, i)) is not None


def test_a_reservation_takes_the_free_lock_once_per_2mb_and_the_free_count_per_page():
    kc, td, k = cpu()
    obj = k.vm.new_object(OBJT_DEFAULT, 2 * VM_LEVEL_0_NPAGES)
    vm_object_color(obj, 0)
    alloc(td, k, obj, range(VM_LEVEL_0_NPAGES))
    assert locks(kc, td.ops) == {"vm page free queue": 1, "VM reserv domain": 2}
    assert atomics(kc, td.ops) == {"vmd_free_count": VM_LEVEL_0_NPAGES}
    assert {m.rv.base for m in obj.pages.values()} == {next(iter(obj.pages.values())).rv.base}


def test_a_per_cpu_page_cache_hit_takes_no_global_lock():
    kc, td, k = cpu()
    obj = k.vm.new_object(OBJT_DEFAULT, 64)      # too small for a reservation: the pgcache
    alloc(td, k, obj, [0])
    assert locks(kc, td.ops) == {"vm page free queue": 1}    # the bucket's import
    assert atomics(kc, td.ops) == {"vmd_free_count": 1}      # one for the whole bucket
    td.ops.clear()
    big = k.vm.new_object(OBJT_DEFAULT, 4096)
    alloc(td, k, big, range(1, BUCKET))                      # uncoloured: the same bucket
    assert td.ops == []                                      # no shared operation at all


def test_page_queue_operations_take_the_queue_lock_once_per_batch():
    kc, td, k = cpu()
    obj = k.vm.new_object(OBJT_DEFAULT, 4096)
    alloc(td, k, obj, range(VM_BATCHQUEUE_SIZE + 1))
    td.ops.clear()
    pages = list(obj.pages.values())
    for m in pages[:VM_BATCHQUEUE_SIZE]:
        run_local(td, vm_page_activate(k, m))
    assert td.ops == []                                      # the per-CPU batch
    run_local(td, vm_page_activate(k, pages[VM_BATCHQUEUE_SIZE]))
    assert locks(kc, td.ops) == {"vm active pagequeue": 1}


def test_pv_chunks_take_the_global_mutex_once_per_chunk():
    kc, td, k = cpu()
    obj = k.vm.new_object(OBJT_DEFAULT, 4096)
    alloc(td, k, obj, range(NPCPV + 1))
    pmap = k.vm.pmaps[100] = Pmap(100, None)
    td.ops.clear()
    for i, m in enumerate(list(obj.pages.values())[:NPCPV]):
        run_local(td, pmap_enter(k, pmap, (1 << 30) + i * 4096, m, True, True))
    assert locks(kc, td.ops)["pmap pv chunk list"] == 1
    run_local(td, pmap_enter(k, pmap, (1 << 30) + NPCPV * 4096, obj.pages[NPCPV], True, True))
    assert locks(kc, td.ops)["pmap pv chunk list"] == 2


def test_an_object_lock_is_a_line_when_shared():
    kc, td, k = cpu()
    assert k.vm.object_line(k.vm.new_object(OBJT_DEFAULT, 16)) is None
    shared = VmState(kc.ids)
    sk = KCtx(k.cost, 0, shared)
    sobj = shared.new_object(OBJT_DEFAULT, 16)
    assert list(_object_lock(sk, sobj, 1)) == [Rmw(("vm_object", sobj.id))] * 2


def test_a_shared_object_lock_serialises_faults_on_it():
    """Two CPUs taking one object's lock word at once are served one after the other; on
    two objects, both at once."""
    kc = build_kernel("threads", [0, 2])
    shared = VmState(kc.ids)
    a, b = shared.new_object(OBJT_DEFAULT, 16), shared.new_object(OBJT_DEFAULT, 16)
    [la] = {r.line for r in _object_lock(KCtx(None, 0, shared), a, 1)}
    [lb] = {r.line for r in _object_lock(KCtx(None, 0, shared), b, 1)}
    assert la != lb

    def coh():
        return Coherence([[0, 105], [105, 0]], hit=4, atomic=20, memory=190)

    one = coh()
    one.rmw(la, 0, 0)
    one.rmw(la, 1, 0)                       # (CPU index 1: the other core)
    t0, t1 = one.rmw(la, 0, 1000), one.rmw(la, 1, 1000)
    two = coh()
    two.rmw(la, 0, 0)
    two.rmw(lb, 1, 0)
    u0, u1 = two.rmw(la, 0, 1000), two.rmw(lb, 1, 1000)
    assert t1 > t0 and t1 - 1000 > u1 - 1000     # the second waits for the first
    assert u0 == u1 < 1000 + 105                 # different objects: in their caches, at once
