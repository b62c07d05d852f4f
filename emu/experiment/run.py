"""Running an experiment's matrix: each run once, the finished ones kept (a rerun goes on
where the last stopped), then the outputs (emu/experiment/report.py).  The runs execute
wherever the runner puts them (emu/runners.py: here, or on a Dask cluster); what is written
comes from their documents alone, so the bytes do not depend on where they ran."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TextIO

from emu.experiment.model import Experiment, ExperimentError, Run, write_whole
from emu.experiment.report import write_report
from emu.machine.spec import RunSpec
from emu.report.progress import Progress
from emu.report.runtest import FAILED
from emu.runners import InProcess, Job, Runner, run_args
from emu.units import format_duration

# `emu run --json`'s host timings time the host that ran the run, not the emulated kernel:
# they are left out of the experiment's files, so the directory has the same bytes however
# and wherever its runs ran (the progress lines on stderr give each run's host seconds).
HOST_TIMINGS = ("wall_s", "events_per_s")


def _same_run(doc: dict, spec: RunSpec) -> bool:
    """Whether a JSON left by an earlier invocation is this run, finished."""
    return (not doc.get("error") and doc.get("testcase") == spec.testcase.name
            and doc.get("tasks") == spec.tasks and doc.get("seed") == spec.seed
            and doc.get("machine") == spec.machine.name
            and doc.get("costs_set", {}) == spec.machine.changed
            and doc.get("strategies") == spec.strategies
            and doc.get("period_s") == spec.period_s
            and len(doc.get("warmup", [])) == spec.warmup
            and len(doc.get("samples", [])) == spec.samples
            and ("profile" in doc) == spec.profile)

def load_done(run: Run) -> dict | None:
    try:
        doc = json.loads(run.path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and _same_run(doc, run.spec) else None

def job(exp: Experiment, run: Run) -> Job:
    """The run as a runner's job: its spec, and the `emu run` arguments of the same build_spec
    call as emu.experiment.model.plan_runs makes."""
    return Job(run.label, run.spec, run_args(run.testcase, run.tasks, exp.samples, exp.machine,
                                             run.seed, exp.period, exp.warmup,
                                             run.variant.strategies, run.spec.profile,
                                             run.variant.costs))

def run_experiment(exp: Experiment, out: str | None = None, err: TextIO | None = None,
                   runner: Runner | None = None) -> int:
    """Run what is not done yet, then write the report; returns the exit status
    (0, 1 if a run failed or was lost, 130 on Ctrl-C: the finished runs stay for the next
    time).  `runner` says where the runs execute (default: here, one after another)."""

    from emu.sweep import document_idle_percent, measure

    err = err or sys.stderr
    runner = runner or InProcess(measure)
    outdir = Path(out or f"{exp.name}-results")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExperimentError(f"cannot create {outdir}: {exc.strerror or exc}") from None
    docs: dict[tuple[str, str, int, int], dict] = {}
    todo = []
    for run in exp.runs:
        doc = load_done(run)
        if doc is None:
            todo.append(run)
        else:
            docs[(run.testcase, run.variant.name, run.tasks, run.seed)] = doc
    first = exp.runs[0].spec
    err.write(f"emu: experiment {exp.name}: {len(exp.testcases)} testcase(s) x "
              f"{len(exp.variants)} variants x {len(exp.tasks)} task counts x "
              f"{len(exp.seeds)} seeds = {len(exp.runs)} runs of {exp.warmup}+{exp.samples} "
              f"samples of {format_duration(first.period_s)} emulated time, into {outdir}\n")
    if docs:
        err.write(f"emu: resuming: {len(docs)} runs already in {outdir}, {len(todo)} to go\n")
    if todo and runner.where:
        err.write(f"emu: running on {runner.where}\n")
    err.flush()
    lost = failed = 0
    progress = Progress(err, len(todo), runner.where)
    try:
        for done in runner.run([job(exp, run) for run in todo]):
            if done.interrupted:
                raise KeyboardInterrupt
            run = todo[done.index]
            if done.doc is not None:
                for key in HOST_TIMINGS:
                    done.doc.get("host", {}).pop(key, None)
                done.doc["idle_percent"] = round(document_idle_percent(done.doc), 2)
                write_whole(run.path, json.dumps(done.doc, indent=2) + "\n")
            if done.average != FAILED:
                docs[(run.testcase, run.variant.name, run.tasks, run.seed)] = done.doc
            elif done.doc is None:  # lost on a cluster: nothing is written, the next time runs it
                lost += 1
            else:
                failed += 1
            progress.finished(f"{run.label}: {done.what}", done.host_s)
    except KeyboardInterrupt:
        progress.close()
        err.write(f"emu: interrupted: {len(docs)} of {len(exp.runs)} runs are in {outdir}; "
                  "the same command carries on from there\n")
        return 130
    progress.close()
    if lost:
        err.write(f"emu: {lost} runs were lost on the cluster (see above); the next "
                  "invocation runs them\n")
    if failed:
        err.write("emu: some runs failed; their JSON says why, and the next invocation "
                  "runs them again\n")
    t0 = time.perf_counter()
    report = write_report(exp, outdir, docs)
    err.write(f"emu: wrote {report} ({time.perf_counter() - t0:.1f}s)\n")
    return 1 if lost or failed else 0
