"""`emu sweep`: will-it-scale's runtest.py over emulated machines.

For each task count, run the testcase's `_processes` then its `_threads` variant (as
runtest.py does), in this process, one Supervisor after another, and print runtest.py's CSV
row as soon as both are measured (formatting: emu/report/runtest.py).  Progress goes to
stderr, the CSV to stdout and, with --csv, to a file written row by row; --json and --plot
are rewritten after every run, so Ctrl-C (or a failure) keeps what was measured.

Choices where runtest.py has no answer:
- Task counts: --tasks LIST, or --step K giving 1, K, 2K, ... up to the machine's CPUs
  (runtest.py's data_points, clipped at the CPUs emu can place tasks on), or by default
  DEFAULT_TASKS up to the machine's CPUs, ending on its CPU count.  Count 1 always comes
  first: runtest.py's `linear` is the 1-task result times the task count.
- A variant as TESTCASE (`mmap1_processes`) runs only that variant; the other variant's
  columns hold NOT_RUN_OPS and NOT_RUN_IDLE, runtest.py's own "nothing ran" values from
  its first row (0 operations, machine 100% idle), not -1, which means "the run failed".
  linear comes from the variant that ran.
- Idle %: runtest.py samples /proc/stat around each run; emu computes the emulated
  machine's idle share (see idle_percent).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from emu.hw.machine import Machine, MachineError, load_machine, set_costs
from emu.machine.spec import RunFailed, RunResult, RunSpec
from emu.machine.supervisor import Supervisor
from emu.report.lock_records import covered_seconds
from emu.report.plot import PlotError, plot_sweeps, require_matplotlib
from emu.report.progress import Progress
from emu.report.runtest import FAILED, FIRST_ROW, HEADER, Row
from emu.report.wis import run_average, run_document
from emu.run import UsageError, build_spec, strategy_words
from emu.runners import Finished, InProcess, Job, Runner, run_args
from emu.testcases import MODES, TestcaseError, builtin_names, resolve
from emu.units import format_duration

DEFAULT_TASKS = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96)
SWEEP_WARMUP = 2   # the virtual clock is exact: runtest.py's 5 samples buy nothing here
SWEEP_SAMPLES = 3
NOT_RUN_OPS = 0
NOT_RUN_IDLE = 100.0


# ---------------------------------------------------------------- input


def parse_tasks(text: str, ncpus: int, machine: str) -> list[int]:
    """`1,2,4,8`: ascending distinct task counts, each 1..ncpus; UsageError otherwise."""
    counts = set()
    for item in text.split(","):
        item = item.strip()
        try:
            n = int(item)
        except ValueError:
            raise UsageError(f"--tasks: {item!r} is not a task count "
                             "(give a list like 1,2,4,8)") from None
        if n < 1:
            raise UsageError(f"--tasks: a task count must be at least 1, not {n}")
        if n > ncpus:
            raise UsageError(f"--tasks: {n} exceeds machine {machine}'s {ncpus} CPUs")
        counts.add(n)
    return sorted(counts)


def step_tasks(step: int, ncpus: int) -> list[int]:
    """runtest.py's data_points for `step`: 1, step, 2*step, ... (clipped at ncpus)."""
    if step < 1:
        raise UsageError(f"--step must be at least 1, not {step}")
    return sorted({1, *range(step, ncpus + 1, step)})


def default_tasks(ncpus: int) -> list[int]:
    return sorted({n for n in DEFAULT_TASKS if n <= ncpus} | {ncpus})


@dataclass
class SweepPlan:
    """Everything a sweep will run, checked before the first run starts."""

    testcase: str                  # as given: a base name (mmap1) or a variant
    base: str                      # the name for titles: mmap1
    description: str
    variants: list[str]            # modes run: ["processes", "threads"] or one of them
    names: dict[str, str]          # mode -> testcase name (or workload path)
    tasks: list[int]
    machine: Machine
    strategies: dict[str, str]
    seed: int
    period: str | None
    warmup: int
    samples: int
    specs: dict[tuple[str, int], RunSpec] = field(default_factory=dict)
    # Each spec as `emu run` arguments, for a runner that runs it elsewhere (emu/runners.py).
    args: dict[tuple[str, int], tuple[str, ...]] = field(default_factory=dict)
    added_one: bool = False        # -t 1 was not asked for but is run, for `linear`

    def spec(self, mode: str, tasks: int) -> RunSpec:
        return self.specs[(mode, tasks)]

    def jobs(self) -> list[Job]:
        """Every run, in runtest.py's order: each task count's processes, then threads."""
        return [Job(f"{self.names[mode]} -t {t}", self.spec(mode, t), self.args[(mode, t)])
                for t in self.tasks for mode in self.variants]


def _variants(testcase: str) -> tuple[str, dict[str, str]]:
    """(base name, {mode: testcase}) for a base name, a variant or a workload file."""
    if testcase in builtin_names() or testcase.endswith(".py") or "/" in testcase:
        tc = resolve(testcase)  # TestcaseError: unknown, or a bad workload file
        base = testcase.rpartition("_")[0] if testcase in builtin_names() else tc.name
        return base, {tc.mode: testcase}
    names = {mode: f"{testcase}_{mode}" for mode in MODES}
    if all(n in builtin_names() for n in names.values()):
        return testcase, names
    bases = sorted({n.rpartition("_")[0] for n in builtin_names()})
    raise UsageError(f"unknown testcase {testcase!r} (a base name runs both variants: "
                     f"{', '.join(bases)}; or name one variant, e.g. {bases[0]}_processes)")


# Shorter samples than `emu run`'s 20ms: a sweep wants the curve, and the virtual clock is
# exact; `emu run`'s default is sized for a steady average at 96 contending CPUs.
SWEEP_PERIOD = "10ms"


def plan_sweep(testcase: str, tasks: str | None, step: int | None, machine: str,
               strategies: dict[str, str | None], seed: int = 0, period: str | None = None,
               warmup: int = SWEEP_WARMUP, samples: int = SWEEP_SAMPLES,
               costs: list[str] | None = None) -> SweepPlan:
    """Check every input and build every run's spec; UsageError (one line) if anything is off.
    `costs`: `--cost NAME=VALUE` settings over the machine's cost table."""
    if tasks is not None and step is not None:
        raise UsageError("give --tasks or --step, not both")
    if samples < 1:
        raise UsageError(f"-s must be at least 1 in a sweep, not {samples}")
    try:
        preset = set_costs(load_machine(machine), costs or ())
        base, names = _variants(testcase)
    except (MachineError, TestcaseError) as exc:
        raise UsageError(str(exc)) from None
    n = preset.ncpus
    if tasks is not None:
        counts = parse_tasks(tasks, n, preset.name)
    elif step is not None:
        counts = step_tasks(step, n)
    else:
        counts = default_tasks(n)
    added_one = counts[0] != 1
    if added_one:
        counts.insert(0, 1)  # linear needs the 1-task result (runtest.py always starts at 1)
    variants = [m for m in MODES if m in names]
    period = period or SWEEP_PERIOD
    plan = SweepPlan(testcase, base, resolve(names[variants[0]]).description, variants, names,
                     counts, preset, {}, seed, period, warmup, samples)
    for t in counts:
        for mode in variants:
            plan.specs[(mode, t)] = build_spec(names[mode], t, samples, False, False, machine,
                                               "virtual", seed, period, warmup, strategies,
                                               costs=costs)
            plan.args[(mode, t)] = run_args(names[mode], t, samples, machine, seed, period,
                                            warmup, strategies, costs=costs or ())
    plan.strategies = dict(plan.specs[(variants[0], 1)].strategies)
    plan.added_one = added_one
    return plan


# ---------------------------------------------------------------- measuring


def idle_percent(result: RunResult) -> float:
    """The emulated machine's idle %, as runtest.py's /proc/stat idle fraction would read.

        idle % = 100 * (ncpus - busy) / ncpus,   busy = tasks - blocked
        blocked = (sum of the locks' block cycles) / (cycles the counters cover)

    Each task keeps its CPU busy for the whole run, except while it sleeps on a turnstile
    (blocked): then that CPU is idle, as a blocked thread's CPU runs the idle thread.  Spin
    time is busy time, as it is on a real CPU.  CPUs with no task are idle.  The block
    cycles and the span both cover every sample, warmup included (covered_seconds).
    """
    return document_idle_percent(run_document(result))


def document_idle_percent(doc: dict) -> float:
    """idle_percent from the run's `emu run --json` document, wherever it ran
    (emu/runners.py): the same numbers, so the same float."""
    ncpus = doc["ncpus"]
    samples = len(doc["warmup"]) + len(doc["samples"])
    span = round(covered_seconds(samples, doc["period_s"]) * doc["freq_hz"])  # Machine.cycles
    block = sum(int(lock.get("block_cycles", 0)) for lock in doc["locks"])
    blocked = block / span if span > 0 else 0.0
    busy = max(0.0, doc["tasks"] - blocked)
    return min(100.0, max(0.0, 100.0 * (ncpus - busy) / ncpus))


@dataclass
class Measured:
    average: int        # FAILED (-1) when the run did not finish
    idle: float
    result: RunResult
    host_s: float
    interrupted: bool = False


def measure(spec: RunSpec) -> Measured:
    """One run, in this process (the Supervisor stops its children on every way out).

    RunFailed gives FAILED; Ctrl-C gives FAILED with `interrupted` set, so the caller can
    keep the partial run before it stops the sweep.
    """
    t0 = time.perf_counter()
    sup = Supervisor(spec)
    average, interrupted = FAILED, False
    try:
        sup.run(lambda sample: None)
        average = run_average(sup.result)
    except RunFailed as exc:
        sup.result.error = str(exc)
    except KeyboardInterrupt:
        sup.result.error = "interrupted"
        interrupted = True
    return Measured(average, idle_percent(sup.result), sup.result,
                    time.perf_counter() - t0, interrupted)


# ---------------------------------------------------------------- the sweep


class Outputs:
    """The CSV (stdout and --csv, row by row), the JSON and the plot (after every run)."""

    def __init__(self, plan: SweepPlan, out: TextIO, csv_path: str | None,
                 json_path: str | None, plot_path: str | None, compare: list[dict]) -> None:
        self.plan, self.out = plan, out
        self.json_path, self.plot_path, self.compare = json_path, plot_path, compare
        self.compare_names = [s.get("file", "compared") for s in compare]
        self.rows: list[Row] = []
        self.runs: list[dict] = []
        self.csv = None
        if csv_path:
            try:
                self.csv = open(csv_path, "w")  # noqa: SIM115 - closed in close()
            except OSError as exc:
                raise UsageError(f"cannot write {csv_path}: {exc.strerror or exc}") from None
        self.line(HEADER)
        self.line(FIRST_ROW)

    def line(self, text: str) -> None:
        for f in (self.out, self.csv):
            if f is not None:
                f.write(text + "\n")
                f.flush()

    def sweep_document(self) -> dict:
        p = self.plan
        return {
            "testcase": p.testcase, "base": p.base, "description": p.description,
            "variants": p.variants,
            "not_run": [m for m in ("processes", "threads") if m not in p.variants],
            "machine": p.machine.name, "ncpus": p.machine.ncpus,
            "costs_set": dict(p.machine.changed), "strategies": p.strategies,
            "clock": "virtual", "seed": p.seed, "period_s": p.spec(p.variants[0], 1).period_s,
            "warmup": p.warmup, "samples": p.samples, "tasks": p.tasks,
            "csv": [HEADER, FIRST_ROW, *(r.csv() for r in self.rows)],
            "rows": [r.as_dict() for r in self.rows],
        }

    def save_json(self) -> None:
        """Rewrite --json from what has been measured so far (after every run)."""
        if self.json_path:
            doc = {"sweep": self.sweep_document(), "runs": self.runs}
            tmp = f"{self.json_path}.tmp"
            Path(tmp).write_text(json.dumps(doc, indent=2) + "\n")
            os.replace(tmp, self.json_path)  # never a half-written file

    def save_plot(self) -> None:
        """Draw --plot from the rows measured (at the end: matplotlib takes a while)."""
        if self.plot_path and self.rows:
            plot_sweeps(self.plot_path, [self.sweep_document(), *self.compare],
                        ["this sweep", *self.compare_names])

    def close(self) -> None:
        if self.csv is not None:
            self.csv.close()


def load_compare(path: str) -> dict:
    """The `sweep` object of another `emu sweep --json` file, for --compare-json."""
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not JSON ({exc})") from None
    sweep = doc.get("sweep") if isinstance(doc, dict) else None
    if not isinstance(sweep, dict) or not isinstance(sweep.get("rows"), list):
        raise UsageError(f"{path}: not an `emu sweep --json` file (no \"sweep\" rows)")
    return {**sweep, "file": Path(path).name}


def check_output_path(path: str | None, flag: str) -> None:
    if path and not Path(path).resolve().parent.is_dir():
        raise UsageError(f"{flag}: no directory for {path}")


def run_sweep(plan: SweepPlan, csv_path: str | None = None, json_path: str | None = None,
              plot_path: str | None = None, compare_json: str | None = None,
              out: TextIO | None = None, err: TextIO | None = None,
              runner: Runner | None = None) -> int:
    """Run the plan; returns the exit status (0, 1 if a run failed, 130 on Ctrl-C).
    `runner` says where the runs execute (emu/runners.py; default: here, one by one).

    Raises UsageError before the first run for bad output paths or --compare-json.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    runner = runner or InProcess(measure)
    for path, flag in ((csv_path, "--csv"), (json_path, "--json"), (plot_path, "--plot")):
        check_output_path(path, flag)
    if compare_json and not plot_path:
        raise UsageError("--compare-json draws on the --plot; give --plot PATH too")
    compare = [load_compare(compare_json)] if compare_json else []
    if plot_path:
        try:
            require_matplotlib()
        except PlotError as exc:
            raise UsageError(str(exc)) from None

    p = plan
    first = p.spec(p.variants[0], 1)
    err.write(f"emu: sweep {p.testcase} on {p.machine.label} ({p.machine.ncpus} CPUs), "
              f"{strategy_words(p.strategies)}, seed {p.seed}, clock virtual, "
              f"{p.warmup}+{p.samples} samples of {format_duration(first.period_s)} "
              f"emulated time, tasks {','.join(map(str, p.tasks))}\n")
    if p.added_one:
        err.write("emu: sweep: also running 1 task: linear is the 1-task result times tasks\n")
    err.flush()
    if runner.where:
        err.write(f"emu: running on {runner.where}\n")
    outputs = Outputs(p, out, csv_path, json_path, plot_path, compare)
    jobs = p.jobs()
    progress = Progress(err, len(jobs), runner.where)
    came: dict[int, tuple[Finished, float]] = {}  # finished, not yet in the outputs
    written, code, linear1 = 0, 0, None
    got: dict[str, tuple[int, float]] = {}
    try:
        for f in runner.run(jobs):
            idle = document_idle_percent(f.doc) if f.doc is not None else NOT_RUN_IDLE
            came[f.index] = (f, idle)
            if not f.interrupted:
                what = (f"average {f.average} ops/s, idle {idle:.2f}%"
                        if f.average != FAILED else f.what)
                progress.finished(f"{jobs[f.index].label}: {what}", f.host_s)
                code = code or (1 if f.average == FAILED else 0)
            # The outputs take the runs in the plan's order, whatever order they came in.
            while written in came:
                f, idle = came.pop(written)
                mode, t = p.variants[written % len(p.variants)], jobs[written].spec.tasks
                written += 1
                if f.doc is not None:
                    outputs.runs.append(f.doc)
                if f.interrupted:
                    raise KeyboardInterrupt
                got[mode] = (f.average, idle)
                outputs.save_json()
                if len(got) < len(p.variants):
                    continue
                if linear1 is None:  # runtest.py: `if i == 1: linear = max(...)`
                    linear1 = max(avg for avg, _ in got.values())
                proc = got.get("processes", (NOT_RUN_OPS, NOT_RUN_IDLE))
                thr = got.get("threads", (NOT_RUN_OPS, NOT_RUN_IDLE))
                row = Row(t, proc[0], proc[1], thr[0], thr[1], linear1 * t)
                outputs.rows.append(row)
                progress.hide()  # stdout may be the terminal the bar is drawn on
                outputs.line(row.csv())
                progress.show()
                got = {}
    except KeyboardInterrupt:
        progress.close()
        # Runs a cluster finished ahead of the plan's order are kept too.
        outputs.runs.extend(f.doc for i, (f, _) in sorted(came.items()) if f.doc is not None)
        err.write("emu: interrupted\n")
        code = 130
    finally:
        progress.close()
        outputs.close()
        outputs.save_json()
        try:
            outputs.save_plot()
        except PlotError as exc:
            err.write(f"emu: {exc}\n")
            code = code or 1
    return code
