"""No delayed invalidation at all: unsafe, kept so the checker can show why DI exists."""

from __future__ import annotations


def configure(kc) -> None:
    pass


def pmap_delayed_invl_started(td) -> None:
    pass


def pmap_delayed_invl_finished(td) -> None:
    pass
