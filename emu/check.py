"""`emu check`: search interleavings for one where a delayed-invalidation strategy lets a CPU
use a page through a stale TLB entry.

Each trial is a short emulated machine: a scenario's threads (emu/scenarios/) sharing one
address space on several CPUs, and the page daemon reclaiming their pages, with DI's
guarantee tracked per strategy (emu/kernel/invl.py) and every TLB hit checked against the
invariant (emu/kernel/invariant.py).  It is the emulator itself (VirtualTd, the engine,
the kernel model) with its CPUs as threads of this process (emu/clock/inproc.py), so a
trial costs milliseconds, not a fork and sockets.

Trials differ by seed, which fixes everything about them and nothing else: the CPUs' RNGs
(the threads' choices, local costs jittered by +-JITTER), the number of threads, the IPI
latency (x0.5 to x1.5 of the preset's) and the page daemon's pace.  `--seed N --trials 1`
replays trial N exactly.  The first violation stops the search: its trace goes to stdout
and the exit status is 1.
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
import time
from types import SimpleNamespace
from typing import TextIO

from emu.hw.machine import load_machine
from emu.hw.topology import Topology
from emu.kernel.invariant import Checker
from emu.kernel.strategies import StrategyError, choose
from emu.kernel.vm_map import MapEntry
from emu.machine.spec import RunSpec
from emu.scenarios import DEFAULT, scenario
from emu.testcases import Testcase

DEFAULT_TRIALS = 120
KINDS = ("di",)   # the strategy kinds with a guarantee to check: a DI strategy's invl_model
JITTER = 0.3


class CheckError(ValueError):
    """Bad input: one line, exit status 2."""


@dataclasses.dataclass
class Trial:
    seed: int
    tasks: int
    cpus: list[int]
    daemon: int
    ipi_latency: int
    stats: dict
    violation: dict | None
    host_s: float


def trial_spec(mod, name: str, di: str, seed: int) -> tuple[RunSpec, SimpleNamespace]:
    """The machine of trial `seed`: everything drawn from the seed."""
    rng = random.Random(seed * 7919 + 17)
    base = load_machine()
    latency = int(base.costs["ipi_latency"] * rng.uniform(0.5, 1.5))
    machine = dataclasses.replace(base, costs={**base.costs, "local_jitter": JITTER,
                                               "ipi_latency": latency})
    tasks = rng.choice(mod.TASKS)
    spec = RunSpec(testcase=Testcase(name, mod, "threads"), tasks=tasks, machine=machine,
                   seed=seed, period_s=mod.LENGTH_S, warmup=0, samples=1,
                   strategies={"di": di})
    spec.prepare()
    daemon = Topology.of(machine).place(tasks + 1)[-1]   # the next free core
    lo, hi = mod.PAGEDAEMON["interval"]
    scale = rng.uniform(0.5, 2.0)
    ids = spec.kernel.ids
    ids.check = True
    ids.di_track = True
    ids.pagedaemon = SimpleNamespace(cpu=daemon, seed=seed, launder=mod.PAGEDAEMON["launder"],
                                     interval=(int(lo * scale), int(hi * scale)),
                                     until=spec.boundaries * spec.period_cycles)
    for p in {id(p): p for p in spec.kernel.procs}.values():
        for start, end in mod.SHARED:
            p.vm_map.entries[start] = end
    return spec, ids.pagedaemon


def run_trial(mod, name: str, di: str, seed: int) -> Trial:
    from emu.clock.inproc import run_inproc

    spec, daemon = trial_spec(mod, name, di, seed)
    pid = spec.kernel.procs[0].pid

    def setup(ks) -> None:
        vm = ks.vm
        vm.check = Checker()
        for start, end in mod.SHARED:
            vm.map(pid)[start] = MapEntry(start, end, None, 0, False, True)

    t0 = time.perf_counter()
    ks = run_inproc(spec, setup)
    check = ks.vm.check
    stats = {"accesses_checked": check.accesses, "di_sections": check.sections,
             "reclaimed": check.reclaims, "laundered": check.cleaned,
             "waits": check.waits, "windows": check.windows}
    return Trial(seed, spec.tasks, list(spec.cpus), daemon.cpu,
                 spec.machine.cost("ipi_latency"), stats,
                 check.violations[0] if check.violations else None,
                 time.perf_counter() - t0)


def format_trace(name: str, di: str, trial: Trial, freq_hz: int) -> str:
    v = trial.violation
    who = {c: f"thread {i}" for i, c in enumerate(trial.cpus)}
    who[trial.daemon] = "page daemon"
    lines = [
        f"emu check: VIOLATION ({v['kind']}) with --di {di}, trial seed {trial.seed}",
        f"  CPU {v['cpu']} {'writes' if v['write'] else 'reads'} physical page {v['pa']:#x} "
        f"(va {v['va']:#x}) at {v['t']} through a TLB entry filled at {v['filled']}",
        f"  replay: emu check {name} --di {di} --seed {trial.seed} --trials 1",
        f"  machine: {trial.tasks} threads on CPUs {trial.cpus}, page daemon on CPU "
        f"{trial.daemon}, ipi_latency {trial.ipi_latency} cycles",
        "  CPUs in the trace: " + ", ".join(f"{c} ({who.get(c, '?')})" for c in v["cpus"]),
        f"  {'vtime':>9} {'us':>8}  CPU  {'event':<11} page       what",
    ]
    for t, cpu, kind, pa, _va, text in v["events"]:
        page = f"{pa:#x}" if pa >= 0 else "-"
        lines.append(f"  {t:>9} {t * 1e6 / freq_hz:>8.3f}  {cpu:>3}  {kind:<11} {page:<10} "
                     f"{text}")
    return "\n".join(lines)


@dataclasses.dataclass
class Search:
    """What a search of interleavings found."""

    name: str
    di: str
    seed: int
    trials: int                 # trials run (the search stops at the first violation)
    totals: dict[str, int]
    found: Trial | None
    host_s: float

    @property
    def safe(self) -> bool:
        return self.found is None


def search(name: str | None, di: str, trials: int | None, seed: int) -> Search:
    """Run trials seed, seed+1, ... until one finds a violation or `trials` have run;
    CheckError (one line) for bad input."""
    name = name or DEFAULT
    try:   # a built-in's name, or a user's file (loaded, linted and dry-run here)
        choose(di=di)
    except StrategyError as exc:
        raise CheckError(str(exc)) from None
    try:
        mod = scenario(name)
    except ValueError as exc:
        raise CheckError(str(exc)) from None
    trials = DEFAULT_TRIALS if trials is None else trials
    if trials < 1:
        raise CheckError("--trials must be at least 1")
    t0 = time.perf_counter()
    totals: dict[str, int] = {}
    found: Trial | None = None
    done = 0
    for s in range(seed, seed + trials):
        trial = run_trial(mod, name, di, s)
        done += 1
        for k, v in trial.stats.items():
            totals[k] = totals.get(k, 0) + v
        if trial.violation is not None:
            found = trial
            break
    return Search(name, di, seed, done, totals, found, time.perf_counter() - t0)


def run_check(name: str | None, di: str, trials: int | None, seed: int,
              json_path: str | None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    res = search(name, di, trials, seed)
    name, found, done, totals, host = res.name, res.found, res.trials, res.totals, res.host_s
    freq = load_machine().freq_hz
    doc = {"scenario": name, "di": di, "seed": seed, "trials": done,
           "interleavings": done, "violations": 0 if found is None else 1,
           "stats": totals, "host_s": round(host, 3)}
    if found is not None:
        doc["violation"] = {"seed": found.seed, "cpus": found.cpus, "daemon": found.daemon,
                            **found.violation}
        print(format_trace(name, di, found, freq), file=out)
    else:
        print(f"emu check: {name} --di {di}: 0 violations in {done} interleavings "
              f"(seeds {seed}..{seed + done - 1}); {totals.get('accesses_checked', 0)} TLB hits "
              f"checked, {totals.get('windows', 0)} reclaims met a shootdown in flight, "
              f"{totals.get('reclaimed', 0)} pages reclaimed", file=out)
    print(f"emu: {done} trials in {host:.1f} host seconds", file=err)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
    return 1 if found is not None else 0
