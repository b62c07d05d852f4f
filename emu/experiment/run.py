"""Running an experiment's matrix: each run once, the finished ones kept (a rerun goes on
where the last stopped), then the outputs (emu/experiment/report.py)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TextIO

from emu.experiment.model import Experiment, ExperimentError, Run, write_whole
from emu.experiment.report import write_report
from emu.machine.spec import RunSpec
from emu.report.runtest import FAILED
from emu.report.wis import run_document
from emu.units import format_duration


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

def run_experiment(exp: Experiment, out: str | None = None, err: TextIO | None = None) -> int:
    """Run what is not done yet, then write the report; returns the exit status
    (0, 1 if a run failed, 130 on Ctrl-C: the finished runs stay for the next time)."""

    from emu.sweep import idle_percent, measure

    err = err or sys.stderr
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
    err.flush()
    code = 0
    for n, run in enumerate(todo, start=1):
        m = measure(run.spec)
        if m.interrupted:
            err.write(f"emu: interrupted: {len(docs)} of {len(exp.runs)} runs are in {outdir}; "
                      "the same command carries on from there\n")
            return 130
        doc = run_document(m.result)
        doc["idle_percent"] = round(idle_percent(m.result), 2)
        write_whole(run.path, json.dumps(doc, indent=2) + "\n")
        if m.average == FAILED:
            code = 1
            what = f"failed: {m.result.error}"
        else:
            docs[(run.testcase, run.variant.name, run.tasks, run.seed)] = doc
            what = f"average {m.average} ops/s"
        err.write(f"emu: [{n}/{len(todo)}] {run.label}: {what} ({m.host_s:.1f}s host)\n")
        err.flush()
    if code:
        err.write("emu: some runs failed; their JSON says why, and the next invocation "
                  "runs them again\n")
    t0 = time.perf_counter()
    report = write_report(exp, outdir, docs)
    err.write(f"emu: wrote {report} ({time.perf_counter() - t0:.1f}s)\n")
    return code
