"""One ucred for every task (children inherit the parent's): crhold/crfree are atomics on
its cr_ref, and reading cr_ruidinfo in the same line is a transfer once someone wrote it."""

from __future__ import annotations

from emu.kernel.kthread import KCtx, KPath, Read, Rmw

DEFAULT = True   # the 2018 kernel's: the strategy used when none is named


def configure(kc) -> None:
    kc.ids.ucred = kc.lines.add("ucred cr_ref (shared)")


def crhold(k: KCtx) -> KPath:
    yield Rmw(k.td.kernel.ids.ucred)


def crfree(k: KCtx) -> KPath:
    yield Rmw(k.td.kernel.ids.ucred)


def cred_read(k: KCtx) -> KPath:
    yield Read(k.td.kernel.ids.ucred)
