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
in the built kernel the lock word most likely lies a line away.  So `swap_reserved += incr`
is a load that misses (the last holder wrote the line), then a store whose upgrade must
invalidate that holder's copy before mtx_unlock's cmpxchg can go: two serial misses inside
every hold.

The case study's machine measured what that costs (ScaleBSD, 2018-05-03 draft
"Why is munmap single threaded, redux", media/svg/2018.05.03/mmap1_master_vmfix.svg):
the stock kernel with pmap_remove skipped for entries without an object, so with no DI
at all in munmap, ran 96 tasks at 1.03M ops/s (1.01M before), and its flame graph puts
96% of the samples in __mtx_lock_sleep -> lock_delay under swap_reserve_by_cred and
swap_release_by_cred.  These two mutexes alone hold mmap1 near 1M ops/s at 96 CPUs, so
the kernel behind the write-up's 3.55M (mmap1_vmhack.svg: no mutex frame under either
function) must have had its reservation locking changed too.  Compare `--di none` with
this strategy against the 1.03M.
"""

from __future__ import annotations

from emu.kernel.kcalls import caller
from emu.kernel.kthread import Cycles, KCtx, KPath, Lock, Read, Unlock, Write

DEFAULT = True   # the 2018 kernel's: the strategy used when none is named

RESERVE = caller("swap_reserve_by_cred")
RELEASE = caller("swap_release_by_cred")


def configure(kc) -> None:
    kc.ids.sw_dev_mtx = kc.add_lock("sw_dev_mtx")
    kc.ids.ui_vmsize_mtx = kc.add_lock("ui_vmsize_mtx")
    kc.ids.swap_reserved = kc.lines.add("swap_reserved")


def _account(k: KCtx, who: int) -> KPath:
    kernel = k.td.kernel
    ids, cost = kernel.ids, k.cost
    yield from kernel.ucred.cred_read(k)   # uip = cred->cr_ruidinfo
    yield Lock(ids.sw_dev_mtx, who)
    yield Read(ids.swap_reserved)
    yield Write(ids.swap_reserved)
    yield Cycles(cost.swap_critical_section)
    yield Unlock(ids.sw_dev_mtx, who)
    yield Lock(ids.ui_vmsize_mtx, who)
    yield Cycles(cost.swap_critical_section)
    yield Unlock(ids.ui_vmsize_mtx, who)


def swap_reserve_by_cred(k: KCtx, incr: int) -> KPath:
    yield from _account(k, RESERVE)


def swap_release_by_cred(k: KCtx, decr: int) -> KPath:
    yield from _account(k, RELEASE)
