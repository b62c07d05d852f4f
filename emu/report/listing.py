"""`emu list`: what can be run, on what, with which clocks and strategies."""

from __future__ import annotations

import textwrap

from emu.clock import CLOCKS
from emu.hw.machine import DEFAULT_MACHINE, NOT_CYCLES, cost_reasons, load_machine, preset_names
from emu.kernel.strategies import DEFAULTS, STRATEGIES
from emu.testcases import builtin_names, resolve


def listing() -> str:
    lines = ["testcases:"]
    for name in builtin_names():
        lines.append(f"  {name:<24} {resolve(name).description}")
    lines.append("machines:")
    for name in preset_names():
        m = load_machine(name)
        mark = " (default)" if name == DEFAULT_MACHINE else ""
        lines.append(f"  {name:<24} {m.ncpus} CPUs: {m.description}{mark}")
    lines.append("clocks:")
    for name in CLOCKS:
        lines.append(f"  {name}{' (default)' if name == 'virtual' else ''}")
    lines.append("strategies:")
    for kind, names in STRATEGIES.items():  # the registry: what --di/--swap/--ucred accept
        marked = [f"{n} (default)" if n == DEFAULTS.get(kind) else n for n in names]
        lines.append(f"  {kind:<7} {', '.join(marked)}")
    return "\n".join(lines)


def cost_listing(machine: str = DEFAULT_MACHINE) -> str:
    """`emu list --costs`: a machine's cost table, what `--cost NAME=VALUE` sets, each cost
    with its value (cycles at the machine's clock, and in ns) and the preset's reason."""
    m = load_machine(machine)
    reasons = cost_reasons(machine)
    lines = [f"costs of {m.name} ({m.ncpus} CPUs, {m.freq_hz / 1e9:.2f} GHz); set one with "
             "--cost NAME=VALUE (cycles, or a duration such as 150ns):"]
    width = max(map(len, m.costs), default=0)
    for name, value in m.costs.items():
        if name in NOT_CYCLES:
            amount = f"{value:g} ({NOT_CYCLES[name][0]})"
        else:
            amount = f"{value:g} cycles = {value / m.freq_hz * 1e9:.4g} ns"
        lines.append(f"  {name:<{width}} {amount}")
        for part in textwrap.wrap(reasons.get(name, ""), 92):
            lines.append(f"      {part}")
    return "\n".join(lines)
