"""The targets a baseline run observed, and which strategy kind owns each.

Targets come from the run's own JSON (`emu run --json`), not from a fixed list: each lock
with its holds, each (lock, caller) with holds, each hot line with busy cycles, and, when
the run was profiled, each kernel function that charged cycles (the profile's rows, less
the waiting it synthesises from the lock statistics: lock_delay, __mtx_lock_sleep,
_mtx_lock_spin_cookie, and the IPI handlers' time).  A target's `share` is its part of
what a speed-up of its kind would shorten: a lock's hold cycles among all locks' holds, a
line's busy cycles among all lines', a function's cycles among all such functions'.
Targets under `floor` percent are not run (they cannot buy much; `--floor 0` runs all).

Owners (for `emu chain`): a lock or line belongs to the strategy kind whose chosen module
declared it in its configure(kc); a lock's word to its lock's kind; a caller or a function
to the kind whose hook it is or whose module defines it.  Per-thread lines, declared by
no configure, and the VM system's own locks and functions belong to none.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace

from emu.causal.speedup import Target
from emu.clock.profile import IPI_HANDLER, KERNEL, LOCK_DELAY, MTX_SLEEP, MTX_SPIN
from emu.kernel.config import lock_word
from emu.kernel.locks import LockTable
from emu.kernel.strategies import KINDS, strategy

TARGET_KINDS = ("lock", "caller", "line", "function")   # what --kinds selects
WAITING = {LOCK_DELAY, MTX_SLEEP, MTX_SPIN, IPI_HANDLER}  # the profile's, not code's
NO_CALLER = "-"


@dataclass(frozen=True)
class Observed:
    target: Target
    share: float        # percent of its kind's cycles in the baseline


def _shares(items: list[tuple[Target, int]], floor: float) -> list[Observed]:
    total = sum(c for _, c in items)
    if total <= 0:
        return []
    out = [Observed(t, 100.0 * c / total) for t, c in items if c > 0]
    return [o for o in out if o.share >= floor]


def observed_targets(doc: dict, kinds: tuple[str, ...] = TARGET_KINDS,
                     floor: float = 1.0) -> list[Observed]:
    """The targets of a baseline's run document, largest share first within each kind."""
    out: list[Observed] = []
    locks = doc.get("locks") or []
    if "lock" in kinds:
        out += _shares([(Target("lock", lk["name"]), int(lk.get("hold_cycles", 0)))
                        for lk in locks], floor)
    if "caller" in kinds:
        out += _shares([(Target("lock", lk["name"], c["caller"]),
                         int(c.get("hold_cycles", 0)))
                        for lk in locks for c in lk.get("callers") or []
                        if c.get("caller", NO_CALLER) != NO_CALLER], floor)
    if "line" in kinds:
        out += _shares([(Target("line", ln["name"]), int(ln.get("busy_cycles", 0)))
                        for ln in doc.get("lines") or []], floor)
    if "function" in kinds and doc.get("profile"):
        cycles: dict[str, int] = {}
        for row in doc["profile"]["rows"]:
            if row["image"] == KERNEL and row["function"] not in WAITING:
                cycles[row["function"]] = cycles.get(row["function"], 0) + int(row["cycles"])
        out += _shares([(Target("function", f), c) for f, c in cycles.items()], floor)
    kind_order = {k: i for i, k in enumerate(("lock", "line", "function"))}
    return sorted(out, key=lambda o: (kind_order[o.target.kind], o.target.caller is not None,
                                      -o.share, o.target.label))


# ------------------------------------------------------------------ owners


class _Declared:
    """What a strategy module's configure(kc) declares: lock and line names."""

    def __init__(self) -> None:
        self.locks = LockTable()
        self.line_names: list[str] = []
        self.lines = SimpleNamespace(add=self._line)
        self.ids = SimpleNamespace()
        self.spin_locks: set[str] = set()

    def _line(self, name: str) -> int:
        if name not in self.line_names:
            self.line_names.append(name)
        return self.line_names.index(name)

    def add_lock(self, name: str, spin: bool = False) -> int:
        lock = self.locks.add(name)
        self._line(lock_word(name))
        return lock

    def lock_line(self, lock: int) -> int:
        return self._line(lock_word(self.locks.names[lock]))


def _hooks(kind: str) -> tuple[str, ...]:
    return __import__(f"emu.kernel.{kind}", fromlist=["HOOKS"]).HOOKS


def _functions(module: ModuleType) -> set[str]:
    return {name for name, v in vars(module).items()
            if inspect.isfunction(v) and getattr(v, "__module__", None) == module.__name__}


class Owners:
    """Which strategy kind owns each structure of a kernel with these strategies."""

    def __init__(self, strategies: dict[str, str]) -> None:
        self.names: dict[str, str] = {}      # a lock's or a line's name -> kind
        self.code: dict[str, str] = {}       # a function's name -> kind
        for kind in KINDS:
            module = strategy(kind, strategies[kind])
            declared = _Declared()
            module.configure(declared)
            for name in [*declared.locks.names, *declared.line_names]:
                self.names.setdefault(name, kind)
            for name in (*_hooks(kind), *_functions(module)):
                self.code.setdefault(name, kind)

    def kind_of(self, target: Target) -> str | None:
        if target.kind == "function":
            return self.code.get(target.name)
        if target.kind == "lock" and target.caller is not None:
            return self.code.get(target.caller) or self.names.get(target.name)
        return self.names.get(target.name)
