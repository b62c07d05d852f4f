"""Lockless delayed invalidation (kib, FreeBSD r347695, 2019).

The DI entries form a lock-free queue updated with 16-byte CAS (CMPXCHG16B) on each entry's
{gen, next}.  Starting walks from the fake head to the tail and appends with gen = tail's
gen + 1; finishing donates its gen to its predecessor and unlinks itself with a CAS on the
predecessor; the fake head's gen is the last completed generation.  No mutex, but the head
and the neighbours' entries (in other CPUs' struct thread) are still shared lines, and CASes
on one line serialise.
"""

from __future__ import annotations

from emu.kernel.kcalls import kcall

HEAD = "pmap_invl_gen_head"


def configure(kc) -> None:
    kc.ids.invl_fake_head = kc.lines.add(HEAD)


def pmap_delayed_invl_started(td) -> None:
    td.call(DI_START_U)
    td.cycles(td.cost.di_critical_section)


def pmap_delayed_invl_finished(td) -> None:
    td.call(DI_FINISH_U)
    td.cycles(td.cost.di_critical_section)


def _queue(ks) -> list[int]:
    """Active entries, oldest first (after the fake head)."""
    q = getattr(ks.s, "di_queue", None)
    if q is None:
        q = ks.s.di_queue = []
    return q


def _line(ks, cpu: int | None):
    return ks.ids.invl_fake_head if cpu is None else ("md_invl_gen", cpu)


def _cas16(ks, th, key, t: int) -> int:
    """LOCK CMPXCHG16B: an RMW on the line, about twice an 8-byte one, after th's stores."""
    return ks.coh.rmw(key, th.cpu, ks.coh.drained(th, t)) + ks.cost.atomic_local


def di_start_u(ks, th, t: int) -> int:
    coh, me = ks.coh, th.cpu
    q = _queue(ks)
    t = coh.read(_line(ks, None), me, t)
    for cpu in q:                         # walk to the tail
        t = coh.read(_line(ks, cpu), me, t)
    t = coh.store(th, _line(ks, me), t)   # our {gen, next = NULL}
    t = _cas16(ks, th, _line(ks, q[-1] if q else None), t)  # tail.next = us
    q.append(me)
    return t


def di_finish_u(ks, th, t: int) -> int:
    coh, me = ks.coh, th.cpu
    q = _queue(ks)
    i = q.index(me)
    t = coh.read(_line(ks, None), me, t)
    for cpu in q[:i]:                     # find our predecessor
        t = coh.read(_line(ks, cpu), me, t)
    pred = q[i - 1] if i else None
    t = _cas16(ks, th, _line(ks, pred), t)  # donate gen, unlink us
    if i + 1 < len(q):
        t = coh.read(_line(ks, q[i + 1]), me, t)
    del q[i]
    return t


DI_START_U = kcall(di_start_u)
DI_FINISH_U = kcall(di_finish_u)
