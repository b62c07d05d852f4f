"""Delayed invalidation under the global `invl_gen_mtx` (amd64 pmap.c, 2016 to r347695).

pmap_delayed_invl_started(): under invl_gen_mtx, take generation (head of the tracker list,
or pmap_invl_gen if the list is empty) + 1 and insert ourselves at the head.
pmap_delayed_invl_finished(): under invl_gen_mtx, if we are the oldest (no LIST_NEXT),
publish our generation in pmap_invl_gen under the turnstile chain spin lock and broadcast
waiters; else donate it to the next older entry; then unlink ourselves.

Every unmap in the machine passes through this one mutex twice.  The list manipulation
runs in the actor (it is shared state) and touches the lines a real CPU would: the list
head and pmap_invl_gen, and the neighbouring entries, which live in *other* CPUs' struct
thread (td_md.md_invl_gen), so each is a transfer.  The loads are dependent and pay their
misses one after another; the stores go through the store buffer, their misses overlapping,
and mtx_unlock's cmpxchg waits for them (Coherence.store).

Which statics share a line is the compiler's doing.  pmap_invl_gen_tracker ({ NULL }),
invl_gen_mtx and pmap_invl_gen (0) are all zero-initialised, so all in .bss; clang lays
internal statics out in the order they are first named in emitted code, not as declared.
invl_gen_mtx is first named by pmap_bootstrap's mtx_init, among pmap_bootstrap's own
statics; the tracker head and pmap_invl_gen are first named, one after the other, in
pmap_delayed_invl_started, a static function emitted only after the file's external ones.
So the head and pmap_invl_gen share a line, and the lock word has a line of its own.
"""

from __future__ import annotations

from emu.kernel.invl import GenInvl
from emu.kernel.kcalls import caller
from emu.kernel.kthread import Call, Cycles, KCtx, KPath, Lock, Read, Rmw, Unlock, Write, gcall

DEFAULT = True   # the 2018 kernel's: the strategy used when none is named

STARTED = caller("pmap_delayed_invl_started")
FINISHED = caller("pmap_delayed_invl_finished")
TC_LOCK = "turnstile chain lock (invl_gen_ts)"


def configure(kc) -> None:
    kc.ids.invl_gen_mtx = kc.add_lock("invl_gen_mtx")
    kc.ids.invl_head = kc.lines.add("pmap_invl_gen_tracker")
    kc.ids.invl_gen = kc.ids.invl_head  # pmap_invl_gen: the tracker head's line (see above)
    kc.ids.invl_tc = kc.lines.add(TC_LOCK)


def init_state(ks) -> list[int]:
    """The tracker list, newest first: the CPUs inside a DI section."""
    return []


def invl_model() -> GenInvl:
    """Generations: a wait sleeps on a turnstile until pmap_invl_gen reaches the page's."""
    return GenInvl(spin=False)


def pmap_delayed_invl_started(k: KCtx) -> KPath:
    mtx = k.td.kernel.ids.invl_gen_mtx
    yield Lock(mtx, STARTED)
    yield Call(DI_STARTED)
    yield Cycles(k.cost.di_critical_section)
    yield Unlock(mtx, STARTED)


def pmap_delayed_invl_finished(k: KCtx) -> KPath:
    mtx = k.td.kernel.ids.invl_gen_mtx
    yield Lock(mtx, FINISHED)
    yield Call(DI_FINISHED)
    yield Cycles(k.cost.di_critical_section)
    yield Unlock(mtx, FINISHED)


def entry(cpu: int) -> tuple[str, int]:
    """The line holding a thread's td_md.md_invl_gen."""
    return ("md_invl_gen", cpu)


def di_started_locked(k: KCtx) -> KPath:
    """In the actor, under invl_gen_mtx: take a generation, insert us at the list's head."""
    ks, me = k.ks, k.cpu
    ids, trk = ks.ids, ks.strategy_state["di"]
    yield Read(ids.invl_head)
    yield Read(entry(trk[0]) if trk else ids.invl_gen)   # currgen
    yield Write(entry(me))                               # invl_gen->gen, link
    if trk:
        yield Write(entry(trk[0]))                       # old head's le_prev
    yield Write(ids.invl_head)                           # LIST_INSERT_HEAD
    trk.insert(0, me)


def di_finished_locked(k: KCtx) -> KPath:
    """In the actor, under invl_gen_mtx: publish or donate our generation, unlink us."""
    ks, me = k.ks, k.cpu
    ids, trk = ks.ids, ks.strategy_state["di"]
    i = trk.index(me)
    yield Read(entry(me))
    if i == len(trk) - 1:
        # Oldest: publish under the turnstile chain spin lock (never contended here: only
        # the holder of invl_gen_mtx takes it), then wake any pmap_delayed_invl_wait().
        # turnstile_chain_unlock is mtx_unlock_spin: a plain store-release (Mtx.release).
        yield Rmw(ids.invl_tc)
        yield Write(ids.invl_gen)
        yield Write(ids.invl_tc)
    else:
        yield Write(entry(trk[i + 1]))                   # donate: next->gen
    yield Write(ids.invl_head if i == 0 else entry(trk[i - 1]))  # LIST_REMOVE
    if i < len(trk) - 1:
        yield Write(entry(trk[i + 1]))
    del trk[i]


DI_STARTED = gcall(di_started_locked, blocking=False)
DI_FINISHED = gcall(di_finished_locked, blocking=False)
