"""The swap accounting counters (sys/vm/swap_pager.c): the global `swap_reserved` and the
uid's `ui_vmsize` (struct uidinfo), as FreeBSD 12.1 updates them, with
atomic_fetchadd_long.  Not a strategy: the strategies that keep them this way
(emu/kernel/swap/atomic.py, and pcpu.py behind its per-CPU slop) share it.
"""

from __future__ import annotations

from emu.kernel.kthread import Rmw


def swap_counters_configure(kc) -> None:
    """The counters' lines: each global, each its own line."""
    kc.ids.swap_reserved = kc.lines.add("swap_reserved")
    kc.ids.ui_vmsize = kc.lines.add("uidinfo ui_vmsize")


def swap_fetchadd(ids) -> tuple[Rmw, Rmw]:
    """atomic_fetchadd_long on swap_reserved, then on uip->ui_vmsize (no limit is near, so
    never rolled back), as requests for the caller to yield (`yield from`).  The atomics are
    inlined in FreeBSD, so they are the caller's: a tuple, not a generator, so a profile
    shows no function of their own."""
    return (Rmw(ids.swap_reserved), Rmw(ids.ui_vmsize))
