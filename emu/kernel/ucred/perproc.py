"""A private ucred per process (the proof of concept): its refcount line is only ever in
this CPU's cache, so crhold/crfree are local atomics."""

from __future__ import annotations


def configure(kc) -> None:
    pass


def crhold(td) -> None:
    td.cycles(td.cost.atomic_local)


def crfree(td) -> None:
    td.cycles(td.cost.atomic_local)


def cred_read(td) -> None:
    td.cycles(td.cost.l1_hit)
