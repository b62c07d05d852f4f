"""struct proc (sys/sys/proc.h), as far as the emulated paths need it, and where exec left
the process image.

A will-it-scale `_processes` testcase gives every task its own process and so its own
vm_map, whose lock only that CPU ever takes (a per-CPU path, priced locally).  A `_threads`
testcase puts all tasks in one process: its vm_map lock is shared kernel state and lives
in the actor's lock table (emu/kernel/config.py: make_procs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emu.kernel.vm_map import VmMap

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
class Proc:
    pid: int
    vm_map: VmMap
    pmap_lock: int | None = None     # PMAP_LOCK of a shared pmap (threads)
    files: dict[int, tuple[int, int]] = field(default_factory=dict)  # fd -> (file id, pages)

    @property
    def shared(self) -> bool:
        """Its address space is shared by several tasks (threads): it lives in the actor."""
        return self.pmap_lock is not None


