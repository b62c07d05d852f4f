"""Mutexes of the emulated kernel, run by the kernel-state actor (sys/kern/kern_mutex.c).

This is the simple model of the runtime issue: a CAS on the lock word's cache line to take
the lock, waiters queued in arrival order, and a release that hands the line and the lock to
the first waiter.  The faithful MTX_DEF behaviour (adaptive spinning with lock_delay
backoff, turnstiles, a CAS race for the released lock) replaces `acquire`/`release` later
without changing the interface the engine calls.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from emu.counters import LOCK_WORDS

if TYPE_CHECKING:
    from emu.sched.engine import Engine, Thread

# Index of each statistic in a lock's counter row (see emu.counters.LOCK_FIELDS).
ACQ, CONT, SPIN, BLOCK, HOLD, EVENTS = range(6)


class Mtx:
    """One kernel mutex: owner, the cache line of its lock word, waiters, statistics."""

    __slots__ = ("name", "lock_id", "owner", "line_cpu", "acquired_at", "waiters", "stats")

    def __init__(self, name: str, lock_id: int) -> None:
        self.name = name
        self.lock_id = lock_id
        self.owner = -1
        self.line_cpu = -1  # the CPU whose cache holds the lock word's line modified
        self.acquired_at = 0
        self.waiters: deque[tuple[Thread, int]] = deque()
        self.stats = [0] * LOCK_WORDS

    def acquire(self, engine: Engine, th: Thread, t: int) -> int | None:
        """mtx_lock at virtual time t: the time the lock is held, or None if th must wait."""
        stats = self.stats
        stats[EVENTS] += 1
        if self.owner < 0:
            # Fast path: one CAS, paid where the line is (transfer it first if elsewhere).
            t += engine.rmw_cost(self.line_cpu, th.cpu)
            self.line_cpu = th.cpu
            self.owner = th.cpu
            self.acquired_at = t
            stats[ACQ] += 1
            return t
        stats[CONT] += 1
        self.waiters.append((th, t))
        return None

    def release(self, engine: Engine, th: Thread, t: int) -> int:
        """mtx_unlock at virtual time t: the time the releasing CPU goes on."""
        stats = self.stats
        stats[EVENTS] += 1
        t += engine.rmw_cost(self.line_cpu, th.cpu)
        self.line_cpu = th.cpu
        stats[HOLD] += t - self.acquired_at
        if self.waiters:
            waiter, since = self.waiters.popleft()
            # The waiter sees the release only once the line reaches it, then CASes.
            t_acq = t + engine.rmw_cost(th.cpu, waiter.cpu)
            self.line_cpu = waiter.cpu
            self.owner = waiter.cpu
            self.acquired_at = t_acq
            stats[ACQ] += 1
            stats[SPIN] += t_acq - since
            engine.resume(waiter, t_acq)
        else:
            self.owner = -1
        return t
