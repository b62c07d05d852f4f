"""FreeBSD epoch(9) on top of ck_epoch: one record per emulated CPU.

This is the interface the DI ``epoch`` strategy calls (FreeBSD's epoch DI replaces
``pmap_delayed_invl_started/finished/wait`` with ``epoch_enter/epoch_exit/epoch_wait``):

- ``epoch_enter(cpu)`` / ``epoch_exit(cpu)``: ck_epoch_begin/end on the CPU's own
  record. They touch only that record's line and, for an outermost enter, read the
  global epoch line, so in ``mmap1`` they never contend (docs/kernel-reference.md §4).
- ``epoch_wait(cpu)``: ck_epoch_synchronize_wait whose blocking handler, like
  ``epoch_block_handler_preempt`` in ``sys/kern/subr_epoch.c``, spins on a running
  blocker up to a bound (FreeBSD: 1000 iterations), then yields the host CPU.
- ``epoch_enter_preempt``/``epoch_exit_preempt`` take a tracker (a ck section) for
  sections that may be preempted and share the CPU's record.
- ``epoch_call``/``epoch_poll``/``epoch_drain_callbacks``: deferred work.

``alloc`` initialises the block and registers every CPU's record (epoch_alloc), in the
supervisor before it forks the CPUs; each CPU process then uses its own record, whose
deferred callbacks live in that process.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from emu.epoch.ck_epoch import CkEpoch, Section, WaitCallback

__all__ = ["EPOCH_SPIN_LIMIT", "Epoch"]

EPOCH_SPIN_LIMIT = 1000
"""Spins on a running blocker before yielding (epoch_block_handler_preempt's bound)."""


class Epoch:
    """An epoch(9) ``epoch_t``: a ck_epoch global plus one record per CPU.

    ``is_running(cpu) -> bool`` tells the blocking handler whether a blocker is on CPU
    (only running blockers are spun on); by default every blocker counts as running.
    ``block`` replaces the handler entirely (the virtual-time runtime passes its own).
    Whether enter/exit report touched lines is fixed when the ``Epoch`` is made: with
    ``ck.touched is None`` they are the C fast path itself.
    """

    def __init__(
        self,
        ck: CkEpoch,
        ncpu: int,
        *,
        spin_limit: int = EPOCH_SPIN_LIMIT,
        is_running: Callable[[int], bool] | None = None,
    ) -> None:
        if not 1 <= ncpu <= ck.capacity:
            raise ValueError(f"ncpu {ncpu} does not fit {ck.capacity} records")
        self.ck = ck
        self.ncpu = ncpu
        self.spin_limit = spin_limit
        self.is_running = is_running
        self._begin = ck.fast.begin
        self._end = ck.fast.end
        if ck.touched is None:
            # No tracing asked for: bind enter/exit straight to the C fast path, one
            # call each (the methods below stay as the documented, traced form).
            self.epoch_enter = self._begin  # type: ignore[method-assign]
            self.epoch_exit = self._end  # type: ignore[method-assign]
        # Process-local counters of the blocking handler.
        self.n_wait = 0
        self.n_block = 0
        self.n_spin = 0
        self.n_yield = 0

    @staticmethod
    def size(ncpu: int) -> int:
        """Bytes of shared memory for ``ncpu`` CPUs."""
        return CkEpoch.size(ncpu)

    @classmethod
    def alloc(cls, buf: Any, ncpu: int, offset: int = 0, **kw: Any) -> Epoch:
        """epoch_alloc: initialise the block and register record ``cpu`` for each CPU."""
        ck = CkEpoch.create(buf, ncpu, offset, touched=kw.pop("touched", None))
        for cpu in range(ncpu):
            ck.register(cpu)
        return cls(ck, ncpu, **kw)

    @classmethod
    def attach(cls, buf: Any, offset: int = 0, **kw: Any) -> Epoch:
        """Attach to a block made by ``alloc`` (e.g. after mapping it by name)."""
        ck = CkEpoch(buf, offset, touched=kw.pop("touched", None))
        return cls(ck, ck.capacity, **kw)

    def release(self) -> None:
        """Drop this process's exports of the shared buffer."""
        self.ck.release()

    # -- sections ----------------------------------------------------------------------

    def epoch_enter(self, cpu: int, vtime: int | None = None) -> None:
        """Enter a section on ``cpu``'s record (nests)."""
        if self.ck.touched is None:
            self._begin(cpu, vtime)
        else:
            self.ck.begin(cpu, None, vtime)

    def epoch_exit(self, cpu: int, vtime: int | None = None) -> None:
        """Leave a section on ``cpu``'s record."""
        if self.ck.touched is None:
            self._end(cpu, vtime)
        else:
            self.ck.end(cpu, None, vtime)

    def epoch_enter_preempt(self, cpu: int, et: Section, vtime: int | None = None) -> None:
        """Enter a preemptible section tracked by ``et`` (a ck section)."""
        self.ck.begin(cpu, et, vtime)

    def epoch_exit_preempt(self, cpu: int, et: Section, vtime: int | None = None) -> None:
        """Leave a preemptible section tracked by ``et``."""
        self.ck.end(cpu, et, vtime)

    def in_epoch(self, cpu: int) -> bool:
        """Whether ``cpu``'s record is inside a section."""
        return self.ck.record(cpu).active != 0

    # -- waiting -----------------------------------------------------------------------

    def block_handler(self, ck: CkEpoch, blocker: int) -> None:
        """Spin while the blocker runs and its record is unchanged, up to spin_limit;
        then yield, and let synchronize rescan."""
        self.n_block += 1
        before = ck.record(blocker)
        if self.is_running is None or self.is_running(blocker):
            for _ in range(self.spin_limit):
                self.n_spin += 1
                if ck.record(blocker) != before:
                    return
        self.n_yield += 1
        os.sched_yield()

    def epoch_wait(
        self, cpu: int, vtime: int | None = None, block: WaitCallback | None = None
    ) -> None:
        """Wait for a grace period: every section open on any CPU when called has ended.

        ``cpu`` is the caller's CPU, which must not be inside a section (it would wait
        on itself). ``block``/``vtime`` are passed to ck_epoch_synchronize_wait.
        """
        if vtime is not None and block is None:
            raise ValueError("epoch_wait with a vtime needs a block callback that advances it")
        if self.in_epoch(cpu):
            raise RuntimeError(f"epoch_wait on cpu {cpu} inside an epoch section")
        self.n_wait += 1
        self.ck.synchronize_wait(block if block is not None else self.block_handler, vtime)

    # -- deferred work -----------------------------------------------------------------

    def epoch_call(self, cpu: int, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` in this process after a grace period (epoch_call)."""
        self.ck.call(cpu, fn, *args)

    def epoch_poll(self, cpu: int) -> bool:
        """Non-blocking: dispatch what is already safe on ``cpu``'s record."""
        return self.ck.poll(cpu)

    def epoch_drain_callbacks(self, cpu: int, block: WaitCallback | None = None) -> int:
        """Wait for a grace period, then run every pending callback of ``cpu``."""
        self.epoch_wait(cpu, block=block)
        return self.ck.reclaim(cpu)
