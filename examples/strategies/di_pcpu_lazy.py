"""Delayed invalidation on per-CPU section counters, with a lazy wait: a user's strategy
that is wrong, and that `emu check` must catch.

The sections are those of di_pcpu_count.py, to the instruction: two atomics on a line
only this CPU holds, so `emu run` cannot tell the two apart.  The difference is the wait.
Its author reasoned that pmap_delayed_invl_wait is called by pmap_remove_all after it found
the page's PV list empty, so no pmap maps the page any more and there is nothing to wait
for.  But pmap_remove unlinks the PV entry and drops the PV list lock *before* its TLB
shootdown reaches the other CPUs: for that while, a CPU can still reach the page through
its TLB, and the page daemon frees it under it (use after free).  That window is exactly
what delayed invalidation exists for (sys/amd64/amd64/pmap.c, r303464).

    emu check --di examples/strategies/di_pcpu_lazy.py       (exit status 1, and a trace)
"""

from __future__ import annotations

from emu.kernel.kthread import Cycles, KCtx, KPath, Rmw


def configure(kc) -> None:
    """Nothing to declare: each counter is in its own CPU's struct pcpu (a private line)."""


def pmap_delayed_invl_started(k: KCtx) -> KPath:
    yield Rmw(None)              # atomic_add_int(&PCPU_GET(invl_count), 1): a full fence
    yield Cycles(k.cost.l1_hit)


def pmap_delayed_invl_finished(k: KCtx) -> KPath:
    yield Rmw(None)              # atomic_add_rel_int: the section is over


class LazyInvl:
    """What the author believed the counters need to guarantee: nothing, once the PV list
    is empty."""

    spin = True

    def enter(self, cpu: int) -> None:
        pass

    def exit(self, cpu: int) -> bool:
        return False

    def page(self, cpu: int, m) -> None:
        pass

    def wait_for(self, m) -> None:
        return None    # the PV list was empty: "nobody maps it"

    def done(self, token: None) -> bool:
        return True


def invl_model() -> LazyInvl:
    return LazyInvl()
