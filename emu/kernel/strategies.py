"""Synchronisation strategies, chosen by name: one small module each, one interface per kind.

    di     delayed invalidation in pmap_remove: mutex | epoch | lockless | none
           pmap_delayed_invl_started(td), pmap_delayed_invl_finished(td)
    swap   swap reservation accounting:           mutex | atomic | pcpu
           swap_reserve_by_cred(td, bytes), swap_release_by_cred(td, bytes)
    ucred  the credential's reference count:      shared | perproc
           crhold(td), crfree(td), cred_read(td)

Every module also has `configure(kc)`, declaring its locks and lines.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

STRATEGIES: dict[str, tuple[str, ...]] = {
    "di": ("mutex", "epoch", "lockless", "none"),
    "swap": ("mutex", "atomic", "pcpu"),
    "ucred": ("shared", "perproc"),
}
KINDS = tuple(STRATEGIES)
DEFAULTS = {"di": "mutex", "swap": "mutex", "ucred": "shared"}


class StrategyError(ValueError):
    """An unknown strategy kind or name."""


def choose(**selected: str | None) -> dict[str, str]:
    """The full selection: defaults overridden by what was given; raises StrategyError."""
    chosen = dict(DEFAULTS)
    for kind, name in selected.items():
        if kind not in STRATEGIES:
            raise StrategyError(f"unknown strategy kind {kind!r}")
        if name is None:
            continue
        if name not in STRATEGIES[kind]:
            raise StrategyError(f"unknown {kind} strategy {name!r} "
                                f"(known: {', '.join(STRATEGIES[kind])})")
        chosen[kind] = name
    return chosen


def strategy(kind: str, name: str) -> ModuleType:
    return import_module(f"emu.kernel.{kind}.{name}")
