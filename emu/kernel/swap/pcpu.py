"""Swap reservation with a per-CPU slop (the case study author's proof of concept).

Each CPU keeps up to SLOP_MAX bytes of reservation, for `swap_reserved` and for the uid's
`ui_vmsize` alike.  A request the slop covers is local.  A shortfall takes what is missing
plus half the slop from the global counters (one atomic each); a release that overfills the
slop gives back all but half of it.  A 128MB mmap1 request therefore mostly falls through to
the global atomics; smaller ones stay local (docs/kernel-reference.md §3).
"""

from __future__ import annotations

from emu.kernel.kthread import KCtx, KPath, Read
from emu.kernel.swap_pager import swap_counters_configure, swap_fetchadd

SLOP_MAX = 128 * 1024 * 1024


def configure(kc) -> None:
    swap_counters_configure(kc)   # the global counters: FreeBSD 12.1's atomics


def _slop(td) -> int:
    return getattr(td.pcpu, "swap_slop", 0)


def _global(k: KCtx) -> KPath:
    """The global counters, as swap/atomic.py keeps them."""
    kernel = k.td.kernel
    yield from kernel.ucred.cred_read(k)   # uip = cred->cr_ruidinfo
    yield from swap_fetchadd(kernel.ids)


def swap_reserve_by_cred(k: KCtx, incr: int) -> KPath:
    td = k.td
    slop = _slop(td)
    yield Read(None)   # this CPU's slop
    if slop >= incr:
        td.pcpu.swap_slop = slop - incr
        return
    yield from _global(k)  # take (incr - slop) + SLOP_MAX / 2
    td.pcpu.swap_slop = SLOP_MAX // 2


def swap_release_by_cred(k: KCtx, decr: int) -> KPath:
    td = k.td
    slop = _slop(td) + decr
    yield Read(None)   # this CPU's slop
    if slop > SLOP_MAX:
        yield from _global(k)  # give back all but half the slop
        slop = SLOP_MAX // 2
    td.pcpu.swap_slop = slop
