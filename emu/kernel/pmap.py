"""amd64 pmap paths (sys/amd64/amd64/pmap.c, FreeBSD head mid-2018).

pmap_remove brackets its work with delayed invalidation (DI): pmap_delayed_invl_started()
and pmap_delayed_invl_finished(), which in 2018 serialise on the global `invl_gen_mtx`
(emu/kernel/di/mutex.py); the other strategies replace that pair.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emu.cpu.td import Td


def pmap_remove(td: Td, sva: int, eva: int) -> None:
    """Remove the range's mappings.  mmap1 never touches its pages, so the walk finds no
    valid PTE: nothing to invalidate and no TLB shootdown, only the DI bracket (the chosen
    `di` strategy: emu/kernel/di/)."""
    di = td.kernel.di
    di.pmap_delayed_invl_started(td)
    td.cycles(td.cost.pmap_remove_walk)
    di.pmap_delayed_invl_finished(td)
