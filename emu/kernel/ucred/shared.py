"""One ucred for every task (children inherit the parent's): crhold/crfree are atomics on
its cr_ref, and reading cr_ruidinfo in the same line is a transfer once someone wrote it."""

from __future__ import annotations


def configure(kc) -> None:
    kc.ids.ucred = kc.lines.add("ucred cr_ref (shared)")


def crhold(td) -> None:
    td.atomic(td.kernel.ids.ucred)


def crfree(td) -> None:
    td.atomic(td.kernel.ids.ucred)


def cred_read(td) -> None:
    td.read(td.kernel.ids.ucred)
