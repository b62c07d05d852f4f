"""Delayed invalidation with epoch(9): the case study's fix.

pmap_delayed_invl_started/finished become epoch_enter/epoch_exit on the CPU's own ck_epoch
record, in shared memory, with real atomics (emu.epoch).  pmap_delayed_invl_wait becomes
epoch_wait, which only pmap_remove_all and pmap_remove_write call: never in mmap1.  So an
unmap touches only this CPU's record line and reads the global epoch line, which nobody
writes in mmap1: no shared event at all (REFERENCE.md §4).
"""

from __future__ import annotations


def configure(kc) -> None:
    kc.ids.needs_epoch = True  # the supervisor allocates the records before forking


def pmap_delayed_invl_started(td) -> None:
    """epoch_enter: XCHG on our record's `active` (a full fence), load the global epoch."""
    td.kernel.epoch.epoch_enter(td.task)
    td.cycles(td.cost.atomic_local + td.cost.l1_hit)


def pmap_delayed_invl_finished(td) -> None:
    """epoch_exit: a release store of `active`."""
    td.kernel.epoch.epoch_exit(td.task)
    td.cycles(td.cost.l1_hit)
