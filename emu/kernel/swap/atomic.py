"""Swap reservation with atomics (FreeBSD 12.1): `swap_reserved` and `ui_vmsize` in pages,
updated with atomic_fetchadd_long and rolled back if over a limit.  No mutex, but still one
global line each, and every fetchadd on a line serialises on it."""

from __future__ import annotations


def configure(kc) -> None:
    kc.ids.swap_reserved = kc.lines.add("swap_reserved")
    kc.ids.ui_vmsize = kc.lines.add("uidinfo ui_vmsize")


def _account(td) -> None:
    ids = td.kernel.ids
    td.kernel.ucred.cred_read(td)
    td.atomic(ids.swap_reserved)
    td.atomic(ids.ui_vmsize)


def swap_reserve_by_cred(td, incr: int) -> None:
    _account(td)


def swap_release_by_cred(td, decr: int) -> None:
    _account(td)
