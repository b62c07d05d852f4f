"""`emu list`: what can be run, on what, with which clocks and strategies."""

from __future__ import annotations

from emu.kernel.strategies import DEFAULTS, STRATEGIES
from emu.machines import DEFAULT_MACHINE, load_machine, preset_names
from emu.sched import CLOCKS
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
