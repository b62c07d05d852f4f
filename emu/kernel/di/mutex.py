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

from emu.kernel.kcalls import caller, kcall

STARTED = caller("pmap_delayed_invl_started")
FINISHED = caller("pmap_delayed_invl_finished")
TC_LOCK = "turnstile chain lock (invl_gen_ts)"


def configure(kc) -> None:
    kc.ids.invl_gen_mtx = kc.add_lock("invl_gen_mtx")
    kc.ids.invl_head = kc.lines.add("pmap_invl_gen_tracker")
    kc.ids.invl_gen = kc.ids.invl_head  # pmap_invl_gen: the tracker head's line (see above)
    kc.ids.invl_tc = kc.lines.add(TC_LOCK)


def pmap_delayed_invl_started(td) -> None:
    mtx = td.kernel.ids.invl_gen_mtx
    td.mtx_lock(mtx, STARTED)
    td.call(DI_STARTED)
    td.cycles(td.cost.di_critical_section)
    td.mtx_unlock(mtx, STARTED)


def pmap_delayed_invl_finished(td) -> None:
    mtx = td.kernel.ids.invl_gen_mtx
    td.mtx_lock(mtx, FINISHED)
    td.call(DI_FINISHED)
    td.cycles(td.cost.di_critical_section)
    td.mtx_unlock(mtx, FINISHED)


def _tracker(ks) -> list[int]:
    """The tracker list, newest first: the CPUs inside a DI section."""
    trk = getattr(ks.s, "di_tracker", None)
    if trk is None:
        trk = ks.s.di_tracker = []
    return trk


def entry(cpu: int) -> tuple[str, int]:
    """The line holding a thread's td_md.md_invl_gen."""
    return ("md_invl_gen", cpu)


def di_started_locked(ks, th, t: int) -> int:
    coh, me, ids = ks.coh, th.cpu, ks.ids
    trk = _tracker(ks)
    t = coh.read(ids.invl_head, me, t)
    t = coh.read(entry(trk[0]) if trk else ids.invl_gen, me, t)  # currgen
    t = coh.store(th, entry(me), t)                                # invl_gen->gen, link
    if trk:
        t = coh.store(th, entry(trk[0]), t)                        # old head's le_prev
    t = coh.store(th, ids.invl_head, t)                            # LIST_INSERT_HEAD
    trk.insert(0, me)
    return t


def di_finished_locked(ks, th, t: int) -> int:
    coh, me, ids = ks.coh, th.cpu, ks.ids
    trk = _tracker(ks)
    i = trk.index(me)
    t = coh.read(entry(me), me, t)
    if i == len(trk) - 1:
        # Oldest: publish under the turnstile chain spin lock (never contended here: only
        # the holder of invl_gen_mtx takes it), then wake any pmap_delayed_invl_wait().
        # turnstile_chain_unlock is mtx_unlock_spin: a plain store-release (Mtx.release).
        t = coh.rmw(ids.invl_tc, me, coh.drained(th, t))
        t = coh.store(th, ids.invl_gen, t)
        t = coh.store(th, ids.invl_tc, t)
    else:
        t = coh.store(th, entry(trk[i + 1]), t)                    # donate: next->gen
    t = coh.store(th, ids.invl_head if i == 0 else entry(trk[i - 1]), t)  # LIST_REMOVE
    if i < len(trk) - 1:
        t = coh.store(th, entry(trk[i + 1]), t)
    del trk[i]
    return t


DI_STARTED = kcall(di_started_locked)
DI_FINISHED = kcall(di_finished_locked)
