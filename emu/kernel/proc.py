"""struct proc and struct vmspace, as far as the emulated paths need them.

A will-it-scale `_processes` testcase gives every task its own process and so its own
vm_map, whose lock only that CPU ever takes (a per-CPU path, priced locally).  A `_threads`
testcase puts all tasks in one process: its vm_map lock is shared kernel state and lives
in the actor's lock table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emu.kernel.locks import LockTable


@dataclass
class VmMap:
    """A process's map of address ranges (sys/vm/vm_map.h: struct vm_map)."""

    lock_id: int | None          # a shared lock in the actor, or None: private to one CPU
    min_offset: int = 0x0000_0008_0000_0000
    max_offset: int = 0x0000_7fff_ffff_f000
    entries: dict[int, int] = field(default_factory=dict)  # start -> end
    hint: int = 0                # where vm_map_findspace starts looking

    def findspace(self, length: int) -> int:
        """First-fit from the hint, like vm_map_findspace's common case."""
        start = max(self.hint, self.min_offset)
        for s, e in sorted(self.entries.items()):
            if e <= start:
                continue
            if s >= start + length:
                break
            start = e
        if start + length > self.max_offset:
            return -1
        return start


@dataclass
class Proc:
    pid: int
    vm_map: VmMap
    pmap_lock: int | None = None     # PMAP_LOCK of a shared pmap (threads)
    files: dict[int, tuple[int, int]] = field(default_factory=dict)  # fd -> (file id, pages)

    @property
    def shared(self) -> bool:
        """Its address space is shared by several tasks (threads): it lives in the actor."""
        return self.pmap_lock is not None


def make_procs(mode: str, tasks: int, locks: LockTable) -> list[Proc]:
    """The process each task runs in: its own (`processes`) or one shared (`threads`)."""
    if mode == "threads":
        shared = Proc(pid=100, vm_map=VmMap(lock_id=locks.add("vm map (user)")),
                      pmap_lock=locks.add("pmap (user)"))
        return [shared] * tasks
    return [Proc(pid=100 + i, vm_map=VmMap(lock_id=None)) for i in range(tasks)]
