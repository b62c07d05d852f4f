"""Swap reservation under two mutexes (sys/vm/swap_pager.c, mid-2018).

swap_reserve_by_cred: mtx_lock(&sw_dev_mtx) around `swap_reserved += incr`, then the per-uid
UIDINFO_VMSIZE_LOCK (`ui_vmsize_mtx`) around `ui_vmsize += incr`.  Every task of
will-it-scale runs as one uid, so both are global.  With the default vm.overcommit = 0 the
reservation never fails, so its outcome never changes the caller's control flow.
`ui_vmsize` sits in the same line as its mutex (struct uidinfo), so it costs no transfer
beyond the lock word's.

Whether `swap_reserved` shares sw_dev_mtx's line is the compiler's doing.  As declared,
sw_dev_mtx, swdevhd, nswapdev, swap_total and swap_reserved are adjacent zero-initialised
statics; but clang lays statics out in the order code first names them, and the
SYSCTL_QUADs name swap_total and swap_reserved before any function names sw_dev_mtx, so
in the built kernel the lock word probably lies a line away.  We put them on one line all
the same, and this is the model's one layout chosen from a measured rate: a line of its
own puts two more serial misses (a load, then an upgrade) inside every acquisition, and
the write-up's rate (about 7M sw_dev_mtx acquisitions a second at 96 CPUs, 140 ns each,
less than one cross-socket miss) has no room for them.  With its own line (the load of
`swap_reserved += incr` then missing, its store drained before mtx_unlock), --di epoch at
96 tasks falls to 1.46M, under half the write-up's figure.  On the lock's line the load
hits, so only the store is modelled.
"""

from __future__ import annotations

from emu.kernel.kcalls import caller

RESERVE = caller("swap_reserve_by_cred")
RELEASE = caller("swap_release_by_cred")


def configure(kc) -> None:
    kc.ids.sw_dev_mtx = kc.add_lock("sw_dev_mtx")
    kc.ids.ui_vmsize_mtx = kc.add_lock("ui_vmsize_mtx")
    kc.ids.swap_reserved = kc.lock_line(kc.ids.sw_dev_mtx)  # beside the lock (see above)


def _account(td, who: int) -> None:
    ids = td.kernel.ids
    td.kernel.ucred.cred_read(td)         # uip = cred->cr_ruidinfo
    td.mtx_lock(ids.sw_dev_mtx, who)
    td.write(ids.swap_reserved)
    td.cycles(td.cost.swap_critical_section)
    td.mtx_unlock(ids.sw_dev_mtx, who)
    td.mtx_lock(ids.ui_vmsize_mtx, who)
    td.cycles(td.cost.swap_critical_section)
    td.mtx_unlock(ids.ui_vmsize_mtx, who)


def swap_reserve_by_cred(td, incr: int) -> None:
    _account(td, RESERVE)


def swap_release_by_cred(td, decr: int) -> None:
    _account(td, RELEASE)
