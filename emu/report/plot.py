"""The scaling plot of `emu sweep --plot`: operations per emulated second against tasks.

One line per variant (processes, threads), runtest.py's `linear` column dashed, titled as a
write-up would title it: the testcase, the machine and the strategies.  With
`--compare-json` another sweep's lines go on the same axes (e.g. di=mutex against
di=epoch), labelled by the strategies that differ.

matplotlib is imported inside plot_sweeps() only, with the Agg backend (no display, no
pyplot global state), so every other command starts without it.
"""

from __future__ import annotations

from emu.hw.machine import cost_words, machine_label

VARIANTS = ("processes", "threads")
COLOURS = {"processes": "tab:blue", "threads": "tab:orange"}
COMPARE_COLOURS = {"processes": "tab:green", "threads": "tab:red"}


class PlotError(Exception):
    """The plot cannot be made (matplotlib missing, or the file cannot be written)."""


def require_matplotlib() -> None:
    """Fail before a long sweep, not after it, when --plot cannot work."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotError("--plot needs matplotlib (pip install matplotlib)") from None


def strategy_words(strategies: dict[str, str], kinds: list[str] | None = None) -> str:
    kinds = list(strategies) if kinds is None else kinds
    return " ".join(f"{k}={strategies[k]}" for k in kinds if k in strategies)


def _differing(a: dict[str, str], b: dict[str, str]) -> list[str]:
    return [k for k in a if a.get(k) != b.get(k)]


def _costs(sweep: dict) -> str:
    """The costs a sweep set over its preset (--cost), as words."""
    return cost_words(sweep.get("costs_set", {}))


def _machine(sweeps: list[dict]) -> str:
    """The machine, with the costs the sweeps set if they all set the same."""
    first = sweeps[0]
    same = len({_costs(s) for s in sweeps}) == 1
    return machine_label(first["machine"], first.get("costs_set", {}) if same else {})


def title_of(sweeps: list[dict]) -> str:
    """The testcase's description / `mmap1 on skylake-2s (96 CPUs)` / the strategies."""
    first = sweeps[0]
    lines = [first.get("description") or "",
             f"{first['testcase']} on {_machine(sweeps)} ({first['ncpus']} CPUs)"]
    strategies = first["strategies"]
    diff = _differing(strategies, sweeps[1]["strategies"]) if len(sweeps) > 1 else []
    if diff:
        same = [k for k in strategies if k not in diff]
        what = " vs ".join(strategy_words(s["strategies"], diff) for s in sweeps)
        lines.append(what + (f" ({strategy_words(strategies, same)})" if same else ""))
    else:
        lines.append(strategy_words(strategies))
    return "\n".join(line for line in lines if line)


def _labels(sweeps: list[dict], names: list[str] | None) -> list[str]:
    """Legend suffixes: the strategies that differ, else the given names (file names)."""
    if len(sweeps) < 2:
        return [""]
    diff = _differing(sweeps[0]["strategies"], sweeps[1]["strategies"])
    if diff:
        return [f" ({strategy_words(s['strategies'], diff)})" for s in sweeps]
    if len({_costs(s) for s in sweeps}) > 1:
        return [f" ({_costs(s) or 'preset costs'})" for s in sweeps]
    names = names or [f"sweep {n + 1}" for n in range(len(sweeps))]
    return [f" ({name})" for name in names]


def plot_sweeps(path: str, sweeps: list[dict], names: list[str] | None = None) -> None:
    """Write a PNG of each sweep's rows (`sweep` objects of the sweep JSON) to `path`.

    `names` label the sweeps in the legend when their strategies are the same.
    """
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter, MaxNLocator

    fig = Figure(figsize=(8, 5), dpi=100)
    ax = fig.add_subplot()
    top = 0  # the highest measured point: the linear reference may leave the plot above it
    for n, (sweep, suffix) in enumerate(zip(sweeps, _labels(sweeps, names), strict=True)):
        rows = [r for r in sweep["rows"] if r["tasks"] > 0]
        colours = COLOURS if n == 0 else COMPARE_COLOURS
        for variant in sweep["variants"]:
            pts = [(r["tasks"], r[variant]) for r in rows if r[variant] >= 0]  # -1: failed
            if pts:
                xs, ys = zip(*pts, strict=True)
                top = max(top, *ys)
                ax.plot(xs, ys, marker="o" if n == 0 else "s", color=colours[variant],
                        label=variant + suffix)
        lin = [(r["tasks"], r["linear"]) for r in rows if r["linear"] > 0]
        if lin:
            xs, ys = zip(*lin, strict=True)
            ax.plot(xs, ys, linestyle="--", color="grey" if n == 0 else "silver",
                    label="linear" + suffix)
    ax.set_title(title_of(sweeps), fontsize=10)
    ax.set_xlabel("tasks")
    ax.set_ylabel("operations per emulated second")
    ax.yaxis.set_major_formatter(EngFormatter())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0, top=top * 1.5 if top > 0 else None)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # nothing to label when every run failed
        ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(path, format="png")
    except OSError as exc:
        raise PlotError(f"cannot write {path}: {exc.strerror or exc}") from None


def plot_variants(path: str, title: str, series: list[tuple[str, list[tuple[int, list[int]]]]]
                  ) -> None:
    """Write a PNG of several variants' ops/s against tasks (`emu experiment`): one line
    per variant through the mean over seeds, with bars from the lowest to the highest seed.

    `series` is [(label, [(tasks, [ops/s of each seed]), ...]), ...].
    """
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter, MaxNLocator

    fig = Figure(figsize=(8, 5), dpi=100)
    ax = fig.add_subplot()
    for label, points in series:
        pts = [(t, vals) for t, vals in points if vals]
        if not pts:
            continue
        xs = [t for t, _ in pts]
        means = [sum(v) / len(v) for _, v in pts]
        lo = [m - min(v) for m, (_, v) in zip(means, pts, strict=True)]
        hi = [max(v) - m for m, (_, v) in zip(means, pts, strict=True)]
        ax.errorbar(xs, means, yerr=[lo, hi], marker="o", capsize=3, label=label)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("tasks")
    ax.set_ylabel("operations per emulated second")
    ax.yaxis.set_major_formatter(EngFormatter())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(path, format="png")
    except OSError as exc:
        raise PlotError(f"cannot write {path}: {exc.strerror or exc}") from None
