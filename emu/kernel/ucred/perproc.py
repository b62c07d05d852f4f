"""A private ucred per process (the proof of concept): its refcount line is only ever in
this CPU's cache, so crhold/crfree are local atomics."""

from __future__ import annotations

from emu.kernel.kthread import KCtx, KPath, Read, Rmw


def configure(kc) -> None:
    pass


def crhold(k: KCtx) -> KPath:
    yield Rmw(None)    # a line only this CPU's cache holds: a local atomic


def crfree(k: KCtx) -> KPath:
    yield Rmw(None)    # a line only this CPU's cache holds: a local atomic


def cred_read(k: KCtx) -> KPath:
    yield Read(None)
