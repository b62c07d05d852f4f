"""struct proc and struct vmspace, as far as the emulated paths need them.

A will-it-scale `_processes` testcase gives every task its own process and so its own
vm_map, whose lock only that CPU ever takes (a per-CPU path, priced locally).  A `_threads`
testcase puts all tasks in one process: its vm_map lock is shared kernel state and lives
in the actor's lock table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emu.kernel.locks import LockTable

USER_BASE = 0x0000_0008_0000_0000   # where the emulated maps' mmap hint region begins
# What exec and rtld mapped before the testcase's first mmap: the shared libraries
# (ld-elf.so.1, libc, libthr, libhwloc) and will-it-scale's results page sit at the mmap
# hint, so a run's first mmap lands right after them.  It lands page-aligned, not on a 2MB
# boundary: an anonymous mapping has no object to colour, so vm_map_find turns
# VMFS_OPTIMAL_SPACE into VMFS_ANY_SPACE (sys/vm/vm_map.c, 2018).  So the range's first
# 2MB shares a page-table page with the image, and pmap_remove walks it slot by slot
# (pmap_remove_ptes).  How far into its last 2MB block the image reaches was not
# published; both of the case study's flame graphs put ~205 ns of every munmap in
# pmap_remove_ptes, 215 empty slots at the preset's pmap_pte_slot, so it ends 297 pages in.
IMAGE_END = USER_BASE + (297 << 12)


@dataclass
class VmMap:
    """A process's map of address ranges (sys/vm/vm_map.h: struct vm_map)."""

    lock_id: int | None          # a shared lock in the actor, or None: private to one CPU
    min_offset: int = USER_BASE
    max_offset: int = 0x0000_7fff_ffff_f000
    entries: dict[int, int] = field(default_factory=dict)  # start -> end
    hint: int = 0                # where vm_map_findspace starts looking

    def findspace(self, length: int) -> int:
        """First-fit from the hint, like vm_map_findspace's common case, above the image."""
        start = max(self.hint, IMAGE_END)
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
