"""`emu chain`'s output: a block per step, as a write-up would tell it.

    step 0  di=mutex swap=mutex ucred=shared: 994000 ops/s (seeds 0 1 2: ...)
    step 1  bound: lock invl_gen_mtx (di), +131.0% if removed
            tried: di=epoch 1184000, di=lockless 1020000, di=none unsafe (...)
            chose: di=epoch: 1184500 ops/s (seeds 0 1 2: ...)
            against step 0: <ministat's Difference at 95.0% confidence block>

The ops/s of a step is the mean of its seeds' `average:`; the comparison is ministat's
Relative() over the seeds (emu/report/ministat.py), the step before as the baseline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emu.report.plot import strategy_words
from emu.units import format_duration

if TYPE_CHECKING:
    from emu.causal.chain import Chain, ChainPlan, Step, Tried

INDENT = " " * 8


def _mean(ops: list[int]) -> int:
    return sum(ops) // len(ops) if ops else 0


def _seeds(step: Step, plan: ChainPlan) -> str:
    return f"(seeds {' '.join(map(str, plan.seed_list))}: {' '.join(map(str, step.ops))})"


def chain_header(plan: ChainPlan) -> str:
    period = format_duration(plan.period_s)
    return (f"Chain: {plan.testcase} -t {plan.tasks} on {plan.machine}, {plan.seeds} seeds "
            f"per step, {plan.warmup}+{plan.samples} samples of {period} emulated time; a "
            f"step keeps an alternative that gains {plan.threshold:g}% or more\n")


def _tried(t: Tried) -> str:
    what = f"{t.ops}" if t.ops is not None else t.why_not
    return f"{t.kind}={t.name} {what}"


def format_step(step: Step, plan: ChainPlan) -> str:
    if step.index == 0:
        return (f"step 0  {strategy_words(step.strategies)}: {_mean(step.ops)} ops/s "
                f"{_seeds(step, plan)}\n")
    lines = [f"step {step.index}  bound: {step.bound.target.label} ({step.bound_kind}), "
             f"{step.bound_gain:+.1f}% if removed"]
    if step.above:
        lines.append(f"{INDENT}ranked above it, owned by no strategy: "
                     + ", ".join(r.target.label for r in step.above))
    tried = [_tried(t) for t in step.tried] or ["nothing"]
    lines.append(f"{INDENT}tried: {tried[0]}")
    lines += [f"{INDENT}       {t}" for t in tried[1:]]
    if step.chosen is None:
        lines.append(f"{INDENT}kept: {strategy_words(step.strategies)}")
        return "\n".join(lines) + "\n"
    lines.append(f"{INDENT}chose: {step.chosen.kind}={step.chosen.name}: {_mean(step.ops)} "
                 f"ops/s {_seeds(step, plan)}")
    lines.append(f"{INDENT}against step {step.index - 1}: "
                 + step.comparison.rstrip("\n").replace("\n", "\n" + INDENT))
    return "\n".join(lines) + "\n"


def chain_document(chain: Chain) -> dict:
    """What `emu chain --json` writes."""
    plan = chain.plan
    steps = []
    for s in chain.steps:
        d = {"step": s.index, "strategies": dict(s.strategies), "ops": list(s.ops),
             "mean": _mean(s.ops)}
        if s.index:
            d.update({"bound": s.bound.target.document(), "bound_kind": s.bound_kind,
                      "bound_gain_pct": round(s.bound_gain, 3),
                      "above": [r.target.document() for r in s.above],
                      "tried": [t.document() for t in s.tried],
                      "chosen": s.chosen.document() if s.chosen else None,
                      "comparison": s.comparison})
        steps.append(d)
    return {"testcase": plan.testcase, "tasks": plan.tasks, "machine": plan.machine,
            "seeds": plan.seed_list, "period_s": plan.period_s, "warmup": plan.warmup,
            "samples": plan.samples, "threshold_pct": plan.threshold,
            "candidates": plan.candidates, "steps": steps, "stop": chain.stop,
            "host": {"wall_s": round(chain.host_s, 3), "runs": chain.runs,
                     "checks": chain.checks}}
