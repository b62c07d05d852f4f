"""`emu experiment FILE.toml [--out DIR]`: a whole write-up's runs, from one file.

The file names a matrix, testcases x variants (strategy choices) x task counts x seeds:

    [experiment]
    name = "case-study"              # default: the file's stem; also the default DIR
    description = "..."              # optional, quoted at the top of report.md
    testcases = ["mmap1_processes"]  # or testcase = "..."
    machine = "skylake-2s"           # optional
    tasks = [1, 8, 24, 48, 96]
    seeds = [1, 2, 3]                # at least 3: each seed is one ministat data point
    period = "2ms"                   # optional, as emu run's --period
    warmup = 1                       # optional (default 1)
    samples = 2                      # optional (default 2)
    baseline = "mutex"               # the variant the others are compared with
    compare_at = 96                  # optional: the task count ministat compares (largest)
    profile = true                   # optional: --profile the runs at compare_at

    [[variant]]
    name = "mutex"                   # letters, digits, - _ .
    description = "..."              # optional
    di = "mutex"                     # optional: swap, ucred likewise (default strategies)
    costs = { line_other_socket = "150ns" }  # optional: as emu run's --cost NAME=VALUE

Each run goes through the same RunSpec and Supervisor as `emu run` and `emu sweep`
(emu.run.build_spec, emu.sweep.measure) and leaves its `emu run --json` document in
DIR/runs/<testcase>/<variant>/t<tasks>-seed<seed>.json, written whole (temporary file, then
rename) once the run is over.  Resume: a run whose JSON is there, finished without error,
with the same parameters, is not run again, so an interrupted experiment picks up where it
stopped and a finished one only redraws its report.  The report (emu/experiment/report.py)
is written when every run is there.

A malformed file is one line naming the file and what is wrong (ExperimentError, exit 2).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from emu.hw.machine import DEFAULT_MACHINE, MachineError, load_machine
from emu.kernel.strategies import KINDS
from emu.machine.spec import RunSpec
from emu.run import UsageError, build_spec

EXPERIMENT_KEYS = {"name", "description", "testcase", "testcases", "machine", "tasks", "seeds",
                   "period", "warmup", "samples", "baseline", "compare_at", "profile"}
VARIANT_KEYS = {"name", "description", "costs", *KINDS}
MIN_SEEDS = 3  # ministat(1) needs at least 3 data points
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ExperimentError(ValueError):
    """A malformed experiment file: one line, exit status 2."""


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    strategies: dict[str, str]   # as given (kinds left out take the defaults)
    costs: tuple[str, ...] = ()  # `NAME=VALUE` settings over the machine's costs (--cost)


@dataclass
class Run:
    testcase: str
    variant: Variant
    tasks: int
    seed: int
    spec: RunSpec
    path: Path                   # its JSON, under DIR

    @property
    def label(self) -> str:
        return f"{self.testcase} {self.variant.name} -t {self.tasks} seed {self.seed}"


@dataclass
class Experiment:
    name: str
    description: str
    source: Path
    testcases: list[str]
    machine: str
    tasks: list[int]
    seeds: list[int]
    period: str | None
    warmup: int
    samples: int
    baseline: str
    compare_at: int
    profile: bool
    variants: list[Variant]
    runs: list[Run] = field(default_factory=list)

    def variant(self, name: str) -> Variant:
        return next(v for v in self.variants if v.name == name)


# ---------------------------------------------------------------- reading the file


def _type_error(where: str, key: str, what: str) -> ExperimentError:
    return ExperimentError(f"{where}: `{key}` must be {what}")


def _int_list(table: dict, key: str, where: str, minimum: int) -> list[int]:
    value = table.get(key)
    if (not isinstance(value, list) or not value
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise _type_error(where, key, "a non-empty list of integers, e.g. [1, 2, 3]")
    if min(value) < minimum:
        raise ExperimentError(f"{where}: `{key}` values must be at least {minimum}")
    if len(set(value)) != len(value):
        raise ExperimentError(f"{where}: `{key}` lists a value twice")
    return sorted(value)


def _str(table: dict, key: str, where: str, default: str | None = None) -> str | None:
    value = table.get(key, default)
    if value is not None and not isinstance(value, str):
        raise _type_error(where, key, "a string")
    return value


def _count(table: dict, key: str, where: str, default: int, minimum: int) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _type_error(where, key, f"an integer of at least {minimum}")
    return value


def _unknown(table: dict, known: set[str], where: str) -> None:
    extra = sorted(set(table) - known)
    if extra:
        raise ExperimentError(f"{where}: unknown key `{extra[0]}` (known: "
                              f"{', '.join(sorted(known))})")


def _variants(data: dict, where: str) -> list[Variant]:
    tables = data.get("variant")
    if not isinstance(tables, list) or not tables:
        raise ExperimentError(f"{where}: no [[variant]] tables (each names one strategy "
                              "choice, e.g. name = \"epoch\", di = \"epoch\")")
    variants: list[Variant] = []
    for n, table in enumerate(tables, start=1):
        at = f"{where}: variant {n}"
        if not isinstance(table, dict):
            raise ExperimentError(f"{at}: not a table")
        _unknown(table, VARIANT_KEYS, at)
        name = _str(table, "name", at)
        if not name or not SAFE_NAME.match(name):
            raise ExperimentError(f"{at}: `name` must be letters, digits, '-', '_' or '.'")
        if any(v.name == name for v in variants):
            raise ExperimentError(f"{at}: a second variant named {name!r}")
        strategies = {k: _str(table, k, f"{where}: variant {name!r}") for k in KINDS
                      if k in table}
        variants.append(Variant(name, _str(table, "description", at, "") or "", strategies,
                                _costs(table, f"{where}: variant {name!r}")))
    return variants


def _costs(table: dict, where: str) -> tuple[str, ...]:
    """A variant's `costs = { NAME = VALUE, ... }` as --cost settings (checked in plan_runs,
    where the machine is known)."""
    costs = table.get("costs", {})
    if not isinstance(costs, dict) or not all(
            isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in costs.values()):
        raise _type_error(where, "costs", 'a table of costs, e.g. { pause = 100, '
                          'line_other_socket = "150ns" }')
    return tuple(f"{k}={v}" for k, v in costs.items())


def load_experiment(path: str, out: str | None = None) -> Experiment:
    """Read and check the whole file and build every run's spec; ExperimentError if
    anything is wrong, before anything runs."""
    where = path
    try:
        data = tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise ExperimentError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ExperimentError(f"{where}: not a text file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ExperimentError(f"{where}: not valid TOML: {exc}") from None
    _unknown(data, {"experiment", "variant"}, where)
    table = data.get("experiment")
    if not isinstance(table, dict):
        raise ExperimentError(f"{where}: no [experiment] table")
    _unknown(table, EXPERIMENT_KEYS, f"{where}: [experiment]")
    at = f"{where}: [experiment]"
    name = _str(table, "name", at, Path(path).stem)
    if not name or not SAFE_NAME.match(name):
        raise ExperimentError(f"{at}: `name` must be letters, digits, '-', '_' or '.'")
    if "testcase" in table and "testcases" in table:
        raise ExperimentError(f"{at}: give `testcase` or `testcases`, not both")
    testcases = table.get("testcases", [table["testcase"]] if "testcase" in table else None)
    if (not isinstance(testcases, list) or not testcases
            or not all(isinstance(t, str) and t for t in testcases)):
        raise ExperimentError(f"{at}: `testcases` must be a non-empty list of testcase names "
                              "(see `emu list`), or give one `testcase`")
    if len(set(testcases)) != len(testcases):
        raise ExperimentError(f"{at}: `testcases` lists a testcase twice")
    machine = _str(table, "machine", at, DEFAULT_MACHINE)
    try:
        ncpus = load_machine(machine).ncpus
    except MachineError as exc:
        raise ExperimentError(f"{at}: {exc}") from None
    tasks = _int_list(table, "tasks", at, 1)
    if max(tasks) > ncpus:
        raise ExperimentError(f"{at}: `tasks` {max(tasks)} exceeds machine {machine}'s "
                              f"{ncpus} CPUs")
    seeds = _int_list(table, "seeds", at, 0)
    if len(seeds) < MIN_SEEDS:
        raise ExperimentError(f"{at}: `seeds` needs at least {MIN_SEEDS} seeds (each is one "
                              "ministat data point)")
    period = _str(table, "period", at)
    warmup = _count(table, "warmup", at, 1, 0)
    samples = _count(table, "samples", at, 2, 1)
    compare_at = _count(table, "compare_at", at, max(tasks), 1)
    if compare_at not in tasks:
        raise ExperimentError(f"{at}: `compare_at` {compare_at} is not one of `tasks`")
    profile = table.get("profile", False)
    if not isinstance(profile, bool):
        raise _type_error(at, "profile", "true or false")
    variants = _variants(data, where)
    baseline = _str(table, "baseline", at, variants[0].name)
    if baseline not in [v.name for v in variants]:
        raise ExperimentError(f"{at}: `baseline` {baseline!r} is not a variant (variants: "
                              f"{', '.join(v.name for v in variants)})")
    exp = Experiment(name, _str(table, "description", at, "") or "", Path(path), testcases,
                     machine, tasks, seeds, period, warmup, samples, baseline, compare_at,
                     profile, variants)
    plan_runs(exp, Path(out or f"{name}-results"))
    return exp


def plan_runs(exp: Experiment, out: Path) -> None:
    """Every run's spec and JSON path; the runs at the compare point first are profiled
    when asked.  Bad names and values surface here, as emu run states them."""
    exp.runs = []
    for tc in exp.testcases:
        for v in exp.variants:
            for t in exp.tasks:
                for seed in exp.seeds:
                    try:
                        spec = build_spec(tc, t, exp.samples, False, False, exp.machine,
                                          "virtual", seed, exp.period, exp.warmup,
                                          v.strategies,
                                          profile=exp.profile and t == exp.compare_at,
                                          costs=list(v.costs))
                    except UsageError as exc:
                        raise ExperimentError(f"{exp.source}: variant {v.name!r}: {exc}"
                                              ) from None
                    path = out / "runs" / safe_name(tc) / v.name / f"t{t}-seed{seed}.json"
                    exp.runs.append(Run(tc, v, t, seed, spec, path))


def safe_name(testcase: str) -> str:
    """A directory name for a testcase (a workload path becomes its file's stem)."""
    return Path(testcase).stem if ("/" in testcase or testcase.endswith(".py")) else testcase


# ---------------------------------------------------------------- running






def write_whole(path: Path, text: str) -> None:
    """Write `text` so that `path` is either absent or complete, never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


