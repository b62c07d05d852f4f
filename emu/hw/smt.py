"""SMT sharing: a hardware thread's local work runs slower while its sibling works.

Two threads of a core share its pipelines, so each runs at ~0.6-0.75 of its speed while the
other computes too (docs/kernel-reference.md §6: `smt_slowdown` in the preset).  A sibling
that waits leaves the core to its partner: spinning in lock_delay or on IPI
acknowledgements executes PAUSE, which exists to hand the core's resources to the other
thread (and which Skylake made ~140 cycles long for that reason: Intel optimization manual
2.5.4.1); a sleeping one runs nothing.  So the slowdown is decided as the run goes: a
stretch of local work is slower if, when it begins, another thread of its core runs a task
that is not waiting.  Whoever orders the run in virtual time decides it (the engine, the
reference DES); the wall clock, which cannot see its siblings' state, applies the factor
whenever the sibling runs a task (Td.speed).
"""

from __future__ import annotations

from collections.abc import Sequence

from emu.hw.machine import Machine
from emu.hw.topology import Topology


def slowdown(machine: Machine) -> float:
    """The factor local work is stretched by while a sibling works."""
    return float(machine.costs.get("smt_slowdown", 1.0))


def siblings(machine: Machine, cpus: Sequence[int]) -> dict[int, list[int]]:
    """For each CPU of the run, the other CPUs of the run on its core."""
    topo = Topology.of(machine)
    on_core: dict[int, list[int]] = {}   # by core, in the run's order: O(CPUs), not O(CPUs^2)
    for c in cpus:
        on_core.setdefault(topo.core_of(c), []).append(c)
    return {c: [o for o in on_core[topo.core_of(c)] if o != c] for c in cpus}


def stretch(cycles: int, factor: float, sibling_works: bool) -> int:
    """`cycles` of local work as the thread pays them."""
    return int(cycles * factor) if sibling_works else cycles
