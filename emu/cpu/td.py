"""curthread: what the kernel paths running on an emulated CPU see of it.

A `Td` is the CPU's side of a clock (emu/sched/virtual.py, emu/sched/wall.py).  Kernel code
charges local work with `cycles` and touches shared kernel state only through `mtx_lock`,
`mtx_unlock`, `atomic` and `ipi`, which the clock turns into messages to the actor.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

from emu.kernel.config import KernelConfig
from emu.machines import Machine


class RunEnded(Exception):
    """The run is over for this CPU: the testcase loop unwinds through this."""


def cost_table(machine: Machine) -> SimpleNamespace:
    """The preset's costs as attributes (`td.cost.syscall`), cycles as ints."""
    return SimpleNamespace(**{
        k: (v if isinstance(v, float) else int(v)) for k, v in machine.costs.items()})


class Td:
    """The clock-independent part: identity, costs, the CPU's own seeded RNG."""

    def __init__(self, cpu: int, task: int, machine: Machine, kernel: KernelConfig,
                 seed: int) -> None:
        self.cpu = cpu
        self.task = task
        self.machine = machine
        self.cost = cost_table(machine)
        self.kernel = kernel
        # Each CPU has its own RNG, so its draws never depend on another CPU's progress.
        self.rng = random.Random(seed * 1_000_003 + cpu)
        self._jitter = float(machine.costs.get("local_jitter", 0.0))

    def jittered(self, n: int) -> int:
        """A local cost with the machine's cache and branch noise."""
        if not self._jitter:
            return n
        return n + int(n * self._jitter * (2.0 * self.rng.random() - 1.0))

    # The clock-specific operations.
    def cycles(self, n: int) -> None:
        raise NotImplementedError

    def mtx_lock(self, lock: int) -> None:
        raise NotImplementedError

    def mtx_unlock(self, lock: int) -> None:
        raise NotImplementedError

    def atomic(self, line: int) -> None:
        raise NotImplementedError

    def ipi(self, target: int) -> None:
        raise NotImplementedError

    def count(self) -> None:
        """The testcase's (*iterations)++."""
        raise NotImplementedError

    def finish(self) -> None:
        """Leave the run (drain what the actor still owes us)."""
