"""Delayed invalidation with epoch(9): the case study's fix.

pmap_delayed_invl_started/finished become epoch_enter/epoch_exit on the CPU's own ck_epoch
record, in shared memory, with real atomics (emu.epoch).  pmap_delayed_invl_wait becomes
epoch_wait, which only pmap_remove_all and pmap_remove_write call: never in mmap1.  So an
unmap touches only this CPU's record line and reads the global epoch line, which nobody
writes in mmap1: no shared event at all (docs/kernel-reference.md §4).
"""

from __future__ import annotations

from emu.kernel.kthread import Cycles, KCtx, KPath

NEEDS_EPOCH = True  # the supervisor allocates the records (kc.epoch) before forking


def configure(kc) -> None:
    pass


def pmap_delayed_invl_started(k: KCtx) -> KPath:
    """epoch_enter: XCHG on our record's `active` (a full fence), load the global epoch."""
    td = k.td
    td.kernel.epoch.epoch_enter(td.task)
    yield Cycles(k.cost.atomic_local + k.cost.l1_hit)


def pmap_delayed_invl_finished(k: KCtx) -> KPath:
    """epoch_exit: a release store of `active`."""
    td = k.td
    td.kernel.epoch.epoch_exit(td.task)
    yield Cycles(k.cost.l1_hit)


class EpochInvl:
    """epoch(9) DI: a section per CPU at a time; a wait is a grace period.  This is
    epoch_wait's specification; that ck_epoch implements it is what `emu validate epoch`
    checks, so here the question is only whether sections and waits are where DI needs
    them."""

    spin = True

    def __init__(self) -> None:
        self.sections: dict[int, int] = {}   # CPU -> serial of its open section
        self.serial = 0

    def enter(self, cpu: int) -> None:
        self.serial += 1
        self.sections[cpu] = self.serial

    def exit(self, cpu: int) -> bool:
        del self.sections[cpu]
        return True

    def page(self, cpu: int, m) -> None:
        pass

    def wait_for(self, m) -> set[int]:
        """The sections open now: the grace period ends when each has ended."""
        return set(self.sections.values())

    def done(self, open_then: set[int]) -> bool:
        return open_then.isdisjoint(self.sections.values())


def invl_model() -> EpochInvl:
    return EpochInvl()
