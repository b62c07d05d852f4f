"""amd64 pmap paths (sys/amd64/amd64/pmap.c, FreeBSD head mid-2018).

pmap_remove brackets its work with delayed invalidation (DI): pmap_delayed_invl_started()
and pmap_delayed_invl_finished(), which in 2018 serialise on the global `invl_gen_mtx`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emu.cpu.td import Td


def pmap_remove(td: Td, sva: int, eva: int) -> None:
    """Remove the range's mappings.  mmap1 never touches its pages, so the walk finds no
    valid PTE: nothing to invalidate and no TLB shootdown, only the DI bracket."""
    pmap_delayed_invl_started(td)
    td.cycles(td.cost.pmap_remove_walk)
    pmap_delayed_invl_finished(td)


def pmap_delayed_invl_started(td: Td) -> None:
    """Take a new DI generation and insert ourselves at the head of the tracker list."""
    td.mtx_lock(td.kernel.invl_gen_mtx)
    td.cycles(td.cost.di_critical_section)
    td.mtx_unlock(td.kernel.invl_gen_mtx)


def pmap_delayed_invl_finished(td: Td) -> None:
    """Publish or donate our generation and unlink ourselves."""
    td.mtx_lock(td.kernel.invl_gen_mtx)
    td.cycles(td.cost.di_critical_section)
    td.mtx_unlock(td.kernel.invl_gen_mtx)
