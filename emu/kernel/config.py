"""What the emulated kernel of one run consists of: its locks, hot lines, processes and the
strategy modules chosen for it.

The supervisor builds it before forking, so the actor and every CPU process agree on every
id.  Each strategy module declares the locks and lines it uses in its `configure(kc)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType, SimpleNamespace

from emu.kernel.locks import LockTable
from emu.kernel.proc import Proc
from emu.kernel.strategies import KINDS, choose, strategy
from emu.kernel.vm_map import VmMap
from emu.kernel.vm_phys import vm_phys_configure
from emu.kernel.vm_state import NPV_LIST_LOCKS, VmState, shared_vm_state


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
    epoch: object = None                # emu.epoch.Epoch, when a strategy needs one
    speedup: object = None              # emu whatif's sped-up target (emu/causal/speedup.py)

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

    def shared_vm_state(self) -> VmState:
        """A fresh actor's VM state: every shared address space (for KernelState)."""
        return shared_vm_state(self.ids)

    @property
    def needs_epoch(self) -> bool:
        """Whether a chosen strategy declares NEEDS_EPOCH = True: the supervisor then
        allocates the epoch(9) records (`epoch`) before forking."""
        return any(getattr(m, "NEEDS_EPOCH", False) is True for m in self.modules.values())


def build_kernel(mode: str, cpus: list[int], strategies: dict[str, str] | None = None
                 ) -> KernelConfig:
    locks = LockTable()
    kc = KernelConfig(locks=locks, lines=LineTable(), procs=[], cpus=list(cpus),
                      strategies=choose(**(strategies or {})))
    for kind in KINDS:   # loaded and checked against the kind's interface (StrategyError)
        kc.modules[kind] = module = strategy(kind, kc.strategies[kind])
        module.configure(kc)
    kc.procs = make_procs(mode, len(cpus), locks)
    vm_configure(kc)
    return kc


def vm_configure(kc: KernelConfig) -> None:
    """The VM system's locks and lines: the page free queue, the TLB shootdown's spin lock
    and published addresses, the PV list locks (lines: an rwlock nobody waits long on),
    and each shared address space's map and pmap locks."""
    ids = kc.ids
    ids.check = False      # the invariant checker's runs (emu check) set these two
    ids.di_track = False
    ids.vm_free_lock = kc.add_lock("vm page free queue")
    ids.smp_ipi_mtx = kc.add_lock("smp_ipi_mtx", spin=True)
    ids.smp_tlb_line = kc.lines.add("smp_tlb_generation")
    ids.pv_lines = [kc.lines.add(f"pv_list_locks[{i}]") for i in range(NPV_LIST_LOCKS)]
    ids.vm_shared = {p.pid: (p.vm_map.lock_id, p.pmap_lock) for p in kc.procs if p.shared}
    for p in kc.procs:   # their lock words' lines, named before the CPUs are forked
        if p.shared:
            kc.lock_line(p.vm_map.lock_id)
            kc.lock_line(p.pmap_lock)
    vm_phys_configure(kc)          # every memory domain's locks and lines
    ids.pv_chunks_mutex = kc.add_lock("pmap pv chunk list")
    kc.lock_line(ids.pv_chunks_mutex)


def make_procs(mode: str, tasks: int, locks: LockTable) -> list[Proc]:
    """The process each task runs in: its own (`processes`) or one shared (`threads`)."""
    if mode == "threads":
        shared = Proc(pid=100, vm_map=VmMap(lock_id=locks.add("vm map (user)")),
                      pmap_lock=locks.add("pmap (user)"))
        return [shared] * tasks
    return [Proc(pid=100 + i, vm_map=VmMap(lock_id=None)) for i in range(tasks)]
