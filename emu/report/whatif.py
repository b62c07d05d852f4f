"""`emu whatif`'s outputs: the ranked table, its JSON, and the Coz-style plot.

The table is laid out as lockstat(1) lays out its records (fixed columns, a rule of dashes
above and below, one row per (target, caller)), with will-it-scale's ops/s for figures:

    Rank Target                          Caller                   Share  Baseline  +25% ... Gain

`Share` is the target's part of its kind's cycles in the baseline (emu/causal/targets.py),
each speed-up column a run's `average:`, `Gain` the change at the largest speed-up.  A
row marked `*` bought less than 1% even at its largest speed-up (its smaller ones were
not run, `-`).  The plot is Coz's (Curtsinger and Berger, SOSP 2015): for each target, the
program's speed-up against the target's, through (0, 0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emu.report.plot import PlotError, require_matplotlib, strategy_words
from emu.units import format_duration

if TYPE_CHECKING:
    from emu.causal.whatif import Row, WhatIf

FAILED = -1
PLOT_TARGETS = 8      # curves on the plot: the top of the ranking


def _target(row: Row) -> str:
    t = row.target
    return f"{t.kind if t.kind != 'function' else 'func'} {t.name}"


def header(w: WhatIf) -> str:
    spec, doc = w.plan.spec, w.baseline
    totals = [s["total"] for s in doc.get("samples", [])]
    spread = ""
    if len(totals) > 1 and w.base > 0:
        spread = (f"; its samples {min(totals)}..{max(totals)}, "
                  f"{100.0 * (max(totals) - min(totals)) / w.base:.1f}% apart")
    return (f"What if: {spec.testcase.name} -t {spec.tasks} on {spec.machine.name}, "
            f"{strategy_words(doc['strategies'])}, seed {spec.seed}\n"
            f"Baseline: {w.base} ops/s ({spec.warmup}+{spec.samples} samples of "
            f"{format_duration(spec.period_s)} emulated time{spread})\n")


def whatif_table(w: WhatIf) -> str:
    speedups = w.plan.speedups
    cols = "".join(f" {'+' + str(p) + '%':>9}" for p in speedups)
    head = f"{'Rank':>4} {'Target':<40} {'Caller':<26} {'Share':>6} {'Baseline':>9}{cols} " \
           f"{'Gain':>8}"
    rule = "-" * len(head)
    lines = [header(w), head, rule]
    base = w.base
    for rank, row in enumerate(w.rows, 1):
        cells = []
        for p in speedups:
            ops = row.ops.get(p)
            cells.append(f" {'-' if ops is None else 'failed' if ops == FAILED else ops:>9}")
        g = row.gain(w.plan.top, base)
        gain = f"{g:+7.1f}%" if g is not None else f"{'-':>8}"
        mark = " *" if w.marked(row) else ""
        lines.append(f"{rank:>4} {_target(row):<40.40} {row.target.caller or '-':<26.26} "
                     f"{row.observed.share:5.1f}% {base:>9}{''.join(cells)} {gain}{mark}")
    lines.append(rule)
    notes = []
    if any(w.marked(r) for r in w.rows):
        notes.append(f"* even +{w.plan.top}% buys under 1%: its smaller speed-ups were not run")
    if w.plan.floor > 0:
        notes.append(f"targets under {w.plan.floor:g}% of their kind's baseline cycles were "
                     "not run (--floor)")
    for row in w.rows:
        for p, why in row.errors.items():
            notes.append(f"{row.target.label} +{p}%: {why}")
    return "\n".join(lines + notes) + "\n"


def whatif_document(w: WhatIf) -> dict:
    """What `emu whatif --json` writes."""
    spec, base = w.plan.spec, w.base
    rows = []
    for rank, row in enumerate(w.rows, 1):
        rows.append({
            "rank": rank,
            "target": row.target.document(),
            "label": row.target.label,
            "share_pct": round(row.observed.share, 3),
            "ops": {str(p): v for p, v in sorted(row.ops.items())},
            "gain_pct": {str(p): round(g, 3) for p in sorted(row.ops)
                         if (g := row.gain(p, base)) is not None},
            "marked": w.marked(row),
            "errors": {str(p): e for p, e in row.errors.items()},
        })
    return {
        "testcase": spec.testcase.name,
        "tasks": spec.tasks,
        "machine": spec.machine.name,
        "costs_set": dict(spec.machine.changed),
        "strategies": dict(w.baseline["strategies"]),
        "seed": spec.seed,
        "period_s": spec.period_s,
        "warmup": spec.warmup,
        "samples": spec.samples,
        "speedups": list(w.plan.speedups),
        "kinds": list(w.plan.kinds),
        "floor_pct": w.plan.floor,
        "baseline": {"average": base,
                     "samples": [s["total"] for s in w.baseline.get("samples", [])]},
        "rows": rows,
        "host": {"wall_s": round(w.host_s, 3), "runs": w.runs},
    }


def plot_whatif(path: str, w: WhatIf) -> None:
    """Coz's causal-profile plot: each top target's throughput gain (%) against its own
    virtual speed-up (%), from (0, 0)."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    spec = w.plan.spec
    fig = Figure(figsize=(8, 5), dpi=100)
    ax = fig.add_subplot()
    drawn = 0
    for row in w.rows:
        if drawn == PLOT_TARGETS:
            break
        pts = [(0, 0.0)] + [(p, g) for p in sorted(row.ops)
                            if (g := row.gain(p, w.base)) is not None]
        if len(pts) < 2:
            continue
        xs, ys = zip(*pts, strict=True)
        ax.plot(xs, ys, marker="o", label=row.target.label)
        drawn += 1
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_title(f"What if: {spec.testcase.name} -t {spec.tasks} on {spec.machine.name}\n"
                 f"{strategy_words(w.baseline['strategies'])}, baseline {w.base} ops/s",
                 fontsize=10)
    ax.set_xlabel("target's virtual speed-up (%)")
    ax.set_ylabel("throughput gain (%)")
    ax.set_xlim(0, 100)
    ax.grid(True, alpha=0.3)
    if drawn:
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    try:
        fig.savefig(path, format="png")
    except OSError as exc:
        raise PlotError(f"cannot write {path}: {exc.strerror or exc}") from None
