"""The kernel-state actor's shared state for one run: locks, hot cache lines, strategy
state, costs.  Whatever sequences events (the engine, or the reference simulation) gives
it a `sim` with `resume(th, t)` (th's blocked operation finished at t) and
`at(t, cpu, fn)` (call fn(t) at virtual time t, ordered as CPU cpu's event)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from emu.counters import LOCK_FIELDS
from emu.cpu.td import cost_table
from emu.kernel.coherence import Coherence
from emu.kernel.kcalls import CALLERS
from emu.kernel.mtx import Mtx
from emu.topology import Topology

DETAIL_FILE = "locks.json"


class KernelState:
    def __init__(self, spec, sim) -> None:
        machine = spec.machine
        self.sim = sim
        self.cost = cost_table(machine)
        self.transfer = spec.transfer_table()
        topo = Topology.of(machine)
        self.socket_of = [topo.socket_of(c) for c in range(topo.ncpus)]
        self.core_of = [topo.core_of(c) for c in range(topo.ncpus)]
        self.coh = Coherence(self.transfer, hit=self.cost.l1_hit, atomic=self.cost.atomic_local,
                             memory=self.cost.dram)
        self.lock_lines = [spec.kernel.lock_line(i) for i in range(len(spec.kernel.locks))]
        self.locks = [Mtx(self, name, i, spin=name in spec.kernel.spin_locks)
                      for i, name in enumerate(spec.kernel.locks.names)]
        self.cpus = list(spec.cpus)
        self.ids = spec.kernel.ids
        self.strategies = dict(spec.strategies)
        self.s = SimpleNamespace()  # state the strategy modules keep here, by their own names
        self.events = 0             # shared events outside locks: atomics, kernel calls

    def detail(self) -> list[dict]:
        """Per lock and per caller statistics, as RunResult.locks carries them."""
        out = []
        for lock in self.locks:
            row = dict(zip(LOCK_FIELDS, lock.stats, strict=False))
            row["name"] = lock.name
            row["callers"] = [
                {"caller": CALLERS[c], **dict(zip(LOCK_FIELDS, v, strict=False))}
                for c, v in sorted(lock.callers.items(), key=lambda kv: -kv[1][0])]
            out.append(row)
        return out

    def write_detail(self, rundir: str) -> None:
        """Leave the detail for the supervisor, which reads it after the actor exits."""
        Path(rundir, DETAIL_FILE).write_text(json.dumps(self.detail()))
