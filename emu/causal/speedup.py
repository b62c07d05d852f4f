"""A target's virtual speed-up: what `emu whatif` changes in the model for one run.

Coz (Curtsinger and Berger, "Coz: finding code that counts with causal profiling", SOSP
2015) asks how much faster the program would be if one piece of it were faster, and answers
by measuring it.  A discrete-event model can do better than Coz's virtual delays: it makes
the piece faster, where its cost arises, and runs again.  Nothing is computed from the
results.  A speed-up of p% scales the target's costs by (1 - p/100); 100% removes them.

    lock L        its critical sections and its handoff: the cycles its holder charges on
                  the CPU while holding L (td.speed), the line transfers the holder makes
                  meanwhile, on the CPU or in a kernel call (FastLines: every access by
                  L's owner), and the transfers of L's word (spinners' re-reads, the
                  fcmpsets, the releaser's row: the word's line, and _Home)
    lock L @ C    the critical sections entered from caller C only (no handoff)
    line N        every transfer of line N: its misses, the invalidations it sends; a lock
                  word's line also prices that lock's handoff (_Home)
    function F    the local cycles F charges on the CPU (as --profile attributes them:
                  emu/clock/profile.py), scaled where they are charged

Not scaled: an L1 hit and a locked instruction's own cycles (the core's, not the line's),
DRAM on a first touch, and local cycles charged inside kernel calls in the actor (the paths
of a `_threads` address space): a function target scales only what a CPU charges.

The run carries its Speedup on RunSpec.speedup (and KernelConfig.speedup), so it reaches
the actor (KernelState calls in_actor) and every CPU (Td calls on_cpu) as the rest of the
spec does.  Both hooks change the model's objects once, when they are made; a run without a
speed-up pays nothing for this module.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import emu
from emu.clock.profile import _RUN_LOCAL, _kpath
from emu.hw.coherence import Coherence
from emu.kernel.kcalls import CALLERS

KINDS = ("lock", "line", "function")
PER_THREAD = " (per thread)"   # how KernelState.hot_lines names a per-thread line
_EMU_DIR = str(Path(emu.__file__).parent)


@dataclass(frozen=True)
class Target:
    """What is sped up: a lock (and maybe only its sections from one caller), a hot line
    by the name the run JSON gives it, or a kernel function by name."""

    kind: str
    name: str
    caller: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown target kind {self.kind!r} (known: {', '.join(KINDS)})")
        if self.caller is not None and self.kind != "lock":
            raise ValueError("only a lock's target names a caller")

    @property
    def label(self) -> str:
        """`lock invl_gen_mtx`, `lock invl_gen_mtx @ pmap_delayed_invl_started`."""
        words = f"{self.kind} {self.name}"
        return f"{words} @ {self.caller}" if self.caller else words

    def document(self) -> dict:
        return {"kind": self.kind, "name": self.name, "caller": self.caller}


def _scaled(table: list[list[int]], factor: float, least: int) -> list[list[int]]:
    """Each transfer's cycles times `factor`, but no less than `least` (an L1 hit's): a
    transfer sped up 100% costs what finding the line already here would (free lines
    would let the mutex model's handoffs happen in no time at all, forever)."""
    return [[c if c == 0 else max(least, int(round(c * factor))) for c in row]
            for row in table]


@dataclass(frozen=True)
class Speedup:
    """One target, `percent` faster (0: as it is; 100: free)."""

    target: Target
    percent: int

    def __post_init__(self) -> None:
        if not 0 <= self.percent <= 100:
            raise ValueError(f"a speed-up is 0 to 100%, not {self.percent}")

    @property
    def factor(self) -> float:
        """What the target's costs are multiplied by."""
        return 1.0 - self.percent / 100.0

    def document(self) -> dict:
        return {**self.target.document(), "percent": self.percent}

    # ------------------------------------------------------------ the checks

    def check(self, kernel: Any) -> None:
        """ValueError (one line) if the run's kernel has no such target."""
        t = self.target
        if t.kind == "lock":
            if t.name not in kernel.locks.names:
                raise ValueError(f"speed-up of {t.label}: the kernel has no lock {t.name!r}")
            if t.caller is not None and t.caller not in CALLERS:
                raise ValueError(f"speed-up of {t.label}: no lock is taken from {t.caller!r}")
        elif t.kind == "line" and not t.name.endswith(PER_THREAD):
            if t.name not in kernel.lines.names:
                raise ValueError(f"speed-up of {t.label}: the kernel has no line {t.name!r}")

    # ------------------------------------------------------------ on a CPU

    def on_cpu(self, td: Any) -> None:
        """Td.__init__'s hook: patch this CPU's operations, once."""
        t = self.target
        if t.kind == "lock":
            lock = td.kernel.locks.id(t.name)
            caller = None if t.caller is None else CALLERS.index(t.caller)
            _speed_holds(td, lock, caller, self.factor)
        elif t.kind == "function":
            _scale_function(td, t.name, self.factor)

    # ------------------------------------------------------------ in the actor

    def in_actor(self, ks: Any) -> None:
        """KernelState.__init__'s hook: the machine's lines with the target's costs scaled,
        and the lock whose handoff is sped up priced by them."""
        t = self.target
        if t.kind == "function":
            return
        keys: set = set()
        prefixes: set[str] = set()
        hold = None
        handoff = []
        if t.kind == "lock":
            mtx = next(m for m in ks.locks if m.name == t.name)
            hold = (mtx.lock_id, None if t.caller is None else CALLERS.index(t.caller))
            if t.caller is None:
                keys.add(mtx.word)
                handoff.append(mtx.lock_id)
        elif t.name.endswith(PER_THREAD):
            prefixes.add(t.name[:-len(PER_THREAD)])
        else:
            key = ks.line_names.index(t.name)
            keys.add(key)
            handoff = [m.lock_id for m in ks.locks if m.word == key]   # a lock word's line
        # The mutexes made again over the new lines (they take their lines from their
        # home when they are made), the sped-up handoff's over a home with scaled transfers.
        ks.coh = fast = FastLines(ks.coh, self.factor, keys, prefixes)
        ks.locks = [type(m)(_Home(ks, fast.quick[0]) if m.lock_id in handoff else ks,
                            m.name, m.lock_id, spin=m.spin) for m in ks.locks]
        if hold is not None:
            fast.hold_mtx, fast.hold_caller = ks.locks[hold[0]], hold[1]


class FastLines(Coherence):
    """The machine's lines (the same ones), where some accesses cost `factor` of a
    transfer: those to `keys` or to a per-thread line named in `prefixes`, and every
    access by the owner of `hold_mtx` while it holds it (taken from `hold_caller`)."""

    def __init__(self, base: Coherence, factor: float, keys: set, prefixes: set[str]
                 ) -> None:
        super().__init__(base.transfer, base.hit, base.atomic, base.memory)
        self.lines = base.lines
        self.inbound = base.inbound
        self.slow = (base.transfer, base.inbound)
        self.quick = (_scaled(base.transfer, factor, base.hit),
                      _scaled(base.inbound, factor, base.hit))
        self.keys = keys
        self.prefixes = prefixes
        self.hold_mtx = None      # the sped-up lock (its owner's accesses are quick) ...
        self.hold_caller = None   # ... when it was taken from this caller (None: any)

    def _fast(self, key: Any, cpu: int) -> bool:
        if key in self.keys:
            return True
        if self.prefixes and key.__class__ is tuple and key[0] in self.prefixes:
            return True
        m = self.hold_mtx
        if m is None:
            return False
        owner = m.owner
        return owner is not None and owner.cpu == cpu and (
            self.hold_caller is None or m.owner_caller == self.hold_caller)

    def _quick(self, fn, key: Any, cpu: int, *args: Any) -> int:
        self.transfer, self.inbound = self.quick
        try:
            return fn(self, key, cpu, *args)
        finally:
            self.transfer, self.inbound = self.slow

    def read(self, key, cpu, t):
        if self._fast(key, cpu):
            return self._quick(Coherence.read, key, cpu, t)
        return Coherence.read(self, key, cpu, t)

    def write(self, key, cpu, t):
        if self._fast(key, cpu):
            return self._quick(Coherence.write, key, cpu, t)
        return Coherence.write(self, key, cpu, t)

    def rmw(self, key, cpu, t, invalidate=0):
        if self._fast(key, cpu):
            return self._quick(Coherence.rmw, key, cpu, t, invalidate)
        return Coherence.rmw(self, key, cpu, t, invalidate)

    def rfo_cost(self, key, cpu):
        if self._fast(key, cpu):
            return self._quick(Coherence.rfo_cost, key, cpu)
        return Coherence.rfo_cost(self, key, cpu)


class _Home:
    """A mutex's home (emu.kernel.mtx.MtxHome) as its sped-up word sees it: the kernel
    state's, but a transfer table scaled (the releaser's row the spinners' re-reads and
    fcmpsets are priced by)."""

    def __init__(self, ks: Any, transfer: list[list[int]]) -> None:
        self._ks = ks
        self.transfer = transfer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ks, name)


def _speed_holds(td: Any, lock: int, caller: int | None, factor: float) -> None:
    """While td holds `lock` (taken from `caller`, if given), its local cycles cost
    `factor` of what they would: td.speed, which Td.local multiplies every cost by."""
    take, drop = td.mtx_lock, td.mtx_unlock
    speed = td.speed

    def ours(lk: int, c: int) -> bool:
        return lk == lock and (caller is None or c == caller)

    def mtx_lock(lk: int, c: int = 0) -> None:
        take(lk, c)
        if ours(lk, c):
            td.speed = speed * factor

    def mtx_unlock(lk: int, c: int = 0) -> None:
        if ours(lk, c):
            td.speed = speed
        drop(lk, c)

    td.mtx_lock, td.mtx_unlock = mtx_lock, mtx_unlock


def charged_by(frame: FrameType) -> Any:
    """The code object the profile charges a `td.cycles` call from `frame` to."""
    return _kpath(frame)[0] if frame.f_code is _RUN_LOCAL else frame.f_code


def _scale_function(td: Any, name: str, factor: float) -> None:
    """td's local cycles charged by kernel function `name` cost `factor` of what they
    would, attributed as --profile attributes them (charged_by)."""
    charge = td.cycles
    memo: dict = {}

    def cycles(n: int) -> None:
        code = charged_by(sys._getframe(1))
        hit = memo.get(code)
        if hit is None:
            hit = memo[code] = (code.co_name == name
                                and code.co_filename.startswith(_EMU_DIR))
        charge(n * factor if hit else n)

    td.cycles = cycles
