"""Lockless delayed invalidation (kib, FreeBSD r347695, 2019).

The DI entries form a lock-free queue updated with 16-byte CAS (CMPXCHG16B) on each entry's
{gen, next}.  Starting walks from the fake head to the tail and appends with gen = tail's
gen + 1; finishing donates its gen to its predecessor and unlinks itself with a CAS on the
predecessor; the fake head's gen is the last completed generation.  No mutex, but the head
and the neighbours' entries (in other CPUs' struct thread) are still shared lines, and CASes
on one line serialise.
"""

from __future__ import annotations

from emu.kernel.invl import GenInvl
from emu.kernel.kthread import Call, Cycles, KCtx, KPath, Read, Rmw, Write, gcall

HEAD = "pmap_invl_gen_head"


def configure(kc) -> None:
    kc.ids.invl_fake_head = kc.lines.add(HEAD)


def init_state(ks) -> list[int]:
    """Active entries, oldest first (after the fake head)."""
    return []


def invl_model() -> GenInvl:
    """r347695's queue has the 2016 list's generations; its waiters spin before they
    sleep."""
    return GenInvl(spin=True)


def pmap_delayed_invl_started(k: KCtx) -> KPath:
    yield Call(DI_START_U)
    yield Cycles(k.cost.di_critical_section)


def pmap_delayed_invl_finished(k: KCtx) -> KPath:
    yield Call(DI_FINISH_U)
    yield Cycles(k.cost.di_critical_section)


def _line(ks, cpu: int | None):
    return ks.ids.invl_fake_head if cpu is None else ("md_invl_gen", cpu)


def _cas16(ks, key) -> KPath:
    """LOCK CMPXCHG16B: an RMW on the line, about twice an 8-byte one, after our stores."""
    yield Rmw(key)
    yield Cycles(ks.cost.atomic_local)


def di_start_u(k: KCtx) -> KPath:
    """In the actor: walk to the tail, append ourselves with gen = tail's gen + 1."""
    ks, me = k.ks, k.cpu
    q = ks.strategy_state["di"]
    yield Read(_line(ks, None))
    for cpu in q:                         # walk to the tail
        yield Read(_line(ks, cpu))
    yield Write(_line(ks, me))            # our {gen, next = NULL}
    yield from _cas16(ks, _line(ks, q[-1] if q else None))  # tail.next = us
    q.append(me)


def di_finish_u(k: KCtx) -> KPath:
    """In the actor: donate our gen to our predecessor and unlink us with a CAS on it."""
    ks, me = k.ks, k.cpu
    q = ks.strategy_state["di"]
    i = q.index(me)
    yield Read(_line(ks, None))
    for cpu in q[:i]:                     # find our predecessor
        yield Read(_line(ks, cpu))
    pred = q[i - 1] if i else None
    yield from _cas16(ks, _line(ks, pred))  # donate gen, unlink us
    if i + 1 < len(q):
        yield Read(_line(ks, q[i + 1]))
    del q[i]


DI_START_U = gcall(di_start_u, blocking=False)
DI_FINISH_U = gcall(di_finish_u, blocking=False)
