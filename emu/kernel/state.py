"""The kernel-state actor's shared state for one run: locks, hot cache lines, strategy
state, costs.  Whatever sequences events (the engine, or the reference simulation) gives
it a `sim` with `resume(th, t)` (th's blocked operation finished at t) and
`at(t, cpu, fn)` (call fn(t) at virtual time t, ordered as CPU cpu's event).

Where shared state lives: `vm`, the shared (`_threads`) address spaces
(emu/kernel/vm_state.py); `sleepq`, the sleeping kernel paths by channel
(emu/kernel/kthread.py); `strategy_state[kind]`, what the chosen strategy of that kind
keeps here, made by its `init_state(ks)` (a strategy without one keeps nothing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emu.counters import LOCK_FIELDS
from emu.hw.coherence import Coherence
from emu.hw.machine import cost_table
from emu.hw.memctl import memctl_for
from emu.kernel.kcalls import CALLERS
from emu.kernel.mtx import EVENTS, Mtx

DETAIL_FILE = "kernel.json"


class KernelState:
    def __init__(self, spec, sim) -> None:
        machine = spec.machine
        self.sim = sim
        self.cost = cost_table(machine)
        self.transfer = spec.transfer_table()
        self.coh = Coherence(self.transfer, hit=self.cost.l1_hit, atomic=self.cost.atomic_local,
                             memory=self.cost.dram)
        self.memctl = memctl_for(machine)   # each socket's DRAM bandwidth (emu/hw/memctl.py)
        self.lock_lines = [spec.kernel.lock_line(i) for i in range(len(spec.kernel.locks))]
        self.line_names = list(spec.kernel.lines.names)  # after: lock_line may add a word
        self.locks = [Mtx(self, name, i, spin=name in spec.kernel.spin_locks)
                      for i, name in enumerate(spec.kernel.locks.names)]
        self.cpus = list(spec.cpus)
        self.ids = spec.kernel.ids
        self.strategies = dict(spec.strategies)
        self.modules = dict(spec.kernel.modules)   # the chosen strategy module of each kind
        self.events = 0             # shared events outside locks: atomics, kernel calls
        self.kctx: dict = {}        # thread -> its kernel paths' KCtx (emu/kernel/kthread.py)
        self.sleepq: dict[Any, list] = {}           # wait channel -> sleeping threads
        self.vm = spec.kernel.shared_vm_state()   # the shared address spaces (vm_state.py)
        self.vm.set_machine(machine)              # where its memory domains are
        self.strategy_state: dict[str, Any] = {}
        for kind, module in self.modules.items():
            init = getattr(module, "init_state", None)   # optional in every interface
            self.strategy_state[kind] = init(self) if init is not None else None
        if spec.kernel.speedup is not None:   # emu whatif: the target's costs scaled, once
            spec.kernel.speedup.in_actor(self)

    def detail(self) -> list[dict]:
        """Per lock and per caller statistics, as RunResult.locks carries them.  A lock
        nobody took is left out (the VM locks exist in every run, used or not)."""
        out = []
        for lock in self.locks:
            if not lock.stats[EVENTS]:
                continue
            row = dict(zip(LOCK_FIELDS, lock.stats, strict=False))
            row["name"] = lock.name
            row["callers"] = [
                {"caller": CALLERS[c], **dict(zip(LOCK_FIELDS, v, strict=False))}
                for c, v in sorted(lock.callers.items(), key=lambda kv: -kv[1][0])]
            out.append(row)
        return out

    def hot_lines(self, top: int = 12) -> list[dict]:
        """The busiest cache lines: per-thread lines (keys like ("md_invl_gen", cpu)) are
        summed under their name; a line nobody touched (a lock word of a lock no path
        took) is left out.  Each socket's memory controllers are listed beside them, by the
        cycles they served (emu/hw/memctl.py)."""
        rows: dict[str, dict] = {}
        for row in self.memctl.rows():
            rows[row["name"]] = {"name": row["name"], "accesses": row["requests"],
                                 "transfers": row["bytes"] // 64,
                                 "wait_cycles": row["wait_cycles"],
                                 "busy_cycles": row["busy_cycles"]}
        for key, ln in self.coh.lines.items():
            if not ln.accesses:
                continue
            if isinstance(key, int):
                name = self.line_names[key]
            else:
                name = f"{key[0]} (per thread)"
            row = rows.setdefault(name, {"name": name, "accesses": 0, "transfers": 0,
                                         "wait_cycles": 0, "busy_cycles": 0})
            row["accesses"] += ln.accesses
            row["transfers"] += ln.transfers
            row["wait_cycles"] += ln.wait
            row["busy_cycles"] += ln.busy
        return sorted(rows.values(), key=lambda r: -r["busy_cycles"])[:top]

    def write_detail(self, rundir: str) -> None:
        """Leave the detail for the supervisor, which reads it after the actor exits."""
        doc = {"locks": self.detail(), "lines": self.hot_lines()}
        Path(rundir, DETAIL_FILE).write_text(json.dumps(doc))
