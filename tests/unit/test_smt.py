"""SMT sharing (emu/hw/smt.py): local work runs slower only while a sibling works."""

from __future__ import annotations

from emu.clock.engine import BLOCKED, DONE, RUNNING, STARVED, Engine
from emu.counters import CounterBoard
from emu.hw import smt
from emu.hw.machine import load_machine
from emu.kernel.ops import OP_NOP


def test_siblings_are_the_runs_threads_of_one_core():
    assert smt.siblings(load_machine(), [0, 1, 2]) == {0: [1], 1: [0], 2: []}


def _next_op_time(eng: Engine, th, sibling_state: int) -> int:
    """When th's next operation comes, 1000 local cycles after one that ends at 0."""
    eng.threads[1].state = sibling_state
    th.ops, th.pc = [OP_NOP, 0, 0, OP_NOP, 1000, 0], 0
    eng.heap.clear()
    eng._advance(th, 0)
    return eng.next_event()[0]


def test_a_waiting_sibling_leaves_the_core_to_its_partner():
    eng = Engine([0, 1], CounterBoard(2, 0), period=10**6, boundaries=None, ipi_latency=1,
                 ipi_handler=1, smt_slowdown=1.5, siblings={0: [1], 1: [0]})
    a = eng.threads[0]
    assert _next_op_time(eng, a, RUNNING) == 1500   # both compute: the core is shared
    assert _next_op_time(eng, a, STARVED) == 1500   # (its next batch is on its way)
    assert _next_op_time(eng, a, BLOCKED) == 1000   # it spins on PAUSE or sleeps
    assert _next_op_time(eng, a, DONE) == 1000


def test_a_batch_is_slowed_as_decided_when_the_last_one_ended():
    """A starved CPU's next batch may arrive after its sibling moved on in virtual time:
    the slowdown is the one decided at the batch boundary, so the run stays exact."""
    eng = Engine([0, 1], CounterBoard(2, 0), period=10**6, boundaries=None, ipi_latency=1,
                 ipi_handler=1, smt_slowdown=1.5, siblings={0: [1], 1: [0]})
    a, b = eng.threads[0], eng.threads[1]
    a.ops, a.pc, a.seq = [OP_NOP, 0, 0], 0, 0
    b.state = BLOCKED
    eng._advance(a, 0)                      # the batch ends while b waits
    b.state = RUNNING                       # b goes on before a's next batch arrives
    eng.heap.clear()
    eng.submit(0, 1, 0, [OP_NOP, 1000, 0])
    assert eng.next_event()[0] == 1000
