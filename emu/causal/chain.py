"""`emu chain`: the case study's write-up, automated.

From the given strategies:

0. run them on `seeds` seeds (the ops/s each later step is compared with);
1. rank the structures with a what-if at a 100% speed-up (locks and hot lines; a
   caller names its lock's kind, so it adds nothing here: emu/causal/whatif.py), on the
   first seed, reusing that seed's run;
2. name the bound: the top-ranked structure that a strategy kind owns
   (emu/causal/targets.py Owners) and whose removal buys MARK_PCT or more;
3. try every other strategy of that kind, the built-ins and the user's candidates
   (--candidates DIR), each first held to its guarantee where `emu check` has one
   (emu/check.py KINDS: a DI strategy), on the first seed;
4. keep the best if it gains `threshold` percent or more over the step before, run it on
   the other seeds, and compare the step's seeds with the step before's as ministat does;
5. repeat until no alternative gains `threshold` percent, or `steps` steps.

The runs of a step are independent and go side by side (emu/causal/pool.py), the checks
among them.  The output is one block per step (emu/report/chain.py).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from emu.causal import pool
from emu.causal.targets import Owners
from emu.causal.whatif import (
    DEFAULT_FLOOR,
    FAILED,
    MARK_PCT,
    WHATIF_PERIOD,
    WHATIF_SAMPLES,
    WHATIF_WARMUP,
    Row,
    WhatIf,
    WhatIfPlan,
    gain_pct,
    measure,
    run_tasks,
    run_whatif,
)
from emu.check import KINDS as CHECKED
from emu.kernel.strategies import STRATEGIES, StrategyError, choose, kind_of_file
from emu.machine.spec import RunSpec
from emu.run import UsageError, build_spec
from emu.units import parse_duration

STRUCTURES = ("lock", "line")   # what a strategy changes (a caller names its lock's kind)
DEFAULT_STEPS = 5
DEFAULT_SEEDS = 3
THRESHOLD_PCT = 5.0


@dataclass
class ChainPlan:
    testcase: str
    tasks: int
    strategies: dict[str, str]    # the full selection to start from
    machine: str
    seed: int = 0
    period: str | None = None
    warmup: int = WHATIF_WARMUP
    samples: int = WHATIF_SAMPLES
    costs: list[str] = field(default_factory=list)
    steps: int = DEFAULT_STEPS
    seeds: int = DEFAULT_SEEDS
    threshold: float = THRESHOLD_PCT
    candidates: dict[str, list[str]] = field(default_factory=dict)   # kind -> files
    check_trials: int | None = None   # None: emu check's default
    floor: float = DEFAULT_FLOOR
    workers: int | None = None

    def spec(self, strategies: dict[str, str], seed: int) -> RunSpec:
        return build_spec(self.testcase, self.tasks, self.samples, False, False, self.machine,
                          "virtual", seed, self.period or WHATIF_PERIOD, self.warmup,
                          strategies, costs=self.costs)

    @property
    def period_s(self) -> float:
        return parse_duration(self.period or WHATIF_PERIOD)

    @property
    def seed_list(self) -> list[int]:
        return [self.seed + i for i in range(self.seeds)]


def candidate_files(directory: str) -> dict[str, list[str]]:
    """The strategy files in `directory`, by kind; UsageError (one line) if it is not a
    directory, holds none, or one cannot be used (each is loaded, linted and dry-run)."""
    d = Path(directory)
    if not d.is_dir():
        raise UsageError(f"--candidates: {directory} is not a directory")
    files = sorted(str(p) for p in d.glob("*.py") if not p.name.startswith("_"))
    if not files:
        raise UsageError(f"--candidates: {directory} holds no strategy file (*.py)")
    out: dict[str, list[str]] = {}
    for path in files:
        try:
            kind = kind_of_file(path)
            choose(**{kind: path})
        except StrategyError as exc:
            raise UsageError(str(exc)) from None
        out.setdefault(kind, []).append(path)
    return out


def plan_chain(testcase: str, tasks: int, strategies: dict[str, str | None], machine: str,
               steps: int = DEFAULT_STEPS, candidates: str | None = None, seed: int = 0,
               seeds: int = DEFAULT_SEEDS, period: str | None = None,
               warmup: int = WHATIF_WARMUP, samples: int = WHATIF_SAMPLES,
               costs: list[str] | None = None, threshold: float = THRESHOLD_PCT,
               check_trials: int | None = None, floor: float = DEFAULT_FLOOR,
               workers: int | None = None) -> ChainPlan:
    """Check every input; UsageError (one line) for anything the user got wrong."""
    if steps < 1:
        raise UsageError(f"--steps must be at least 1, not {steps}")
    if seeds < 2:
        raise UsageError(f"--seeds must be at least 2 (ministat compares them), not {seeds}")
    if samples < 1:
        raise UsageError(f"-s must be at least 1, not {samples}")
    if check_trials is not None and check_trials < 1:
        raise UsageError(f"--check-trials must be at least 1, not {check_trials}")
    if workers is not None and workers < 1:
        raise UsageError(f"-j must be at least 1, not {workers}")
    plan = ChainPlan(testcase, tasks, {}, machine, seed, period, warmup, samples,
                     list(costs or []), steps, seeds, threshold,
                     candidate_files(candidates) if candidates else {}, check_trials, floor,
                     workers)
    plan.strategies = dict(plan.spec(strategies, seed).strategies)  # validated, complete
    return plan


# ------------------------------------------------------------------ one step


def check_verdict(di: str, trials: int | None) -> str:
    """`emu check`'s verdict on a DI strategy: "" (safe) or why not (in a pool worker)."""
    from emu.check import search

    found = search(None, di, trials, 0).found
    if found is None:
        return ""
    return f"unsafe: {found.violation['kind']}, emu check trial seed {found.seed}"


def _check_what(d: pool.Done) -> str:
    if d.value is None:
        return f"failed: {d.error}"
    return d.value or "safe"


@dataclass
class Tried:
    kind: str
    name: str
    ops: int | None = None      # seed-0 ops/s; None: not run
    why_not: str = ""           # unsafe or failed

    def document(self) -> dict:
        return {"kind": self.kind, "name": self.name, "ops": self.ops, "why_not": self.why_not}


@dataclass
class Step:
    index: int
    strategies: dict[str, str]           # the selection after this step
    ops: list[int]                       # its ops/s on each seed
    bound: Row | None = None             # the structure named as the bound
    bound_kind: str | None = None
    above: list[Row] = field(default_factory=list)   # ranked above it, owned by no kind
    bound_gain: float | None = None      # what its removal bought
    tried: list[Tried] = field(default_factory=list)
    chosen: Tried | None = None
    comparison: str = ""                 # ministat's difference against the step before


@dataclass
class Chain:
    plan: ChainPlan
    steps: list[Step]
    stop: str = ""
    failed: bool = False     # a run of the chain's own selections failed
    host_s: float = 0.0
    runs: int = 0
    checks: int = 0          # emu check searches (one per DI candidate)


def _ops(d: pool.Done) -> tuple[int, dict | None, str]:
    doc = d.value
    if d.error or doc is None:
        return FAILED, None, d.error or "no result"
    if doc.get("error"):
        return FAILED, doc, doc["error"]
    return int(doc["average"]), doc, ""


def _selection(current: dict[str, str], kind: str, name: str) -> dict[str, str]:
    return {**current, kind: name}


def _bound(w: WhatIf, owners: Owners) -> tuple[Row | None, str | None, list[Row]]:
    """The top-ranked row a strategy kind owns that buys MARK_PCT or more when removed,
    its kind, and the unowned rows ranked above it."""
    above = []
    for row in w.rows:
        g = row.gain(w.plan.top, w.base)
        if g is None or g < MARK_PCT:
            break
        kind = owners.kind_of(row.target)
        if kind is not None:
            return row, kind, above
        above.append(row)
    return None, None, above


def run_chain(plan: ChainPlan, err: TextIO | None = None, on_step=None) -> Chain:
    """Walk the chain; `on_step(step)` as each step ends (to print it at once)."""
    from emu.report.ministat import Dataset, relative
    from emu.report.progress import Progress

    err = err or sys.stderr
    t0 = time.perf_counter()
    seeds = plan.seed_list
    current = dict(plan.strategies)
    progress = Progress(err, len(seeds))
    chain = Chain(plan, [])
    try:
        tasks = [pool.Task(f"step 0 seed {s}", measure, (plan.spec(current, s),))
                 for s in seeds]
        done = [_ops(d) for d in run_tasks(tasks, plan.workers, progress)]
        chain.runs += len(tasks)
        bad = [why for _, _, why in done if why]
        if bad:
            chain.stop, chain.failed = f"the starting strategies' run failed: {bad[0]}", True
            return chain
        ops = [o for o, _, _ in done]
        base_doc = done[0][1]
        step = Step(0, dict(current), ops)
        chain.steps.append(step)
        if on_step:
            progress.hide()
            on_step(step)
        for k in range(1, plan.steps + 1):
            wplan = WhatIfPlan(plan.spec(current, seeds[0]), [100], STRUCTURES, plan.floor,
                               plan.workers)
            w = run_whatif(wplan, err, baseline=base_doc, progress=progress)
            chain.runs += w.runs
            row, kind, above = _bound(w, Owners(current))
            if row is None:
                top = w.rows[0] if w.rows else None
                chain.stop = ("no structure a strategy owns bounds throughput"
                              + (f" (the top of the what-if: {top.target.label}, "
                                 f"{top.gain(100, w.base):+.1f}% if removed)"
                                 if top is not None and top.gain(100, w.base) is not None
                                 else ""))
                break
            step = Step(k, dict(current), [], row, kind, above, row.gain(100, w.base))
            names = [n for n in STRATEGIES[kind] if n != current[kind]]
            names += [p for p in plan.candidates.get(kind, []) if p != current[kind]]
            step.tried = [Tried(kind, n) for n in names]
            step_tasks, slots = [], []
            if kind in CHECKED:   # held to its guarantee before it is run
                progress.total += len(names)
                checks = [pool.Task(f"emu check --di {n}", check_verdict,
                                    (n, plan.check_trials)) for n in names]
                chain.checks += len(checks)
                for t, d in zip(step.tried, run_tasks(checks, plan.workers, progress,
                                                      _check_what), strict=True):
                    t.why_not = (d.value if d.value is not None
                                 else f"emu check failed: {d.error}")
            for t in step.tried:
                if not t.why_not:
                    step_tasks.append(pool.Task(f"step {k} {kind}={t.name} seed {seeds[0]}",
                                                measure,
                                                (plan.spec(_selection(current, kind, t.name),
                                                           seeds[0]),)))
                    slots.append(t)
            progress.total += len(step_tasks)
            docs: dict[str, dict] = {}
            for t, d in zip(slots, run_tasks(step_tasks, plan.workers, progress),
                            strict=True):
                o, doc, why = _ops(d)
                if why:
                    t.why_not = f"failed: {why}"
                else:
                    t.ops, docs[t.name] = o, doc
            chain.runs += len(step_tasks)
            runs = [t for t in step.tried if t.ops is not None]
            best = max(runs, key=lambda t: (t.ops, t.name), default=None)
            if best is None or gain_pct(best.ops, ops[0]) < plan.threshold:
                step.ops = ops
                chain.steps.append(step)
                what = (f"the best, {kind}={best.name}, {gain_pct(best.ops, ops[0]):+.1f}%"
                        if best is not None else "none could be run")
                chain.stop = (f"no alternative for {row.target.label} ({kind}) gains "
                              f"{plan.threshold:g}% or more ({what})")
                if on_step:
                    progress.hide()
                    on_step(step)
                break
            chosen = _selection(current, kind, best.name)
            more = [pool.Task(f"step {k} {kind}={best.name} seed {s}", measure,
                              (plan.spec(chosen, s),)) for s in seeds[1:]]
            progress.total += len(more)
            rest = [_ops(d) for d in run_tasks(more, plan.workers, progress)]
            chain.runs += len(more)
            bad = [why for _, _, why in rest if why]
            if bad:
                chain.stop = f"{kind}={best.name} failed on another seed: {bad[0]}"
                chain.failed = True
                break
            new_ops = [best.ops] + [o for o, _, _ in rest]
            step.strategies, step.ops, step.chosen = chosen, new_ops, best
            step.comparison = relative(Dataset.from_points(f"step {k}", new_ops),
                                       Dataset.from_points(f"step {k - 1}", ops))
            chain.steps.append(step)
            if on_step:
                progress.hide()
                on_step(step)
            current, ops, base_doc = chosen, new_ops, docs[best.name]
        else:
            chain.stop = f"{plan.steps} steps taken (--steps)"
    finally:
        progress.close()
        chain.host_s = time.perf_counter() - t0
    return chain


def chain_command(plan: ChainPlan, json_path: str | None, out: TextIO | None = None,
                  err: TextIO | None = None) -> int:
    """`emu chain`: walk, printing each step as it ends; write --json; the exit status."""
    from emu.report.chain import chain_document, chain_header, format_step

    out, err = out or sys.stdout, err or sys.stderr
    out.write(chain_header(plan))
    out.flush()

    def show(step: Step) -> None:
        out.write(format_step(step, plan))
        out.flush()

    try:
        chain = run_chain(plan, err, show)
    except KeyboardInterrupt:
        err.write("emu: interrupted\n")
        return 130
    out.write(f"stop: {chain.stop}\n")
    out.flush()
    err.write(f"emu: {chain.runs} runs and {chain.checks} checks in {chain.host_s:.0f} host "
              "seconds\n")
    if json_path:
        Path(json_path).write_text(json.dumps(chain_document(chain), indent=2) + "\n")
    return 1 if chain.failed else 0
