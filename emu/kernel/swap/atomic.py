"""Swap reservation with atomics (FreeBSD 12.1): `swap_reserved` and `ui_vmsize` in pages,
updated with atomic_fetchadd_long and rolled back if over a limit.  No mutex, but still one
global line each, and every fetchadd on a line serialises on it."""

from __future__ import annotations

from emu.kernel.kthread import KCtx, KPath
from emu.kernel.swap_pager import swap_counters_configure, swap_fetchadd


def configure(kc) -> None:
    swap_counters_configure(kc)


def _account(k: KCtx) -> KPath:
    kernel = k.td.kernel
    yield from kernel.ucred.cred_read(k)   # uip = cred->cr_ruidinfo
    yield from swap_fetchadd(kernel.ids)


def swap_reserve_by_cred(k: KCtx, incr: int) -> KPath:
    yield from _account(k)


def swap_release_by_cred(k: KCtx, decr: int) -> KPath:
    yield from _account(k)
