"""The virtual-time engine alone (emu/clock/engine.py), driven directly: no process, no socket.

A fake kernel state stands in for emu/kernel/state.py; batches hold NOP operations, whose
only effect is time.  A batch's DONE (`reply`) is recorded, so the replies' order is the
order in which the engine processed the batches' last operations.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from emu.clock.engine import STARVED, Engine
from emu.counters import CounterBoard
from emu.kernel.ops import OP_NOP
from emu.protocol import ProtocolError

LATENCY = 100  # ipi_latency
HANDLER = 10   # ipi_handler
FAR = 10**9    # a lookahead no test reaches


class Harness:
    def __init__(self, ncpus: int, **kw) -> None:
        self.board = CounterBoard(ncpus, 0)
        kw = {"period": 10**6, "boundaries": None, "ipi_latency": LATENCY,
              "ipi_handler": HANDLER, **kw}
        self.eng = Engine(list(range(ncpus)), self.board, **kw)
        self.eng.attach(SimpleNamespace(events=0, locks=[], sim=None))
        self.replies: list[tuple[int, int, int, bool]] = []
        self.interrupts: list[tuple] = []
        self.eng.reply = lambda cpu, seq, t, stopped: self.replies.append((cpu, seq, t, stopped))
        self.eng.interrupt = lambda *a: self.interrupts.append(a)

    def batch(self, cpu: int, seq: int, lookahead: int, *pres: int) -> None:
        ops = []
        for pre in pres:
            ops += [OP_NOP, pre, 0]
        self.eng.submit(cpu, seq, lookahead, ops)

    def close(self) -> None:
        self.board.close()


@pytest.fixture
def h2():
    h = Harness(2)
    yield h
    h.close()


@pytest.fixture
def h3():
    h = Harness(3)
    yield h
    h.close()


def test_an_event_waits_while_a_starved_cpu_could_send_an_earlier_one(h2):
    eng = h2.eng
    h2.batch(0, 0, 500, 1000)  # CPU 0: an op at 1000, then nothing before 1000 + 500
    eng.run()
    assert h2.replies == [] and eng.horizon() == (0, 1)  # CPU 1 has sent nothing yet
    h2.batch(1, 0, 0, 2000)
    eng.run()
    # CPU 0's batch ends at 1000; it may send again at 1500, before CPU 1's op at 2000.
    assert h2.replies == [(0, 0, 1000, False)]
    assert eng.horizon() == (1500, 0)
    assert eng.threads[0].state == STARVED
    h2.batch(0, 1, FAR, 600)  # its next op, at 1600: still before 2000
    eng.run()
    assert h2.replies == [(0, 0, 1000, False), (0, 1, 1600, False), (1, 0, 2000, False)]


def test_the_horizon_is_the_last_batch_end_plus_the_declared_lookahead(h2):
    eng = h2.eng
    h2.batch(0, 0, 700, 300, 200)  # two ops: the batch ends at 500
    h2.batch(1, 0, FAR, 5000)
    eng.run()
    assert h2.replies == [(0, 0, 500, False)]
    assert eng.horizon() == (500 + 700, 0)


def test_a_tie_with_the_horizon_waits_for_the_lower_cpu(h2):
    """(vtime, cpu) is the order: CPU 1's op at exactly CPU 0's bound waits for CPU 0."""
    eng = h2.eng
    h2.batch(0, 0, 1000, 500)  # bound: 1500
    h2.batch(1, 0, FAR, 1500)
    eng.run()
    assert h2.replies == [(0, 0, 500, False)] and eng.horizon() == (1500, 0)
    h2.batch(0, 1, FAR, 1000)  # CPU 0's next op also at 1500: it goes first
    eng.run()
    assert h2.replies[1:] == [(0, 1, 1500, False), (1, 0, 1500, False)]


def test_a_higher_cpus_bound_lets_the_lower_cpus_tie_through(h2):
    eng = h2.eng
    h2.batch(1, 0, 1000, 500)  # CPU 1's bound: 1500
    h2.batch(0, 0, FAR, 1500)  # CPU 0's op at 1500 orders before anything CPU 1 sends then
    eng.run()
    assert h2.replies == [(1, 0, 500, False), (0, 0, 1500, False)]


def test_ties_order_by_cpu_whatever_the_arrival_order(h3):
    for cpu in (2, 0, 1):
        h3.batch(cpu, 0, FAR, 1000)
    h3.eng.run()
    assert [r[0] for r in h3.replies] == [0, 1, 2]
    assert {r[2] for r in h3.replies} == {1000}


def test_ops_within_a_batch_and_across_cpus_interleave_in_time_order(h2):
    h2.batch(0, 0, FAR, 100, 100, 100)  # ends at 300
    h2.batch(1, 0, FAR, 250)            # ends at 250
    h2.eng.run()
    assert h2.replies == [(1, 0, 250, False), (0, 0, 300, False)]


def test_an_op_sooner_than_the_declared_lookahead_is_a_protocol_error(h2):
    eng = h2.eng
    h2.batch(1, 0, FAR, 10**6)
    h2.batch(0, 0, 500, 100)
    eng.run()
    with pytest.raises(ProtocolError, match="declared lookahead 500"):
        h2.batch(0, 1, 0, 499)


def test_an_op_exactly_at_the_declared_lookahead_is_fine(h2):
    eng = h2.eng
    h2.batch(1, 0, FAR, 10**6)
    h2.batch(0, 0, 500, 100)
    eng.run()
    h2.batch(0, 1, 0, 500)
    eng.run()
    assert h2.replies == [(0, 0, 100, False), (0, 1, 600, False)]


def test_a_queued_batch_is_checked_against_the_lookahead_when_it_starts(h2):
    eng = h2.eng
    h2.batch(1, 0, FAR, 10**6)
    h2.batch(0, 0, 500, 100)
    h2.batch(0, 1, 0, 10)  # queued behind the first: it starts when that one ends
    with pytest.raises(ProtocolError, match="lookahead"):
        eng.run()


def test_an_unacknowledged_interrupt_bounds_the_horizon_at_its_delivery(h2):
    eng, th0 = h2.eng, h2.eng.threads[0]
    resumed: list[int] = []
    th0.on_resume = resumed.append  # a kernel path waiting for the ACK (its continuation)
    h2.batch(1, 0, FAR, 5000)
    h2.batch(0, 0, FAR, 50)
    eng.at(100, 0, lambda t: eng.ipi(th0, t, [1], 7, 0, 0))
    eng.run()
    assert h2.interrupts == [(1, 100 + LATENCY, 7, 0, 0, 0)]
    # CPU 1's op at 5000 must wait: the interrupt reaches CPU 1 at 200, before it.
    assert h2.replies == [(0, 0, 50, False)]
    assert eng.horizon() == (100 + LATENCY, 1)
    with pytest.raises(ProtocolError, match="no interrupt pending"):
        eng.ack(1, 100 + LATENCY - 1, HANDLER)  # an ACK before the delivery
    eng.ack(1, 100 + LATENCY + HANDLER, HANDLER)
    eng.run()
    assert resumed == [100 + LATENCY + HANDLER]
    # The handler's cycles are stolen from CPU 1's stream.
    assert h2.replies[-1] == (1, 0, 5000 + HANDLER, False)


def test_an_interrupt_bound_ties_by_cpu(h3):
    """An interrupt to CPU 1 delivered at 200 holds CPU 2's op at 200, not CPU 0's."""
    eng, th0 = h3.eng, h3.eng.threads[0]
    th0.on_resume = lambda t: None
    eng.at(100, 0, lambda t: eng.ipi(th0, t, [1], 7, 0, 0))
    h3.batch(1, 0, FAR, 10**6)
    h3.batch(2, 0, FAR, 100 + LATENCY)
    h3.batch(0, 0, FAR, 100 + LATENCY)
    eng.run()
    assert h3.replies == [(0, 0, 100 + LATENCY, False)]
    assert eng.horizon() == (100 + LATENCY, 1)


def test_an_ack_from_a_cpu_with_nothing_pending_is_a_protocol_error(h2):
    with pytest.raises(ProtocolError):
        h2.eng.ack(1, 0, HANDLER)


def test_a_batch_from_a_cpu_not_in_the_run_is_a_protocol_error(h2):
    with pytest.raises(ProtocolError, match="not in this run"):
        h2.batch(5, 0, 0, 10)


def test_the_run_ends_at_its_last_boundary():
    h = Harness(1, period=1000, boundaries=2)
    try:
        h.batch(0, 0, 0, 1500)
        h.batch(0, 1, 0, 1000)  # at 2500: past the end (2 x 1000)
        h.eng.run()
        assert h.replies == [(0, 0, 1500, False), (0, 1, 2500, True)]
        assert h.eng.finished
        h.batch(0, 2, 0, 10)  # a finished CPU's batch is answered "stopped" at once
        assert h.replies[-1] == (0, 2, 2500, True)
    finally:
        h.close()
