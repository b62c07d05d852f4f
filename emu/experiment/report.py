"""The outputs of `emu experiment` (emu/experiment/model.py), from the runs' JSON documents:

    DIR/experiment.toml                      the file the experiment was run from
    DIR/csv/<testcase>-<variant>.csv         runtest.py's CSV (emu/report/runtest.py), each
                                             row the mean over seeds of the runs' averages
    DIR/plots/<testcase>.png                 ops/s against tasks, every variant, seed range
    DIR/ministat/<testcase>-t<N>-<variant>.txt   the seeds' averages at the compare point,
                                             one per line: ministat(1)'s input
    DIR/report.md                            ties them together; each comparison is the text
                                             `emu compare` (ministat) prints for those files

Only the seeds' averages enter the statistics: the virtual clock is deterministic for a
seed, and the seeds differ through each CPU's RNG jitter.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from emu.experiment.model import MIN_SEEDS, Experiment, safe_name, write_whole
from emu.report import ministat
from emu.report.plot import PlotError, plot_variants
from emu.report.pmcstat import pmcstat_report
from emu.report.runtest import FAILED, FIRST_ROW, HEADER, Row
from emu.sweep import NOT_RUN_IDLE, NOT_RUN_OPS

Key = tuple[str, str, int, int]  # testcase, variant, tasks, seed
PROFILE_LINES = 14               # of the pmcstat screen quoted in report.md


def _values(docs: dict[Key, dict], exp: Experiment, tc: str, variant: str,
            tasks: int) -> list[int]:
    return [docs[(tc, variant, tasks, s)]["average"] for s in exp.seeds
            if (tc, variant, tasks, s) in docs]


def _mode(exp: Experiment, tc: str) -> str:
    return next(r.spec.testcase.mode for r in exp.runs if r.testcase == tc)


def _fmt(x: float) -> str:
    return f"{x:,.0f}"


# ---------------------------------------------------------------- files


def csv_text(exp: Experiment, docs: dict[Key, dict], tc: str, variant: str) -> str:
    """runtest.py's CSV for one testcase and variant (the other mode's columns not run)."""
    mode = _mode(exp, tc)
    lines = [HEADER, FIRST_ROW]
    linear1 = None
    for t in exp.tasks:
        vals = _values(docs, exp, tc, variant, t)
        avg = sum(vals) // len(vals) if vals else FAILED
        idles = [docs[(tc, variant, t, s)].get("idle_percent", 0.0) for s in exp.seeds
                 if (tc, variant, t, s) in docs]
        idle = sum(idles) / len(idles) if idles else NOT_RUN_IDLE
        if t == 1:
            linear1 = avg
        got = {mode: (avg, idle)}
        proc = got.get("processes", (NOT_RUN_OPS, NOT_RUN_IDLE))
        thr = got.get("threads", (NOT_RUN_OPS, NOT_RUN_IDLE))
        linear = linear1 * t if linear1 and linear1 > 0 else 0
        lines.append(Row(t, proc[0], proc[1], thr[0], thr[1], linear).csv())
    return "\n".join(lines) + "\n"


def ministat_input(exp: Experiment, tc: str, variant: str, values: list[int]) -> str:
    seeds = " ".join(str(s) for s in exp.seeds)
    return (f"# {tc} {variant} -t {exp.compare_at}: average ops/s, one run per seed "
            f"({seeds})\n" + "".join(f"{v}\n" for v in values))


def _comparison(base: ministat.Dataset, other: ministat.Dataset) -> str:
    c = ministat.compare(other, base)
    if not c.significant:
        return "no difference proven"
    return f"{c.diff_pct:+.1f}% ± {c.err_pct:.1f}%"


# ---------------------------------------------------------------- report.md sections


def _hottest_lock(doc_list: list[dict]) -> str:
    """The lock with the most spin time over the given runs, as table cells: name (its
    top caller), contended share of acquisitions, mean wait per contention, spin per run."""
    totals: dict[str, list[int]] = {}   # name -> [acquisitions, contentions, spin ns]
    callers: dict[str, dict[str, int]] = {}
    for doc in doc_list:
        for lock in doc.get("locks", []):
            t = totals.setdefault(lock["name"], [0, 0, 0])
            t[0] += int(lock.get("acquisitions", 0))
            t[1] += int(lock.get("contentions", 0))
            t[2] += int(lock.get("spin_ns", 0))
            by = callers.setdefault(lock["name"], {})
            for c in lock.get("callers", []):
                by[c["caller"]] = by.get(c["caller"], 0) + int(c.get("spin_ns", 0))
    if not totals or max(t[2] for t in totals.values()) == 0:
        return "none contended | | |"
    name = min(totals, key=lambda k: (-totals[k][2], k))
    acq, cont, spin = totals[name]
    by = callers[name]
    top = min(by, key=lambda k: (-by[k], k)) if by else "-"
    return (f"`{name}` from `{top}` | {100.0 * cont / acq:.1f}% | "
            f"{spin / cont / 1e3:,.2f} | {spin / len(doc_list) / 1e6:,.3f}")


def _testcase_section(exp: Experiment, docs: dict[Key, dict], tc: str,
                      plot_note: str | None) -> list[str]:
    n, base = exp.compare_at, exp.baseline
    out = [f"## {tc}", ""]
    if plot_note:
        out += [plot_note, ""]
    else:
        out += [f"![{tc}: operations per emulated second against tasks](plots/{safe_name(tc)}.png)",
                ""]
    out += ["### Operations per emulated second (mean of the seeds)", "",
            "| tasks | " + " | ".join(v.name for v in exp.variants) + " |",
            "|---:|" + "---:|" * len(exp.variants)]
    for t in exp.tasks:
        cells = []
        for v in exp.variants:
            vals = _values(docs, exp, tc, v.name, t)
            cells.append(_fmt(sum(vals) / len(vals)) if vals else "failed")
        out.append(f"| {t} | " + " | ".join(cells) + " |")
    out += ["", f"### Against the baseline `{base}` (ministat, 95% confidence)", "",
            "| tasks | " + " | ".join(v.name for v in exp.variants if v.name != base) + " |",
            "|---:|" + "---:|" * (len(exp.variants) - 1)]
    for t in exp.tasks:
        b = _values(docs, exp, tc, base, t)
        cells = []
        for v in exp.variants:
            if v.name == base:
                continue
            vals = _values(docs, exp, tc, v.name, t)
            if len(b) < MIN_SEEDS or len(vals) < MIN_SEEDS:
                cells.append("too few runs")
            else:
                cells.append(_comparison(ministat.Dataset.from_points(base, b),
                                         ministat.Dataset.from_points(v.name, vals)))
        out.append(f"| {t} | " + " | ".join(cells) + " |")
    out += ["", f"### ministat at {n} tasks", "",
            "Each data point is one seed's `average:` (ops/s).  The block is what "
            "`emu compare` prints for the two files, from this directory.", ""]
    base_file = f"ministat/{safe_name(tc)}-t{n}-{base}.txt"
    for v in exp.variants:
        if v.name == base:
            continue
        b, vals = _values(docs, exp, tc, base, n), _values(docs, exp, tc, v.name, n)
        out += [f"#### {v.name} against {base}", ""]
        if len(b) < MIN_SEEDS or len(vals) < MIN_SEEDS:
            out += ["Too few finished runs for ministat (it needs 3 per dataset).", ""]
            continue
        other = f"ministat/{safe_name(tc)}-t{n}-{v.name}.txt"
        text = ministat.report([ministat.Dataset.from_points(base_file, b),
                                ministat.Dataset.from_points(other, vals)])
        out += [f"`emu compare {base_file} {other}`", "", "```", text.rstrip("\n"), "```", ""]
    out += [f"### The hottest lock at {n} tasks", "",
            "The lock with the most spin time (emulated, all CPUs, warmup included, mean "
            "of the seeds): once the first bottleneck is gone, the next shows here.", "",
            "| variant | lock (top caller) | contended | wait per contention (us) | "
            "spin per run (ms) |", "|---|---|---:|---:|---:|"]
    for v in exp.variants:
        runs = [docs[(tc, v.name, n, s)] for s in exp.seeds if (tc, v.name, n, s) in docs]
        out.append(f"| {v.name} | " + (_hottest_lock(runs) if runs else "failed | | |")
                   + " |")
    out.append("")
    if exp.profile:
        seed = exp.seeds[0]
        out += [f"### Where the cycles go at {n} tasks (pmcstat -T, seed {seed})", ""]
        for v in exp.variants:
            doc = docs.get((tc, v.name, n, seed))
            out += [f"#### {v.name}", ""]
            if not doc or not doc.get("profile"):
                out += ["No profile (the run failed).", ""]
                continue
            lines = pmcstat_report(doc["profile"]).rstrip("\n").split("\n")
            out += ["```", *lines[:PROFILE_LINES], "```", ""]
    return out


def _variants_table(exp: Experiment) -> list[str]:
    """Each variant's strategies, and a column of the costs it set (cycles) when any did."""
    with_costs = any(v.costs for v in exp.variants)
    head = "| variant | di | swap | ucred |" + (" costs set (cycles) |" if with_costs else "")
    out = [head + " what |", "|---" * head.count("|") + "|"]
    for v in exp.variants:
        spec = next(r.spec for r in exp.runs if r.variant is v)
        chosen = spec.strategies
        row = f"| {v.name} | {chosen['di']} | {chosen['swap']} | {chosen['ucred']} |"
        if with_costs:
            changed = spec.machine.changed
            row += " " + (" ".join(f"`{k}={c:g}`" for k, c in changed.items()) or "preset") + " |"
        out.append(f"{row} {v.description} |")
    return out


def report_text(exp: Experiment, docs: dict[Key, dict], plot_notes: dict[str, str | None],
                source_name: str) -> str:
    first = exp.runs[0].spec
    m = first.machine
    done = sum(1 for r in exp.runs if (r.testcase, r.variant.name, r.tasks, r.seed) in docs)
    out = [f"# Experiment `{exp.name}`", ""]
    if exp.description:
        out += [exp.description.strip(), ""]
    out += [f"- machine `{m.name}` ({m.ncpus} CPUs, {m.freq_hz / 1e9:.2f} GHz), virtual clock",
            f"- testcases: {', '.join(f'`{t}`' for t in exp.testcases)}",
            f"- tasks: {', '.join(map(str, exp.tasks))}; seeds: "
            f"{', '.join(map(str, exp.seeds))}",
            f"- each run: {exp.warmup} warmup + {exp.samples} measured samples of "
            f"{first.period_s * 1e3:g} ms emulated time; its `average:` is one data point",
            f"- {done} of {len(exp.runs)} runs finished"
            + ("" if done == len(exp.runs) else " (the others failed: see their JSON)"),
            f"- reproduce: `emu experiment {source_name} --out DIR`", "",
            "## Variants", "", f"Baseline: `{exp.baseline}`.", "",
            *_variants_table(exp), ""]
    for tc in exp.testcases:
        out += _testcase_section(exp, docs, tc, plot_notes.get(tc))
    out += ["## Files", "",
            "- `runs/<testcase>/<variant>/t<tasks>-seed<seed>.json`: each run, as "
            "`emu run --json` writes it (`emu compare` reads it too)",
            "- `csv/<testcase>-<variant>.csv`: runtest.py's CSV, each row the mean over seeds",
            "- `plots/<testcase>.png`: ops/s against tasks, mean and range over seeds",
            "- `ministat/`: the seeds' averages at the compare point, ministat's input",
            "- `experiment.toml`: the experiment file", ""]
    return "\n".join(out)


def write_report(exp: Experiment, outdir: Path, docs: dict[Key, dict]) -> Path:
    """Every output file from the runs' documents; returns report.md's path."""


    try:
        shutil.copyfile(exp.source, outdir / "experiment.toml")
    except shutil.SameFileError:
        pass
    plot_notes: dict[str, str | None] = {}
    for tc in exp.testcases:
        for v in exp.variants:
            write_whole(outdir / "csv" / f"{safe_name(tc)}-{v.name}.csv", csv_text(exp, docs, tc,
                                                                               v.name))
            vals = _values(docs, exp, tc, v.name, exp.compare_at)
            write_whole(outdir / "ministat" / f"{safe_name(tc)}-t{exp.compare_at}-{v.name}.txt",
                        ministat_input(exp, tc, v.name, vals))
        series = [(v.name, [(t, _values(docs, exp, tc, v.name, t)) for t in exp.tasks])
                  for v in exp.variants]
        m = exp.runs[0].spec.machine
        title = f"{tc} on {m.name} ({m.ncpus} CPUs): {exp.name}"
        (outdir / "plots").mkdir(parents=True, exist_ok=True)
        try:
            plot_variants(str(outdir / "plots" / f"{safe_name(tc)}.png"), title, series)
            plot_notes[tc] = None
        except PlotError as exc:
            plot_notes[tc] = f"(No plot: {exc}.)"
    path = outdir / "report.md"
    write_whole(path, report_text(exp, docs, plot_notes, str(exp.source)))
    return path
