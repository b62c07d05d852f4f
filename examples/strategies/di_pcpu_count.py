"""Delayed invalidation on per-CPU section counters: a user's strategy, and a safe one.

Each CPU counts its own DI sections in a counter only it writes (in its struct pcpu):
pmap_delayed_invl_started increments it to an odd value (inside a section),
pmap_delayed_invl_finished increments it again (outside).  pmap_delayed_invl_wait, which
only pmap_remove_all and pmap_remove_write call, snapshots every CPU's counter and waits
until each odd one has moved on: a grace period as epoch(9)'s, without a global epoch
(the scheme of Linux's SRCU read side, per CPU).  Nothing shared is written on an unmap:
a section costs two atomics on a line only this CPU holds.

Run it:    emu run mmap1_processes -t 8 -s 1 --di examples/strategies/di_pcpu_count.py
Check it:  emu check --di examples/strategies/di_pcpu_count.py
"""

from __future__ import annotations

from emu.kernel.kthread import Cycles, KCtx, KPath, Rmw


def configure(kc) -> None:
    """Nothing to declare: each counter is in its own CPU's struct pcpu (a private line)."""


def pmap_delayed_invl_started(k: KCtx) -> KPath:
    yield Rmw(None)              # atomic_add_int(&PCPU_GET(invl_count), 1): a full fence
    yield Cycles(k.cost.l1_hit)  # the section's own bookkeeping


def pmap_delayed_invl_finished(k: KCtx) -> KPath:
    yield Rmw(None)              # atomic_add_rel_int: the section is over


class PcpuCountInvl:
    """What the counters guarantee: a wait ends once every section open when it began has
    ended (its CPU's counter moved past the odd value the wait saw)."""

    spin = True   # waiters re-read the counters, then sleep

    def __init__(self) -> None:
        self.count: dict[int, int] = {}   # CPU -> its counter

    def enter(self, cpu: int) -> None:
        self.count[cpu] = self.count.get(cpu, 0) + 1

    def exit(self, cpu: int) -> bool:
        self.count[cpu] += 1
        return True

    def page(self, cpu: int, m) -> None:
        pass   # no generation on the page: a wait waits for every open section

    def wait_for(self, m) -> dict[int, int]:
        return {cpu: n for cpu, n in self.count.items() if n % 2}

    def done(self, seen: dict[int, int]) -> bool:
        return all(self.count[cpu] != n for cpu, n in seen.items())


def invl_model() -> PcpuCountInvl:
    return PcpuCountInvl()
