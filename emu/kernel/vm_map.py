"""vm_map operations run on the CPU that calls them (sys/vm/vm_map.c)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emu.kernel.pmap import pmap_remove

if TYPE_CHECKING:
    from emu.cpu.td import Td
    from emu.kernel.proc import VmMap

KERN_SUCCESS, KERN_NO_SPACE = 0, 3


def vm_map_lock(td: Td, map: VmMap) -> None:
    """sx_xlock on a user map.  A private map's lock is only ever on this CPU's cache."""
    if map.lock_id is None:
        td.cycles(td.cost.atomic_local)
    else:
        td.mtx_lock(map.lock_id)


def vm_map_unlock(td: Td, map: VmMap) -> None:
    if map.lock_id is None:
        td.cycles(td.cost.atomic_local)
    else:
        td.mtx_unlock(map.lock_id)


def vm_map_find(td: Td, map: VmMap, length: int) -> int:
    """vm_map_find with VMFS_OPTIMAL_SPACE: findspace, then vm_map_insert.  Returns the
    address, or -1 (KERN_NO_SPACE)."""
    vm_map_lock(td, map)
    start = map.findspace(length)
    if start >= 0:
        vm_map_insert(td, map, start, start + length)
    vm_map_unlock(td, map)
    return start


def vm_map_insert(td: Td, map: VmMap, start: int, end: int) -> None:
    """A private writable mapping is charged to swap up front (MAP_ACC_CHARGED) and its
    entry keeps a reference on the thread's credential."""
    td.cycles(td.cost.vm_map_insert)
    kernel = td.kernel
    kernel.swap.swap_reserve_by_cred(td, end - start)
    kernel.ucred.crhold(td)
    map.entries[start] = end


def vm_map_remove(td: Td, map: VmMap, start: int, end: int) -> int:
    vm_map_lock(td, map)
    rv = vm_map_delete(td, map, start, end)
    vm_map_unlock(td, map)
    return rv


def vm_map_delete(td: Td, map: VmMap, start: int, end: int) -> int:
    """Unmap [start, end): pmap_remove, then vm_map_entry_delete for each entry."""
    victims = [s for s, e in map.entries.items() if s < end and e > start]
    for s in victims:
        pmap_remove(td, s, map.entries[s])
        td.cycles(td.cost.vm_map_delete)
        vm_map_entry_delete(td, map, s)
    return KERN_SUCCESS


def vm_map_entry_delete(td: Td, map: VmMap, start: int) -> None:
    """Unlink the entry, give back its swap charge and its credential reference."""
    end = map.entries.pop(start)
    kernel = td.kernel
    kernel.swap.swap_release_by_cred(td, end - start)
    kernel.ucred.crfree(td)
