"""curthread: what the kernel paths running on an emulated CPU see of it.

A `Td` is the CPU's side of a clock (emu/clock/virtual.py, emu/clock/wall.py).  Kernel code
charges local work with `cycles` and touches shared kernel state only through the
operations below, which the clock turns into messages to the actor:

    mtx_lock / mtx_unlock   a kernel mutex (with the calling function, for lockstat)
    read / write / atomic   a hot cache line of shared kernel data
    call                    a kernel call run by the actor on shared state (emu/kernel/kcalls)
    query                   a kernel call whose value the CPU needs now (a sync point)
    ipi                     an inter-processor interrupt, waiting for its acknowledgement
    off_cpu                 leave the CPU for a while (sleep, preemption)
    count                   the testcase's (*iterations)++
"""

from __future__ import annotations

import random
from types import SimpleNamespace

from emu.hw import smt
from emu.hw.machine import Machine, cost_table
from emu.hw.tlb import Tlb
from emu.kernel.kcalls import pack_lock
from emu.kernel.ops import (
    OP_ARG,
    OP_ATOMIC,
    OP_CALL,
    OP_COUNT,
    OP_IPI,
    OP_LOCK,
    OP_MEMCTL,
    OP_OFFCPU,
    OP_READ,
    OP_UNLOCK,
    OP_WRITE,
)


class RunEnded(Exception):
    """The run is over for this CPU: the testcase loop unwinds through this."""


class Td:
    """The clock-independent part: identity, costs, the CPU's own seeded RNG."""

    def __init__(self, cpu: int, task: int, machine: Machine, kernel, seed: int) -> None:
        self.cpu = cpu
        self.task = task
        self.machine = machine
        self.cost = cost_table(machine)
        self.kernel = kernel
        # Each CPU has its own RNG, so its draws never depend on another CPU's progress.
        self.rng = random.Random(seed * 1_000_003 + cpu)
        self._jitter = float(machine.costs.get("local_jitter", 0.0))
        self.speed = self.smt_speed(machine, kernel.cpus)
        self.pcpu = SimpleNamespace()  # per-CPU kernel data the strategies keep here
        self.tlb = Tlb(int(machine.costs.get("tlb_entries", 1536)))
        self.vm = None                 # this CPU's private VM state (emu/kernel/vm_state.py)
        self.vtime = 0                 # virtual time at the last sync (virtual clock)
        speedup = getattr(kernel, "speedup", None)
        if speedup is not None:        # emu whatif: patches this CPU's operations, once
            speedup.on_cpu(self)

    def smt_speed(self, machine: Machine, cpus) -> float:
        """The factor this CPU's local costs are stretched by here: whenever an SMT
        sibling runs a task.  The virtual clock's sequencer decides it as the run goes,
        from the sibling's state (emu/hw/smt.py), and overrides this with 1.0."""
        return smt.slowdown(machine) if smt.siblings(machine, cpus).get(self.cpu) else 1.0

    def local(self, n: int) -> int:
        """A local cost as this CPU pays it: SMT sharing, cache and branch noise."""
        n = n * self.speed
        if self._jitter:
            n += n * self._jitter * (2.0 * self.rng.random() - 1.0)
        return int(n)

    # The clock-specific part.
    def cycles(self, n: int) -> None:
        raise NotImplementedError

    def _op(self, op: int, arg: int) -> None:
        raise NotImplementedError

    # Shared operations.
    def mtx_lock(self, lock: int, caller: int = 0) -> None:
        self._op(OP_LOCK, pack_lock(lock, caller))

    def mtx_unlock(self, lock: int, caller: int = 0) -> None:
        self._op(OP_UNLOCK, pack_lock(lock, caller))

    def read(self, line: int) -> None:
        self._op(OP_READ, line)

    def write(self, line: int) -> None:
        self._op(OP_WRITE, line)

    def atomic(self, line: int) -> None:
        self._op(OP_ATOMIC, line)

    def call(self, kcall: int, *args: int) -> None:
        for a in args:
            self._op(OP_ARG, a)
        self._op(OP_CALL, kcall)

    def query(self, kcall: int, *args: int) -> object:
        """Run a kernel call and wait for its value (and for this CPU's exact time)."""
        raise NotImplementedError

    def sync(self, deliver: bool = True) -> int:
        """Wait until the shared operations recorded so far have run; apply the TLB
        invalidations delivered by then.  Returns the virtual time (0 if the clock has
        none)."""
        return 0

    def ipi(self, target: int) -> None:
        self._op(OP_IPI, target)

    def memctl(self, arg: int) -> None:
        """Bytes through a socket's memory controllers (emu/hw/memctl.py)."""
        self._op(OP_MEMCTL, arg)

    def off_cpu(self, cycles: int) -> None:
        self._op(OP_OFFCPU, cycles)

    def count(self) -> None:
        self._op(OP_COUNT, 0)

    def finish(self) -> None:
        """Leave the run (drain what the actor still owes us)."""
