"""Synchronisation strategies, chosen by name: one small module each, one interface per kind.

    di     delayed invalidation in pmap_remove (emu/kernel/di/)
           pmap_delayed_invl_started(k), pmap_delayed_invl_finished(k), invl_model()
    swap   swap reservation accounting (emu/kernel/swap/)
           swap_reserve_by_cred(k, bytes), swap_release_by_cred(k, bytes)
    ucred  the credential's reference count (emu/kernel/ucred/)
           crhold(k), crfree(k), cred_read(k)

Every module also has `configure(kc)`, declaring its locks and lines; each kind's package
docstring says what a module must define (its Protocol) and may declare.  The strategies
are found by scanning the kind's package: every public module in it is one, named after
its file; the one marking itself `DEFAULT = True` is used when none is named.  Listing
order: the default, then the others by name.

A name that is a path (`./my_di.py`: ends in .py or has a /) is a strategy from a user's
file, loaded, linted and dry-run by emu.kernel.strategy_file; it is never listed in
STRATEGIES (the built-ins), and its name in a run's strategies is the path as given.
"""

from __future__ import annotations

import inspect
import pkgutil
from importlib import import_module
from types import ModuleType

from emu.kernel import strategy_file

KINDS = ("di", "swap", "ucred")


class StrategyError(ValueError):
    """An unknown strategy kind or name, or a module that lacks part of its interface."""


def _package(kind: str) -> ModuleType:
    return import_module(f"emu.kernel.{kind}")


def _discover(kind: str) -> dict[str, ModuleType]:
    pkg = _package(kind)
    found = {info.name: import_module(f"{pkg.__name__}.{info.name}")
             for info in pkgutil.iter_modules(pkg.__path__) if not info.name.startswith("_")}
    defaults = [name for name, mod in found.items() if getattr(mod, "DEFAULT", False) is True]
    if len(defaults) != 1:
        raise StrategyError(f"{kind} strategies: {len(defaults)} modules declare DEFAULT = True "
                            f"{defaults}; exactly one must")
    order = defaults + sorted(n for n in found if n != defaults[0])
    return {name: found[name] for name in order}


MODULES: dict[str, dict[str, ModuleType]] = {kind: _discover(kind) for kind in KINDS}
STRATEGIES: dict[str, tuple[str, ...]] = {kind: tuple(m) for kind, m in MODULES.items()}
DEFAULTS: dict[str, str] = {kind: names[0] for kind, names in STRATEGIES.items()}


def protocol(kind: str) -> type:
    """The Protocol a strategy module of `kind` implements (its package's INTERFACE)."""
    return _package(kind).INTERFACE


def members(kind: str) -> list[str]:
    """What a strategy module of `kind` must define: its Protocol's methods."""
    return [n for n, v in vars(protocol(kind)).items() if not n.startswith("_") and callable(v)]


def check_interface(kind: str, module: ModuleType) -> ModuleType:
    """The module if it implements `kind`'s interface; else StrategyError, one line: every
    hook a generator function, `configure` (and for di `invl_model`) callable, and
    `init_state`, where there is one, callable."""
    if kind not in KINDS:
        raise StrategyError(f"unknown strategy kind {kind!r}")
    hooks = _package(kind).HOOKS
    name = getattr(module, "__name__", repr(module))
    for attr in members(kind):
        fn = getattr(module, attr, None)
        if fn is None:
            raise StrategyError(f"{kind} strategy {name} does not define {attr}()")
        if attr in hooks and not inspect.isgeneratorfunction(fn):
            raise StrategyError(f"{kind} strategy {name}: {attr} must be a generator function "
                                "(a kernel path that yields its operations)")
        if not callable(fn):
            raise StrategyError(f"{kind} strategy {name}: {attr} is not callable")
    init = getattr(module, "init_state", None)
    if init is not None and not callable(init):
        raise StrategyError(f"{kind} strategy {name}: init_state is not callable")
    return module


def from_file(kind: str, path: str) -> ModuleType:
    """The strategy of `kind` in the user's file `path`, as the kernel uses it (see
    emu.kernel.strategy_file); StrategyError in one line if it cannot be used."""
    if kind not in KINDS:
        raise StrategyError(f"unknown strategy kind {kind!r}")
    others = {k: MODULES[k][DEFAULTS[k]] for k in KINDS if k != kind}
    try:
        return strategy_file.load(kind, path, check_interface, _package(kind).HOOKS, others)
    except strategy_file.StrategyFault as exc:
        raise StrategyError(str(exc)) from None


def kind_of_file(path: str) -> str:
    """The kind whose hooks the strategy file `path` defines; StrategyError (one line) if
    it defines none, or those of more than one kind."""
    try:
        names = strategy_file.defined_functions(path)
    except strategy_file.StrategyFault as exc:
        raise StrategyError(str(exc)) from None
    kinds = [kind for kind in KINDS if names & set(_package(kind).HOOKS)]
    if len(kinds) != 1:
        hooks = "; ".join(f"{kind}: {', '.join(_package(kind).HOOKS)}" for kind in KINDS)
        what = "no strategy's hooks" if not kinds else f"hooks of {' and '.join(kinds)}"
        raise StrategyError(f"{path} defines {what} (a strategy file implements one kind: "
                            f"{hooks})")
    return kinds[0]


def choose(**selected: str | None) -> dict[str, str]:
    """The full selection: defaults overridden by what was given, each module checked
    against its interface (a user's file loaded and checked too); raises StrategyError."""
    chosen = dict(DEFAULTS)
    for kind, name in selected.items():
        if kind not in STRATEGIES:
            raise StrategyError(f"unknown strategy kind {kind!r}")
        if name is None:
            continue
        if strategy_file.is_path(name):
            from_file(kind, name)
        elif name not in STRATEGIES[kind]:
            raise StrategyError(f"unknown {kind} strategy {name!r} "
                                f"(known: {', '.join(STRATEGIES[kind])}; or a file, "
                                f"./my_{kind}.py)")
        chosen[kind] = name
    for kind, name in chosen.items():
        if not strategy_file.is_path(name):
            check_interface(kind, MODULES[kind][name])
    return chosen


def strategy(kind: str, name: str) -> ModuleType:
    """The checked module of strategy `name` of `kind` (a built-in, or a user's file);
    raises StrategyError."""
    if strategy_file.is_path(name):
        return from_file(kind, name)
    try:
        module = MODULES[kind][name]
    except KeyError:
        raise StrategyError(f"unknown {kind} strategy {name!r}") from None
    return check_interface(kind, module)
