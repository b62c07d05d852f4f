"""`emu run`: build a run from the command line's choices, stream its report, write JSON."""

from __future__ import annotations

import os
import sys

from emu.clock import CLOCKS
from emu.hw.machine import MachineError, load_machine, set_costs
from emu.kernel.strategies import STRATEGIES, choose
from emu.machine.spec import RunFailed, RunResult, RunSpec
from emu.machine.supervisor import Supervisor
from emu.report.wis import WillItScaleStream, write_json
from emu.testcases import TestcaseError, resolve
from emu.units import format_duration, parse_duration

# A sample of 20ms emulated keeps the measured totals' spread under 2% at 96 contending CPUs
# (unfair mutexes make 10ms samples wobble); under `wall` it is host time, as will-it-scale.
DEFAULT_PERIOD = {"virtual": "20ms", "wall": "1s"}


class UsageError(ValueError):
    """Bad input: one line, exit status 2."""


def build_spec(testcase: str, tasks: int, samples: int, smt: bool, unbound: bool,
               machine: str, clock: str, seed: int, period: str | None, warmup: int,
               strategies: dict[str, str | None] | None = None,
               profile: bool = False, costs: list[str] | None = None) -> RunSpec:
    """A validated RunSpec; UsageError (one line) for anything the user got wrong.

    `strategies` maps a kind (di, swap, ucred) to a name or None (the default); names are
    checked against the registry in emu.kernel.strategies.  `costs`: `--cost NAME=VALUE`
    settings over the machine preset's cost table (emu.hw.machine.set_costs).
    """
    if clock not in CLOCKS:
        raise UsageError(f"unknown clock {clock!r} (known: {', '.join(CLOCKS)})")
    try:
        tc = resolve(testcase)
        preset = set_costs(load_machine(machine), costs or ())
        period_s = parse_duration(period or DEFAULT_PERIOD[clock])
        spec = RunSpec(testcase=tc, tasks=tasks, machine=preset, clock=clock, seed=seed,
                       period_s=period_s, warmup=warmup, samples=samples, smt=smt,
                       unbound=unbound,
                       strategies={k: v for k, v in (strategies or {}).items() if v},
                       profile=profile)
        spec.validate()
    except (TestcaseError, MachineError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    return spec


def strategy_words(strategies: dict[str, str]) -> str:
    """`di=mutex swap=mutex ucred=shared`: the selection, in the registry's kind order."""
    chosen = choose(**strategies)
    return " ".join(f"{kind}={chosen[kind]}" for kind in STRATEGIES)


def describe(spec: RunSpec) -> str:
    """The one stderr line that says what is being emulated."""
    m = spec.machine
    if spec.clock == "virtual":
        clock = "clock virtual (reproducible)"
    else:
        host = os.cpu_count() or 1
        clock = "clock wall (host time, NOT reproducible"
        clock += f"; {spec.tasks} tasks on {host} host cores)" if spec.tasks > host else ")"
    length = "until interrupted" if spec.samples == 0 else f"{spec.warmup}+{spec.samples} samples"
    kind = "emulated" if spec.clock == "virtual" else "host"
    return (f"emu: {spec.testcase.name} on {m.label} ({m.ncpus} CPUs, "
            f"{m.freq_hz / 1e9:.2f} GHz), "
            f"{clock}, {strategy_words(spec.strategies)}, seed {spec.seed}, sample period "
            f"{format_duration(spec.period_s)} {kind} time, {length}")


def print_lock_reports(result: RunResult, lockstat: bool, lock_stat: bool) -> None:
    """The reports asked for, on stdout after the stream (formats in emu/report/): lock
    contention, then --profile's pmcstat screen."""
    if lockstat:
        from emu.report.lockstat import run_lockstat

        text = run_lockstat(result)
        if text:
            sys.stdout.write(text)
        else:  # lockstat(1) prints nothing then; say why on stderr
            print("emu: lockstat: no lock contention events", file=sys.stderr)
    if lock_stat:
        from emu.report.linux_lock_stat import run_lock_stat

        if lockstat:
            sys.stdout.write("\n")  # two reports, two files on a real system: keep apart
        sys.stdout.write(run_lock_stat(result))
    if result.spec.profile:
        from emu.report.pmcstat import pmcstat_report

        if result.profile is None:
            print("emu: profile: the kernel actor left no profile", file=sys.stderr)
        else:
            if lockstat or lock_stat:
                sys.stdout.write("\n")
            sys.stdout.write(pmcstat_report(result.profile))
    sys.stdout.flush()


def live_wanted(live: bool | None) -> bool:
    """--live / --no-live, or by default: only when stdout and stderr are a terminal, so a
    redirected will-it-scale stream stays exactly as it is."""
    if live is not None:
        return live
    return sys.stdout.isatty() and sys.stderr.isatty()


def run_command(spec: RunSpec, verbose: bool, json_path: str | None,
                lockstat: bool = False, lock_stat: bool = False,
                live: bool | None = None) -> int:
    """Run and print will-it-scale's stream; returns the exit status.

    `lockstat` / `lock_stat` append FreeBSD lockstat(1)'s / Linux /proc/lock_stat's report
    of the emulated locks after the stream, also when Ctrl-C ends the run (as lockstat
    reports when its command is killed: the only way out of `-s 0`).  `live` draws the live
    view on stderr (emu/report/live.py); stdout carries the stream alone.
    """
    print(describe(spec), file=sys.stderr, flush=True)
    stream = WillItScaleStream(sys.stdout, spec.testcase.description, spec.warmup,
                               spec.period_s, verbose)
    view = None
    if live_wanted(live):
        from emu.report.live import LiveView

        view = LiveView(sys.stderr)

    def on_sample(sample) -> None:
        if view is not None:  # the stream's line goes above the view
            view.hide()
        stream.sample(sample)
        if view is not None:
            view.show()

    sup = Supervisor(spec, [view] if view is not None else [])
    code = 0
    try:
        try:
            sup.run(on_sample)
            stream.average()
        except RunFailed as exc:
            sup.result.error = str(exc)
            print(f"emu: {exc}", file=sys.stderr, flush=True)
            code = 1
        except KeyboardInterrupt:
            sup.result.error = "interrupted"
            print("emu: interrupted", file=sys.stderr, flush=True)
            code = 130
        if code != 1:
            print_lock_reports(sup.result, lockstat, lock_stat)
    finally:
        if json_path:
            write_json(sup.result, json_path)  # what was measured survives a failure
    return code
