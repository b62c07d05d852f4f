"""What the emulated kernel of one run consists of: its locks, hot lines, processes and the
strategy modules chosen for it.

The supervisor builds it before forking, so the actor and every CPU process agree on every
id.  Each strategy module declares the locks and lines it uses in its `configure(kc)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType, SimpleNamespace

from emu.kernel.locks import LockTable
from emu.kernel.proc import Proc, make_procs
from emu.kernel.strategies import KINDS, choose, strategy


def lock_word(name: str) -> str:
    return f"{name} (lock word)"


class LineTable:
    """Named hot cache lines of shared kernel data (not lock words: those are the locks')."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def add(self, name: str) -> int:
        if name not in self.names:
            self.names.append(name)
        return self.names.index(name)


@dataclass
class KernelConfig:
    locks: LockTable
    lines: LineTable
    procs: list[Proc]                   # the process of each task
    cpus: list[int]                     # the CPU of each task
    strategies: dict[str, str]
    modules: dict[str, ModuleType] = field(default_factory=dict)
    spin_locks: set[str] = field(default_factory=set)
    ids: SimpleNamespace = field(default_factory=SimpleNamespace)  # lock and line ids by name
    epoch: object = None                # emu.epoch.Epoch, when the di strategy needs one

    def add_lock(self, name: str, spin: bool = False) -> int:
        if spin:
            self.spin_locks.add(name)
        lock = self.locks.add(name)
        self.lines.add(lock_word(name))
        return lock

    def lock_line(self, lock: int) -> int:
        """The line id of a lock's word: data declared beside the lock can share it."""
        return self.lines.add(lock_word(self.locks.names[lock]))

    @property
    def di(self) -> ModuleType:
        return self.modules["di"]

    @property
    def swap(self) -> ModuleType:
        return self.modules["swap"]

    @property
    def ucred(self) -> ModuleType:
        return self.modules["ucred"]


def build_kernel(mode: str, cpus: list[int], strategies: dict[str, str] | None = None
                 ) -> KernelConfig:
    locks = LockTable()
    kc = KernelConfig(locks=locks, lines=LineTable(), procs=[], cpus=list(cpus),
                      strategies=choose(**(strategies or {})))
    for kind in KINDS:
        kc.modules[kind] = module = strategy(kind, kc.strategies[kind])
        module.configure(kc)
    kc.procs = make_procs(mode, len(cpus), locks)
    return kc
