"""`emu whatif`: a causal profile of one run: what speeding up each target would buy.

For the given testcase, task count and strategies, on one seed:

1. the baseline, once (with --profile when kernel functions are targets: the profile
   names them, and a profiled run's result is the plain run's);
2. its targets (emu/causal/targets.py): the locks, (lock, caller) pairs, hot lines and
   kernel functions it observed, each over `floor` percent of its kind's cycles;
3. every target at the largest speed-up asked for (by default 100%: its cost removed);
4. the smaller speed-ups, only for the targets whose largest one bought MARK_PCT or more
   (a target that buys nothing when free buys nothing when 25% faster);

each run the same spec and seed with one target virtually sped up inside the model
(emu/causal/speedup.py), never arithmetic on results, so every figure is a run's
`average:` and reproduces bit-identically (`emu whatif` twice prints the same table).
The runs are independent and go side by side on the host's cores (emu/causal/pool.py).

Shorter runs than `emu run`'s: WHATIF_PERIOD samples, WHATIF_WARMUP + WHATIF_SAMPLES of
them.  A what-if compares runs of one seed, so the question is not the absolute figure
but whether a gain stands above the run's own wobble; the header gives the baseline's
sample spread to judge by, and --period / -s / --warmup lengthen the runs.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from emu.causal import pool
from emu.causal.speedup import Speedup, Target
from emu.causal.targets import TARGET_KINDS, Observed, observed_targets
from emu.machine.spec import RunFailed, RunSpec
from emu.run import UsageError, build_spec

DEFAULT_SPEEDUPS = (25, 50, 100)
WHATIF_PERIOD = "10ms"
WHATIF_WARMUP = 1
WHATIF_SAMPLES = 2
MARK_PCT = 1.0       # a target whose largest speed-up buys less is marked, its others not run
DEFAULT_FLOOR = 1.0  # percent of its kind's cycles a target needs in the baseline
FAILED = -1


class WhatIfFailed(RuntimeError):
    """The baseline could not be run (one line, exit status 1)."""


# ------------------------------------------------------------------ input

def parse_speedups(text: str) -> list[int]:
    """`25,50,100`: distinct percentages 1..100, ascending; UsageError otherwise."""
    out = set()
    for item in text.split(","):
        item = item.strip().rstrip("%")
        try:
            p = int(item)
        except ValueError:
            raise UsageError(f"--speedup: {item!r} is not a percentage (give e.g. "
                             "25,50,100)") from None
        if not 1 <= p <= 100:
            raise UsageError(f"--speedup: {p} is not between 1 and 100")
        out.add(p)
    return sorted(out)


def parse_kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    bad = [k for k in kinds if k not in TARGET_KINDS]
    if bad or not kinds:
        raise UsageError(f"--kinds: {', '.join(bad) or text!r}: give some of "
                         f"{','.join(TARGET_KINDS)}")
    return kinds


@dataclass
class WhatIfPlan:
    spec: RunSpec                 # the baseline's run
    speedups: list[int]           # ascending; the last is the one every target gets
    kinds: tuple[str, ...] = TARGET_KINDS
    floor: float = DEFAULT_FLOOR
    workers: int | None = None    # None: the host's cores

    @property
    def top(self) -> int:
        return self.speedups[-1]


def plan_whatif(testcase: str, tasks: int, strategies: dict[str, str | None],
                speedups: str = "25,50,100", kinds: str = ",".join(TARGET_KINDS),
                floor: float = DEFAULT_FLOOR, workers: int | None = None,
                machine: str | None = None, seed: int = 0, period: str | None = None,
                warmup: int = WHATIF_WARMUP, samples: int = WHATIF_SAMPLES,
                costs: list[str] | None = None) -> WhatIfPlan:
    """Check every input; UsageError (one line) for anything the user got wrong."""
    from emu.hw.machine import DEFAULT_MACHINE

    chosen = parse_kinds(kinds)
    if samples < 1:
        raise UsageError(f"-s must be at least 1 in a what-if, not {samples}")
    if floor < 0:
        raise UsageError(f"--floor must not be negative, not {floor:g}")
    if workers is not None and workers < 1:
        raise UsageError(f"-j must be at least 1, not {workers}")
    spec = build_spec(testcase, tasks, samples, False, False, machine or DEFAULT_MACHINE,
                      "virtual", seed, period or WHATIF_PERIOD, warmup, strategies,
                      profile="function" in chosen, costs=costs)
    return WhatIfPlan(spec, parse_speedups(speedups), chosen, floor, workers)


# ------------------------------------------------------------------ running

def measure(spec: RunSpec) -> dict:
    """One run to its end, quietly: its `emu run --json` document (with `error` if it
    failed).  In a pool worker."""
    from emu.machine.supervisor import Supervisor
    from emu.report.wis import run_document

    sup = Supervisor(spec)
    try:
        sup.run(lambda sample: None)
    except RunFailed as exc:
        sup.result.error = str(exc)
    return run_document(sup.result)


def fresh(spec: RunSpec, **changes) -> RunSpec:
    """A copy of a spec as build_spec made it (prepare() fills in the rest), changed."""
    return dataclasses.replace(spec, cpus=[], kernel=None, rundir="", endpoint="", **changes)


def sped_up(base: RunSpec, speedup: Speedup | None) -> RunSpec:
    """The baseline's run with one target sped up (and not profiled)."""
    return fresh(base, speedup=speedup, profile=False)


def gain_pct(ops: int, base: int) -> float:
    return 100.0 * (ops - base) / base if base > 0 else 0.0


@dataclass
class Row:
    observed: Observed
    ops: dict[int, int] = field(default_factory=dict)      # percent -> ops/s (FAILED)
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def target(self) -> Target:
        return self.observed.target

    def gain(self, percent: int, base: int) -> float | None:
        ops = self.ops.get(percent)
        return None if ops is None or ops == FAILED else gain_pct(ops, base)


@dataclass
class WhatIf:
    plan: WhatIfPlan
    baseline: dict                 # the baseline's run document
    rows: list[Row]                # ranked: the largest gain at the top speed-up first
    host_s: float = 0.0
    runs: int = 0

    @property
    def base(self) -> int:
        return int(self.baseline["average"])

    def marked(self, row: Row) -> bool:
        """Whether the target's largest speed-up buys less than MARK_PCT."""
        g = row.gain(self.plan.top, self.base)
        return g is not None and g < MARK_PCT

    @property
    def failed(self) -> bool:
        return any(row.errors for row in self.rows)


def run_what(d: pool.Done) -> str:
    """A finished run for its progress line: `average N ops/s` or why not."""
    doc = d.value
    if d.error or doc is None:
        return f"failed: {d.error}"
    if doc.get("error"):
        return f"failed: {doc['error']}"
    return f"average {doc['average']} ops/s"


def run_tasks(tasks: list[pool.Task], workers: int | None, progress,
              what: Callable[[pool.Done], str] = run_what) -> list[pool.Done]:
    """Every task through the pool, each told to `progress` as it finishes (`what` says
    how it ended)."""
    done: list[pool.Done] = [None] * len(tasks)   # type: ignore[list-item]
    for d in pool.run(tasks, workers):
        done[d.index] = d
        if progress is not None:
            progress.finished(f"{tasks[d.index].label}: {what(d)}", d.host_s)
    return done


def _average(d: pool.Done) -> tuple[int, str]:
    doc = d.value
    if d.error or doc is None:
        return FAILED, d.error or "no result"
    if doc.get("error"):
        return FAILED, doc["error"]
    return int(doc["average"]), ""


def speedable(spec: RunSpec, observed: list[Observed]) -> list[Observed]:
    """The targets this run's kernel can speed up (a run's `lines` also list what is not
    a cache line: each socket's memory controllers)."""
    probe = fresh(spec)
    probe.prepare()
    out = []
    for o in observed:
        try:
            Speedup(o.target, 100).check(probe.kernel)
        except ValueError:
            continue
        out.append(o)
    return out


def run_whatif(plan: WhatIfPlan, err: TextIO | None = None, baseline: dict | None = None,
               progress=None) -> WhatIf:
    """Baseline (unless given: a run document of plan.spec), then the targets' runs."""
    from emu.report.progress import Progress

    err = err or sys.stderr
    t0 = time.perf_counter()
    own = progress is None
    if own:
        progress = Progress(err, 0 if baseline is not None else 1)
    runs = 0
    try:
        if baseline is None:
            [d] = run_tasks([pool.Task("baseline", measure, (fresh(plan.spec),))], 1,
                            progress)
            runs += 1
            if d.error or d.value is None or d.value.get("error"):
                raise WhatIfFailed(f"the baseline run failed: "
                                   f"{d.error or (d.value or {}).get('error')}")
            baseline = d.value
        base = int(baseline["average"])
        rows = [Row(o) for o in speedable(plan.spec, observed_targets(baseline, plan.kinds,
                                                                      plan.floor))]
        passes = [[(row, plan.top) for row in rows]]
        for n in range(2):
            if n == 1:   # the smaller speed-ups of the targets that bought something
                keep = [row for row in rows
                        if (g := row.gain(plan.top, base)) is not None and g >= MARK_PCT]
                passes.append([(row, p) for row in keep for p in plan.speedups[:-1]])
            todo = passes[n]
            if not todo:
                continue
            progress.total += len(todo)
            tasks = [pool.Task(f"{row.target.label} +{p}%", measure,
                               (sped_up(plan.spec, Speedup(row.target, p)),))
                     for row, p in todo]
            for (row, p), d in zip(todo, run_tasks(tasks, plan.workers, progress),
                                   strict=True):
                ops, why = _average(d)
                row.ops[p] = ops
                if why:
                    row.errors[p] = why
            runs += len(todo)
    finally:
        if own:
            progress.close()

    def rank(row: Row) -> tuple:
        g = row.gain(plan.top, base)
        return (g is None, -(g or 0.0), row.target.label)

    return WhatIf(plan, baseline, sorted(rows, key=rank), time.perf_counter() - t0, runs)


def whatif_command(plan: WhatIfPlan, json_path: str | None, plot_path: str | None,
                   out: TextIO | None = None, err: TextIO | None = None) -> int:
    """`emu whatif`: run, print the table, write --json and --plot; the exit status."""
    from emu.report.plot import PlotError, require_matplotlib
    from emu.report.whatif import plot_whatif, whatif_document, whatif_table
    from emu.run import describe

    out, err = out or sys.stdout, err or sys.stderr
    if plot_path:
        try:
            require_matplotlib()   # fail before the runs, not after
        except PlotError as exc:
            raise UsageError(str(exc)) from None
    err.write(describe(plan.spec).replace("emu: ", "emu: what-if of ", 1) + "\n")
    err.flush()
    try:
        w = run_whatif(plan, err)
    except WhatIfFailed as exc:
        err.write(f"emu: {exc}\n")
        return 1
    except KeyboardInterrupt:
        err.write("emu: interrupted\n")
        return 130
    out.write(whatif_table(w))
    out.flush()
    err.write(f"emu: {w.runs} runs in {w.host_s:.0f} host seconds\n")
    if json_path:
        Path(json_path).write_text(json.dumps(whatif_document(w), indent=2) + "\n")
    if plot_path:
        try:
            plot_whatif(plot_path, w)
        except PlotError as exc:
            err.write(f"emu: {exc}\n")
            return 1
    return 1 if w.failed else 0
