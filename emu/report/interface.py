"""`emu list --interface KIND`: what a strategy of KIND implements, and what a strategy
file may use, from the code that holds a strategy to it: the kind's package docstring, its
Protocol (emu/kernel/{di,swap,ucred}/__init__.py) and emu/kernel/strategy_file.py's rules."""

from __future__ import annotations

import inspect
import textwrap
from importlib import import_module

from emu.kernel import strategy_file
from emu.kernel.strategies import DEFAULTS, KINDS, STRATEGIES, protocol


def _signature(fn) -> str:
    sig = inspect.signature(fn)
    params = [p for name, p in sig.parameters.items() if name != "self"]
    return str(sig.replace(parameters=params)).replace("'", "")


def interface_doc(kind: str) -> str:
    """The text; ValueError (one line) for an unknown kind."""
    if kind not in KINDS:
        raise ValueError(f"unknown strategy kind {kind!r} (known: {', '.join(KINDS)})")
    pkg = import_module(f"emu.kernel.{kind}")
    proto = protocol(kind)
    out = [f"--{kind}: {', '.join(STRATEGIES[kind])} (default {DEFAULTS[kind]}), or a file "
           f"./my_{kind}.py", "", inspect.cleandoc(pkg.__doc__ or ""), "",
           f"The Protocol ({proto.__name__}, emu/kernel/{kind}/__init__.py):"]
    for name, fn in vars(proto).items():
        if name.startswith("_") or not callable(fn):
            continue
        out.append(f"    {name}{_signature(fn)}")
        doc = inspect.getdoc(fn)
        if doc:
            out += [f"        {line}" for line in textwrap.wrap(doc, 80)]
    allowed = [f"    {mod}: {', '.join(names) if names != ('*',) else 'anything'}"
               for mod, names in strategy_file.ALLOWED.items()]
    out += ["", "A strategy from a file (docs/strategies-guide.md):",
            "  it may import only", *allowed,
            "  its hooks see of k: k.cost, k.cpu, k.td.cpu, k.td.task, k.td.pcpu (this "
            "CPU's own),", "    k.td.kernel.ids (read only), k.td.kernel.di/swap/ucred (to "
            "delegate)",
            "  it may not: global or nonlocal, a mutable value at module or class level,",
            *textwrap.wrap("call " + ", ".join(f"{n}()" for n in strategy_file.FORBIDDEN_CALLS),
                           84, initial_indent="    ", subsequent_indent="    "),
            f"  each hook is dry-run before a run: it must return within "
            f"{strategy_file.DRY_RUN_REQUESTS} requests and {strategy_file.DRY_RUN_S:g} s"]
    return "\n".join(out)
