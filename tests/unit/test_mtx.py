"""The kernel mutex and cache-line models in isolation (emu/kernel/mtx.py, coherence.py)."""

from __future__ import annotations

import heapq
from types import SimpleNamespace

from emu.hw.coherence import Coherence
from emu.hw.machine import cost_table, load_machine
from emu.hw.topology import HOME_SOCKET, Topology
from emu.kernel.mtx import BLOCK, CONT, PAUSE, SPIN, Mtx, lock_delay_max
from emu.kernel.thread import ModelThread
from emu.run import build_spec

MACHINE = load_machine()
COST = cost_table(MACHINE)
TOPO = Topology.of(MACHINE)
TABLE = [[{0: 0, 1: COST.line_smt_sibling, 2: COST.line_same_socket,
           3: COST.line_other_socket}[TOPO.distance(a, b)] for b in range(96)]
         for a in range(96)]


class Sim:
    """The smallest sequencer the kernel model needs: at() and resume()."""

    def __init__(self) -> None:
        self.events: list = []
        self.n = 0
        self.resumed: list[tuple[int, int]] = []

    def at(self, t: int, cpu: int, fn) -> None:
        self.n += 1
        heapq.heappush(self.events, (t, cpu, self.n, fn))

    def resume(self, th, t: int) -> None:
        self.resumed.append((th.cpu, t))

    def run(self, until: float = float("inf")) -> None:
        while self.events and self.events[0][0] <= until:
            t, _, _, fn = heapq.heappop(self.events)
            fn(t)


def kernel(spin: bool = False):
    sim = Sim()
    coh = Coherence(TABLE, hit=COST.l1_hit, atomic=COST.atomic_local, memory=COST.dram)
    ks = SimpleNamespace(cost=COST, transfer=TABLE, coh=coh, sim=sim, lock_lines=[0])
    return ks, Mtx(ks, "test_mtx", 0, spin=spin)


def cpu(n: int) -> ModelThread:
    return ModelThread(n, 0)   # on its CPU, holding nothing, no store pending


def test_extremes_of_holds_and_of_contended_waits():
    from emu.counters import LOCK_FIELDS

    ks, m = kernel()
    a, b = cpu(0), cpu(2)
    t = m.acquire(a, 0, 0)
    m.release(a, t + 100)                   # a hold of 100 cycles, uncontended
    t = m.acquire(a, t + 200, 0)
    assert m.acquire(b, t + 10, 0) is None
    ks.sim.run(until=t + 500)
    m.release(a, t + 500)                   # a hold of 500; b waits for it
    ks.sim.run()
    (_, when), = ks.sim.resumed
    s = dict(zip(LOCK_FIELDS, m.stats, strict=False))
    assert (s["hold_min_cycles"], s["hold_max_cycles"]) == (100, 500)
    assert s["wait_min_cycles"] == s["wait_max_cycles"] == when - (t + 10)


def test_lock_delay_cap_is_freebsds():
    assert lock_delay_max(96) == 32678      # roundup2(96) * 256 = 32768, capped (sic)
    assert lock_delay_max(8) == 16 * 256


def test_uncontended_lock_is_one_cas():
    ks, m = kernel()
    a = cpu(0)
    t = m.acquire(a, 1000, 0)
    assert t == 1000 + COST.dram + COST.atomic_local  # first touch comes from memory
    t2 = m.release(a, t + 50)
    assert t2 == t + 50 + COST.l1_hit + COST.atomic_local  # the line is already ours
    assert m.owner is None and m.stats[CONT] == 0


def test_waiter_gets_the_lock_after_release_and_spin_is_counted():
    ks, m = kernel()
    a, b = cpu(0), cpu(2)
    t = m.acquire(a, 0, 0)
    assert m.acquire(b, 10, 0) is None
    ks.sim.run(until=t + 1000)      # b's fcmpset lands and fails: it spins
    assert m.stats[CONT] == 1 and m.nspinning == 1
    m.release(a, t + 1000)
    ks.sim.run()
    (who, when), = ks.sim.resumed
    assert who == 2 and when > t + 1000
    assert m.owner is b and m.stats[SPIN] == when - 10


def test_spin_counts_lock_delays_pauses_apart_from_the_spinners_misses():
    ks, m = kernel()
    a, b = cpu(0), cpu(2)
    t = m.acquire(a, 0, 0)
    m.acquire(b, 10, 0)
    ks.sim.run(until=t + 5000)
    _, _, _, sp = m.spinners[0]
    m.release(a, t + 5000)
    ks.sim.run()
    rounds = sp.delay.bit_length() - 1      # 2, 4, ... delay PAUSEs
    assert m.stats[PAUSE] == COST.pause * (2 * sp.delay - 2) > 0
    # The rest is the spinner's own: its re-reads' hits, and the misses of its failed
    # fast-path fcmpset, the re-read that saw the word free and the fcmpset that won.
    assert m.stats[SPIN] - m.stats[PAUSE] >= rounds * COST.l1_hit + 3 * COST.line_same_socket


def test_backoff_doubles_in_pauses():
    ks, m = kernel()
    a, b = cpu(0), cpu(2)
    m.acquire(a, 0, 0)
    m.acquire(b, 0, 0)
    ks.sim.run(until=1000)
    _, _, _, sp = m.spinners[0]
    first = sp.next_check
    m._round(sp)
    assert sp.next_check - first == 4 * COST.pause + COST.l1_hit   # 2, then 4 PAUSEs
    for _ in range(30):
        m._round(sp)
    assert sp.delay == lock_delay_max(96)


def test_nearer_spinner_wins_the_race():
    """Two spinners started together: the releaser's SMT sibling beats the other socket."""
    wins = {1: 0, 49: 0}
    for skew in range(0, 400, 20):
        ks, m = kernel()
        owner, sibling, far = cpu(0), cpu(1), cpu(49)
        t = m.acquire(owner, 0, 0)
        m.acquire(sibling, 100, 0)
        m.acquire(far, 100 + skew, 0)
        ks.sim.run(until=t + 5000)
        m.release(owner, t + 5000)
        ks.sim.run()
        wins[ks.sim.resumed[0][0]] += 1
    assert wins[1] > wins[49]


def test_owner_off_cpu_sends_waiters_to_the_turnstile_and_release_wakes_all():
    ks, m = kernel()
    owner, w1, w2 = cpu(0), cpu(2), cpu(4)
    m.acquire(owner, 0, 0)
    m.acquire(w1, 10, 0)
    m.acquire(w2, 20, 0)
    ks.sim.run(until=1000)          # their fcmpsets land and fail
    owner.offcpu = True
    m.owner_off_cpu(1000)
    assert len(m.blocked) == 2 and m.nspinning == 0
    m.release(owner, 50_000)
    ks.sim.run()
    assert len(ks.sim.resumed) == 1          # one wins the race; the other spins again
    assert m.stats[BLOCK] > 0 and not m.blocked


def test_spin_mutex_never_blocks():
    ks, m = kernel(spin=True)
    owner, w = cpu(0), cpu(2)
    m.acquire(owner, 0, 0)
    m.acquire(w, 10, 0)
    ks.sim.run(until=1000)          # their fcmpsets land and fail
    owner.offcpu = True
    m.owner_off_cpu(1000)
    assert not m.blocked and m.nspinning == 1


def test_spin_mutex_release_is_a_store_the_cpu_does_not_wait_for():
    """__mtx_unlock_spin frees the word with a plain store-release: the releaser goes on at
    once, the word is free once the store has the line (a spinner took it away to read it),
    and the releaser's next locked instruction waits for the store (x86 TSO)."""
    ks, m = kernel(spin=True)
    a, w = cpu(0), cpu(50)                   # the waiter is on the other socket
    t = m.acquire(a, 0, 0)
    m.acquire(w, t + 10, 0)
    ks.sim.run(until=t + 2000)               # its fcmpset lands and fails: it spins, and
    assert m.line.owner == 50 and m.nspinning == 1  # took the word's line with it
    assert m.release(a, t + 2000) == t + 2000
    freed = a.drain
    assert freed == t + 2000 + COST.line_other_socket  # the store's RFO brings the line back
    ks.sim.run()
    (who, when), = ks.sim.resumed
    assert who == 50 and when > freed and m.owner is w
    assert ks.coh.drained(a, t + 2001) == freed  # a's next lock cmpxchg waits for the store
    # Stores leave the store buffer in order: with one still on its way, the spinner sees
    # the word free only after it.
    got = []
    for pending in (0, 3000):
        ks, m = kernel(spin=True)
        a, w = cpu(0), cpu(2)
        t = m.acquire(a, 0, 0)
        m.acquire(w, t + 10, 0)
        ks.sim.run(until=t + 2000)
        a.drain = t + 2000 + pending
        assert m.release(a, t + 2000) == t + 2000
        ks.sim.run()
        got.append(ks.sim.resumed[0][1] - (t + 2000))
    assert got[0] < 3000 < got[1]
    # A sleep mutex's release is a cmpxchg: the CPU waits for it.
    ks, m = kernel()
    t = m.acquire(a, 0, 0)
    assert m.release(a, t + 50) == t + 50 + COST.l1_hit + COST.atomic_local


def test_cache_line_costs_by_distance_and_serialise():
    coh = Coherence(TABLE, hit=4, atomic=20, memory=190)
    assert coh.rmw("x", 0, 0) == 190 + 20
    assert coh.rmw("x", 1, 1000) == 1000 + COST.line_smt_sibling + 20
    assert coh.rmw("x", 2, 2000) == 2000 + COST.line_same_socket + 20
    assert coh.rmw("x", 50, 3000) == 3000 + COST.line_other_socket + 20
    # Two CPUs hitting one line at the same moment: the second waits for the first, and
    # is handed the line two legs of three (the snoop, the data) after the first is done
    # with it: its request has already reached the home agent.
    a = coh.rmw("y", 0, 0)
    b = coh.rmw("y", 2, 0)
    assert b == a + (2 * COST.line_same_socket + 2) // 3 + 20
    # A request that finds the line idle pays the whole miss.
    assert coh.rmw("y", 50, b + 1000) == b + 1000 + COST.line_other_socket + 20
    # Readers share it; the next write must invalidate the farthest one.
    coh.write("z", 0, 0)
    coh.read("z", 2, 1000)
    coh.read("z", 50, 2000)
    done = coh.write("z", 0, 5000)
    assert done == 5000 + COST.line_other_socket


def test_a_line_crossing_into_its_home_socket_pays_the_directory_lookup():
    """Skylake-SP's memory directory: across sockets a line costs line_other_socket to a
    CPU off its home socket and line_other_socket_to_home to one on it (Intel MLC's remote
    HITM, homed in the writer's and in the reader's socket).  A write's invalidation of a
    sharer is priced the same way, from the sharer's cache to the writer."""
    table = build_spec("mmap1_processes", 96, 1, False, False, "skylake-2s", "virtual", 0,
                       "2ms", 0).transfer_table()
    home, far = 0, 50  # emu homes kernel memory on socket 0 (emu.hw.topology.HOME_SOCKET)
    assert HOME_SOCKET == TOPO.socket_of(home) != TOPO.socket_of(far)
    assert table[home][far] == COST.line_other_socket < COST.line_other_socket_to_home
    assert table[far][home] == COST.line_other_socket_to_home
    assert table[far][60] == table[60][far] == COST.line_same_socket
    assert table[far][far ^ 1] == COST.line_smt_sibling
    coh = Coherence(table, hit=4, atomic=20, memory=190)
    coh.write("x", far, 0)
    assert coh.read("x", home, 1000) == 1000 + COST.line_other_socket_to_home
    assert coh.rmw("x", far, 5000) == 5000 + COST.line_other_socket + 20
    coh.write("z", home, 0)
    coh.read("z", far, 1000)
    assert coh.write("z", home, 5000) == 5000 + COST.line_other_socket_to_home


def test_newcomer_fcmpset_is_decided_when_it_lands():
    """The first fcmpset to reach the word wins, not the first issued: after a release on
    socket 0, a newcomer on the same socket beats one on the other socket that tried a
    little earlier."""
    ks, m = kernel()
    owner, near, far = cpu(0), cpu(2), cpu(50)
    t = m.acquire(owner, 0, 0)
    rel = m.release(owner, t + 1000)
    assert m.acquire(far, rel + 10, 0) is None      # issued first, one socket away
    assert m.acquire(near, rel + 60, 0) is None     # issued later, on the owner's socket
    ks.sim.run()
    assert m.owner is near
    assert ks.sim.resumed == [(2, rel + 60 + COST.line_same_socket + COST.atomic_local)]
    assert m.stats[CONT] == 1 and m.nspinning == 1  # far found it taken and spins


def _spinner_check_after(m, t: int, entry: tuple | None = None) -> tuple[int, int]:
    """A spinner's first re-read at or after t, and its delay then (lock_delay's schedule:
    the delay doubles, in PAUSEs, before each re-read).  `entry`: its heap entry (default:
    the only spinner's)."""
    s, _, _, sp = entry or m.spinners[0]
    d = sp.delay
    while s < t:
        d = min(2 * d, m.max_delay)
        s += d * COST.pause + COST.l1_hit
    return s, d


def _two_spinners():
    """cpu 0 holds the lock; cpu 50 (the other socket), then cpu 2 (a neighbour) failed
    their fast paths and spin."""
    ks, m = kernel()
    owner, near, far = cpu(0), cpu(2), cpu(50)
    m.acquire(owner, 0, 0)
    m.acquire(far, 10, 0)
    m.acquire(near, 210, 0)
    ks.sim.run(until=5000)
    return ks, m, owner, near, far


def test_a_re_read_on_its_way_sees_the_release():
    """A spinner's re-read is decided where the owner serves it, two legs after it was
    issued: one issued just before the release sees UNOWNED, and the spinner does not wait
    for its next re-read, a long backoff later."""
    ks, m = kernel()
    owner, far = cpu(0), cpu(50)
    m.acquire(owner, 0, 0)
    m.acquire(far, 10, 0)
    ks.sim.run(until=5000)                  # far's fcmpset lands and fails: it spins
    done = ks.coh.write(m.word, 0, 5000)    # the owner writes its lock's line back
    s, d = _spinner_check_after(m, done + 1000)
    m.release(owner, s + 1)                 # one cycle after far's re-read went out
    ks.sim.run()
    (who, when), = ks.sim.resumed
    assert who == 50
    assert when == s + 2 * COST.line_other_socket + COST.atomic_local  # read, fcmpset
    assert when < s + 2 * d * COST.pause


def test_re_reads_since_a_write_are_misses_the_line_serves_in_turn():
    """After the owner writes its lock's line, each spinner's first re-read of the word is
    a miss the line's home serves in turn: the second waits for the first, and an access
    behind them (an unlock, an fcmpset) waits for both.  Both readers then share the line."""
    ks, m, *_ = _two_spinners()
    done = ks.coh.write(m.word, 0, 5000)    # the owner writes its lock's line
    checks = [(_spinner_check_after(m, done, e)[0], e[1]) for e in m.spinners]
    (first, a), (second, b) = sorted(checks)
    line, before = m.line, m.line.transfers
    m._catch_up(second + 1)                 # play both re-reads
    assert line.transfers == before + 2
    assert line.sharers == {2, 50}
    c1, c2 = ks.transfer[0][a], ks.transfer[0][b]
    assert line.busy_until == max(second + c2, first + c1 + (2 * c2 + 2) // 3)
    assert line.moving                      # an access queued now waits two legs more
    m._catch_up(second + 10 ** 6)           # their later re-reads hit: no transaction
    assert line.transfers == before + 2


def test_a_spinners_fcmpset_is_decided_when_it_lands():
    """A spinner that saw the release still has to send its fcmpset: a newcomer whose
    fcmpset went out before it lands first and wins, and the spinner goes on spinning."""
    ks, m = kernel()
    owner, far, near = cpu(0), cpu(50), cpu(2)
    m.acquire(owner, 0, 0)
    m.acquire(far, 10, 0)
    ks.sim.run(until=5000)
    done = ks.coh.write(m.word, 0, 5000)
    s, _ = _spinner_check_after(m, done + 1000)
    rel = m.release(owner, s + 1)
    assert m.acquire(near, rel + 10, 0) is None  # far's read is still on its way back
    ks.sim.run(until=rel + 2000)
    assert m.owner is near and ks.sim.resumed[0][0] == 2
    assert m.nspinning == 1                  # far lost the race and spins again


def test_every_spinner_that_saw_the_release_sends_its_fcmpset():
    """Two spinners whose re-reads both reach the word while it is free both send their
    fcmpsets.  The first to land wins; the loser's fails but still takes the line from the
    new owner, whose unlock must then fetch it back from the other socket."""
    ks, m, owner, near, far = _two_spinners()
    checks = sorted((e[0], e[1]) for e in m.spinners)
    assert [c for _, c in checks] == [50, 2]
    rel = m.release(owner, checks[0][0] + 1)  # far's re-read is on its way, near's next
    assert sorted(c for _, c in m.inflight) == [2, 50]  # both saw the word free
    ks.sim.run()
    assert [c for c, _ in ks.sim.resumed] == [2] and m.owner is near
    assert m.nspinning == 1                  # far's fcmpset failed: it spins again
    assert m.line.owner == 50                # ...having pulled the line all the same
    t = max(rel, ks.sim.resumed[0][1]) + 1000
    assert m.release(near, t) >= t + COST.line_other_socket


def test_stores_overlap_their_misses_and_a_locked_op_waits_for_them():
    """Plain stores retire into the store buffer: the core goes on, their RFOs overlap,
    and the thread's next lock-prefixed instruction (here mtx_unlock's) waits for them."""
    ks, m = kernel()
    coh, a = ks.coh, cpu(0)
    coh.write("p", 2, 0)
    coh.write("q", 50, 0)                   # two lines modified elsewhere
    t = m.acquire(a, 1000, 0)
    assert coh.store(a, "p", t) == t and coh.store(a, "q", t) == t
    assert a.drain == t + COST.line_other_socket  # the longer miss, not the sum
    assert coh.drained(a, t + 10) == a.drain and coh.drained(a, a.drain + 5) == a.drain + 5
    assert m.release(a, t + 10) == a.drain + COST.l1_hit + COST.atomic_local
