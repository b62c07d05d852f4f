"""Swap reservation with a per-CPU slop (the case study author's proof of concept).

Each CPU keeps up to SLOP_MAX bytes of reservation, for `swap_reserved` and for the uid's
`ui_vmsize` alike.  A request the slop covers is local.  A shortfall takes what is missing
plus half the slop from the global counters (one atomic each); a release that overfills the
slop gives back all but half of it.  A 128MB mmap1 request therefore mostly falls through to
the global atomics; smaller ones stay local (REFERENCE.md §3).
"""

from __future__ import annotations

# The global counters are FreeBSD 12.1's atomics (swap/atomic.py).
from emu.kernel.swap.atomic import _account as _global
from emu.kernel.swap.atomic import configure  # noqa: F401 - this strategy's interface

SLOP_MAX = 128 * 1024 * 1024


def _slop(td) -> int:
    return getattr(td.pcpu, "swap_slop", 0)


def swap_reserve_by_cred(td, incr: int) -> None:
    slop = _slop(td)
    td.cycles(td.cost.l1_hit)
    if slop >= incr:
        td.pcpu.swap_slop = slop - incr
        return
    _global(td)  # take (incr - slop) + SLOP_MAX / 2
    td.pcpu.swap_slop = SLOP_MAX // 2


def swap_release_by_cred(td, decr: int) -> None:
    slop = _slop(td) + decr
    td.cycles(td.cost.l1_hit)
    if slop > SLOP_MAX:
        _global(td)  # give back all but half the slop
        slop = SLOP_MAX // 2
    td.pcpu.swap_slop = slop
