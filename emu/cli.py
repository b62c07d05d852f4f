"""emu's command line: parses, then delegates. Nothing here models a kernel or formats a report."""

from __future__ import annotations

import os
import sys

import typer

from emu.hw.machine import DEFAULT_MACHINE
from emu.kernel.strategies import DEFAULTS, STRATEGIES

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="emu: an emulated many-CPU kernel for studying scalability collapses.",
)
validate_app = typer.Typer(no_args_is_help=True,
                           help="Validate emu's primitives under real concurrency.")
app.add_typer(validate_app, name="validate")


@app.callback()
def _root(
    rundir: str = typer.Option(None, "--rundir", metavar="DIR",
                               help="Make run directories (and find live runs) under DIR "
                                    "instead of $TMPDIR; the same as EMU_RUNDIR=DIR."),
) -> None:
    if rundir:
        os.environ["EMU_RUNDIR"] = rundir  # emu/machine/rundir.py reads it; forked children inherit


def _strategy_help(kind: str, what: str) -> str:
    return (f"{what}: {' | '.join(STRATEGIES[kind])} (default {DEFAULTS[kind]}), or a "
            f"file ./my_{kind}.py (`emu list --interface {kind}`).")


def _di() -> typer.Option:
    return typer.Option(None, "--di", help=_strategy_help("di", "Delayed invalidation"))


def _swap() -> typer.Option:
    return typer.Option(None, "--swap", help=_strategy_help("swap", "Swap reservation"))


def _ucred() -> typer.Option:
    return typer.Option(None, "--ucred", help=_strategy_help("ucred", "ucred refcount"))


# A list option's default must be one object (ruff B008); typer only reads it.
COST_OPTION = typer.Option(None, "--cost", metavar="NAME=VALUE",
                           help="Set one of the machine's costs (repeatable): cycles, or a "
                           "duration such as 150ns (`emu list --costs` lists them).")


def _workers() -> typer.Option:
    return typer.Option(None, "--workers", metavar="N",
                        help="Run the runs on a local Dask cluster of N worker processes "
                        "(127.0.0.1 only; needs Dask, emu's cluster extra).")


def _scheduler() -> typer.Option:
    return typer.Option(None, "--scheduler", metavar="tcp://HOST:PORT",
                        help="Run the runs on the Dask cluster of this scheduler (`dask "
                        "scheduler`, dask-jobqueue, ...).")


def fail(message: str, code: int = 2) -> None:
    """One clear line on stderr and a non-zero exit: emu's answer to bad input."""
    typer.echo(f"emu: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def run(
    testcase: str = typer.Argument(..., help="A testcase (see `emu list`) or a workload file."),
    tasks: int = typer.Option(1, "-t", help="Tasks (emulated CPUs busy)."),
    samples: int = typer.Option(0, "-s", help="Measured samples (0: until interrupted)."),
    smt: bool = typer.Option(False, "-m", help="Place tasks on SMT threads (default: cores)."),
    unbound: bool = typer.Option(False, "-n", help="Do not bind tasks to CPUs."),
    verbose: bool = typer.Option(False, "-v", help="Print each task's count per sample."),
    machine: str = typer.Option(DEFAULT_MACHINE, "--machine", help="Machine preset or TOML."),
    clock: str = typer.Option("virtual", "--clock", help="virtual (reproducible) or wall."),
    seed: int = typer.Option(0, "--seed", help="Seed of the CPUs' RNGs."),
    period: str = typer.Option(None, "--period",
                               help="Length of a sample (default 20ms emulated; 1s for wall)."),
    warmup: int = typer.Option(6, "--warmup", help="Warmup samples before measurement."),
    json_path: str = typer.Option(None, "--json", help="Also write the run as JSON here."),
    di: str = _di(),
    swap: str = _swap(),
    ucred: str = _ucred(),
    cost: list[str] = COST_OPTION,
    lockstat: bool = typer.Option(False, "--lockstat",
                                  help="Then print FreeBSD lockstat(1)'s contention report."),
    lock_stat: bool = typer.Option(False, "--lock-stat",
                                   help="Then print Linux /proc/lock_stat's table."),
    profile: bool = typer.Option(False, "--profile",
                                 help="Then print where the cycles went, as pmcstat -T."),
    live: bool = typer.Option(None, "--live/--no-live",
                              help="Live view on stderr (default: when stdout is a terminal)."),
) -> None:
    """Run a will-it-scale testcase on an emulated machine."""
    from emu.run import UsageError, build_spec, run_command

    try:
        spec = build_spec(testcase, tasks, samples, smt, unbound, machine, clock, seed, period,
                          warmup, strategies={"di": di, "swap": swap, "ucred": ucred},
                          profile=profile, costs=cost)
    except UsageError as exc:
        fail(str(exc))
    raise typer.Exit(run_command(spec, verbose, json_path, lockstat, lock_stat, live))


@app.command()
def sweep(
    testcase: str = typer.Argument(..., help="mmap1 (both variants), mmap1_processes (one), "
                                   "or a workload file."),
    tasks: str = typer.Option(None, "--tasks", "-t",
                              help="Task counts, e.g. 1,2,4,8,12,16,24,32,48,64,96 (default: "
                              "those up to the machine's CPUs, and its CPU count)."),
    step: int = typer.Option(None, "--step",
                             help="Task counts 1, K, 2K, ... up to the machine's CPUs "
                             "(runtest.py's step)."),
    machine: str = typer.Option(DEFAULT_MACHINE, "--machine", help="Machine preset or TOML."),
    seed: int = typer.Option(0, "--seed", help="Seed of the CPUs' RNGs."),
    period: str = typer.Option(None, "--period", help="Length of a sample (sweep default 10ms "
                               "emulated)."),
    warmup: int = typer.Option(2, "--warmup", help="Warmup samples per run (fewer than `emu "
                               "run`'s 6: the virtual clock is exact)."),
    samples: int = typer.Option(3, "-s", help="Measured samples per run (fewer than "
                                "runtest.py's 5: the virtual clock is exact)."),
    di: str = _di(),
    swap: str = _swap(),
    ucred: str = _ucred(),
    cost: list[str] = COST_OPTION,
    csv_path: str = typer.Option(None, "--csv", help="Also write the CSV here."),
    json_path: str = typer.Option(None, "--json",
                                  help="Write the sweep and each run's emu run JSON here."),
    plot_path: str = typer.Option(None, "--plot", help="Write a PNG of ops/s against tasks."),
    compare_json: str = typer.Option(None, "--compare-json",
                                     help="Draw another sweep's --json on the same --plot."),
    workers: int = _workers(),
    scheduler: str = _scheduler(),
) -> None:
    """will-it-scale's runtest.py: a CSV of ops/s and idle % over task counts."""
    from emu.run import UsageError
    from emu.runners import RunnerError, open_cluster
    from emu.sweep import plan_sweep, run_sweep

    try:
        plan = plan_sweep(testcase, tasks, step, machine,
                          {"di": di, "swap": swap, "ucred": ucred}, seed, period, warmup,
                          samples, costs=cost)
        with open_cluster(workers, scheduler) as runner:
            code = run_sweep(plan, csv_path, json_path, plot_path, compare_json,
                             runner=runner)
    except (UsageError, RunnerError) as exc:
        fail(str(exc))
    raise typer.Exit(code)


@app.command()
def experiment(
    file: str = typer.Argument(..., help="The experiment's TOML file (see "
                               "examples/case-study.toml)."),
    out: str = typer.Option(None, "--out", help="Output directory (default: NAME-results); "
                            "runs already there are not run again."),
    workers: int = _workers(),
    scheduler: str = _scheduler(),
) -> None:
    """Run a matrix of testcases x strategies x tasks x seeds; write JSON, CSV, plots,
    ministat comparisons and report.md."""
    from emu.experiment.model import ExperimentError, load_experiment
    from emu.experiment.run import run_experiment
    from emu.runners import RunnerError, open_cluster

    try:
        exp = load_experiment(file, out)
        with open_cluster(workers, scheduler) as runner:
            code = run_experiment(exp, out, runner=runner)
    except (ExperimentError, RunnerError) as exc:
        fail(str(exc))
    raise typer.Exit(code)


@app.command()
def top(
    attach: str = typer.Option(None, "--attach", metavar="ENDPOINT",
                               help="The run's stats socket: ipc://.../stats.sock, its run "
                               "directory or socket file (default: the one run in progress)."),
    once: bool = typer.Option(False, "--once", help="Print one snapshot and exit."),
    json_out: bool = typer.Option(False, "--json",
                                  help="Snapshots as JSON (one per line without --once)."),
    timeout: float = typer.Option(10.0, "--timeout",
                                  help="Give up after this many seconds without a snapshot."),
) -> None:
    """top for the emulated machine: follow a run's live statistics."""
    from emu.top import TopError, run_top

    try:
        code = run_top(attach, once, json_out, wait_s=timeout)
    except TopError as exc:
        fail(str(exc), exc.code)
    raise typer.Exit(code)


@app.command("list")
def list_(
    costs: bool = typer.Option(False, "--costs", help="Instead, list a machine's costs (what "
                               "--cost sets)."),
    machine: str = typer.Option(None, "--machine", help="The machine whose costs to list "
                                f"(preset or TOML; implies --costs; default {DEFAULT_MACHINE})."),
    interface: str = typer.Option(None, "--interface", metavar="KIND",
                                  help="Instead, the interface a strategy of KIND (di, swap, "
                                  "ucred) implements, and what a strategy file may use."),
) -> None:
    """Testcases, machine presets, clocks and strategies."""
    from emu.hw.machine import MachineError
    from emu.report.listing import cost_listing, listing

    if interface is not None:
        from emu.report.interface import interface_doc

        try:
            typer.echo(interface_doc(interface))
        except ValueError as exc:
            fail(str(exc))
        return
    if not costs and machine is None:
        typer.echo(listing())
        return
    try:
        typer.echo(cost_listing(machine or DEFAULT_MACHINE))
    except MachineError as exc:
        fail(str(exc))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                                "help_option_names": []})
def compare(ctx: typer.Context) -> None:
    """ministat(1): compare datasets (text columns or emu run JSON files)."""
    from emu.report.ministat import main as ministat_main

    raise typer.Exit(ministat_main(ctx.args))


@app.command()
def check(
    scenario: str = typer.Argument(None, help="A scenario (default shared-pages)."),
    di: str = typer.Option(..., "--di", help="The delayed-invalidation strategy to check: "
                           f"{' | '.join(STRATEGIES['di'])}, or a file ./my_di.py."),
    trials: int = typer.Option(None, "--trials",
                               help="Interleavings to try, one per seed (default 120)."),
    seed: int = typer.Option(0, "--seed", help="First trial's seed (--trials 1: replay it)."),
    json_path: str = typer.Option(None, "--json", help="Also write the result as JSON here."),
) -> None:
    """Search interleavings for a stale-TLB use of a freed page (exit 1 with a trace)."""
    from emu.check import CheckError, run_check

    try:
        code = run_check(scenario, di, trials, seed, json_path)
    except CheckError as exc:
        fail(str(exc))
    raise typer.Exit(code)


@app.command()
def whatif(
    testcase: str = typer.Argument(..., help="A testcase (see `emu list`) or a workload file."),
    tasks: int = typer.Option(1, "-t", help="Tasks (emulated CPUs busy)."),
    speedup: str = typer.Option("25,50,100", "--speedup", metavar="PCTS",
                                help="Virtual speed-ups to try, in percent of each target's "
                                "cost (100: the cost removed)."),
    json_path: str = typer.Option(None, "--json", help="Also write the ranking as JSON here."),
    plot_path: str = typer.Option(None, "--plot", help="Write a PNG of the speed-up curves."),
    di: str = _di(),
    swap: str = _swap(),
    ucred: str = _ucred(),
    machine: str = typer.Option(DEFAULT_MACHINE, "--machine", help="Machine preset or TOML."),
    seed: int = typer.Option(0, "--seed", help="Seed of the CPUs' RNGs (every run the same)."),
    period: str = typer.Option(None, "--period", help="Length of a sample (default 10ms)."),
    warmup: int = typer.Option(1, "--warmup", help="Warmup samples per run."),
    samples: int = typer.Option(2, "-s", help="Measured samples per run."),
    cost: list[str] = COST_OPTION,
    kinds: str = typer.Option("lock,caller,line,function", "--kinds",
                              help="Which targets: some of lock,caller,line,function."),
    floor: float = typer.Option(1.0, "--floor", metavar="PCT",
                                help="Skip targets under PCT% of their kind's baseline cycles."),
    jobs: int = typer.Option(None, "-j", help="Runs side by side (default: the host's cores)."),
) -> None:
    """Causal profile: rerun with each lock, hot line and kernel function virtually sped up,
    and rank what each buys."""
    from emu.causal.whatif import plan_whatif, whatif_command
    from emu.run import UsageError

    try:
        plan = plan_whatif(testcase, tasks, {"di": di, "swap": swap, "ucred": ucred}, speedup,
                           kinds, floor, jobs, machine, seed, period, warmup, samples, cost)
        code = whatif_command(plan, json_path, plot_path)
    except UsageError as exc:
        fail(str(exc))
    raise typer.Exit(code)


@app.command()
def chain(
    testcase: str = typer.Argument(..., help="A testcase (see `emu list`) or a workload file."),
    tasks: int = typer.Option(1, "-t", help="Tasks (emulated CPUs busy)."),
    steps: int = typer.Option(5, "--steps", help="At most this many steps."),
    candidates: str = typer.Option(None, "--candidates", metavar="DIR",
                                   help="Also try the strategy files in DIR."),
    json_path: str = typer.Option(None, "--json", help="Also write the steps as JSON here."),
    di: str = _di(),
    swap: str = _swap(),
    ucred: str = _ucred(),
    machine: str = typer.Option(DEFAULT_MACHINE, "--machine", help="Machine preset or TOML."),
    seed: int = typer.Option(0, "--seed", help="The first of the seeds each step runs."),
    seeds: int = typer.Option(3, "--seeds", help="Seeds per step (ministat compares them)."),
    period: str = typer.Option(None, "--period", help="Length of a sample (default 10ms)."),
    warmup: int = typer.Option(1, "--warmup", help="Warmup samples per run."),
    samples: int = typer.Option(2, "-s", help="Measured samples per run."),
    cost: list[str] = COST_OPTION,
    threshold: float = typer.Option(5.0, "--threshold", metavar="PCT",
                                    help="Keep an alternative only if it gains PCT% or more."),
    check_trials: int = typer.Option(None, "--check-trials",
                                     help="emu check's trials per DI candidate (default 120)."),
    floor: float = typer.Option(1.0, "--floor", metavar="PCT",
                                help="The what-ifs skip targets under PCT% of their kind's "
                                "cycles."),
    jobs: int = typer.Option(None, "-j", help="Runs side by side (default: the host's cores)."),
) -> None:
    """From the given strategies: name the structure that bounds throughput, swap in the
    best safe alternative strategy for it, and repeat."""
    from emu.causal.chain import chain_command, plan_chain
    from emu.run import UsageError

    try:
        plan = plan_chain(testcase, tasks, {"di": di, "swap": swap, "ucred": ucred}, machine,
                          steps, candidates, seed, seeds, period, warmup, samples, cost,
                          threshold, check_trials, floor, jobs)
    except UsageError as exc:
        fail(str(exc))
    raise typer.Exit(chain_command(plan, json_path))


@validate_app.command("epoch")
def validate_epoch(
    procs: int = typer.Option(4, "--procs", help="Reader processes (plus two writers)."),
    seconds: float = typer.Option(5.0, "--seconds", help="How long to run (host seconds)."),
    inject: str = typer.Option(None, "--inject", help="Inject a known bug, e.g. skip-grace."),
    min_ops: int = typer.Option(0, "--min-ops", help="Go on past --seconds until the readers "
                                "did this many sections and the writers this many retirements."),
) -> None:
    """ck-style validation of emu.epoch: readers never see a freed object."""
    from emu.epoch.validate import run_validate

    raise typer.Exit(run_validate(procs=procs, seconds=seconds, inject=inject, min_ops=min_ops))


def main() -> None:
    """Entry point: click's usage errors become one `emu:` line and exit status 2."""
    command = typer.main.get_command(app)
    try:
        code = command.main(prog_name="emu", standalone_mode=False)
    except KeyboardInterrupt:
        typer.echo("emu: interrupted", err=True)
        code = 130
    except Exception as exc:
        # click's exceptions (typer may vendor click, so they are recognised by shape).
        if type(exc).__name__ == "Abort":
            typer.echo("emu: interrupted", err=True)
            sys.exit(130)
        if hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int):
            typer.echo(f"emu: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        if os.environ.get("EMU_DEBUG"):
            raise
        typer.echo(f"emu: internal error: {exc.__class__.__name__}: {exc} "
                   "(EMU_DEBUG=1 shows the traceback)", err=True)
        code = 1
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
