"""Mutexes as FreeBSD's behave, run by the kernel-state actor.

sys/kern/kern_mutex.c and sys/kern/subr_lock.c, FreeBSD head mid-2018:

* `__mtx_lock`: one `fcmpset` (lock cmpxchg) of the lock word from UNOWNED to curthread.
* `__mtx_lock_sleep` on failure: while the owner is running, *adaptively spin*: call
  `lock_delay` (spin `delay` PAUSEs, the delay doubling each round from `base` = 1, capped at
  `max` = roundup_pow2(ncpus) * 256, at most 32678), then re-read the word; once it reads
  UNOWNED, try the fcmpset again.  If the owner is off CPU, block on the lock's turnstile.
* `__mtx_unlock`: fcmpset the word back to UNOWNED; a contested release
  (`__mtx_unlock_sleep`) broadcasts the turnstile: *every* blocked waiter wakes and races.
* Spin mutexes (MTX_SPIN, `_mtx_lock_spin_cookie`) spin the same way and never block;
  `__mtx_unlock_spin` frees the word with `_mtx_release_lock_quick`, a plain store-release
  (a `mov` on amd64): it goes through the store buffer, and the CPU does not wait for it.

No queue decides who gets a released lock: each spinner re-reads the word when its current
backoff ends, the line reaches it after a transfer whose cost depends on its distance from
the releaser, and the first fcmpset to arrive wins.  Every access is decided where the line
serves it, not where it is issued: a re-read when it reaches the owner (so one on its way
when the word is released sees UNOWNED), an fcmpset, a newcomer's or a spinner's, when it
lands.  So a CPU on the releaser's socket beats one on the other socket that tried a little
earlier, and a newcomer whose fcmpset went out first beats a spinner that had to read
first.  Nearer CPUs therefore win more often, newcomers beat spinners that are deep in
their backoff, and the lock word's line bounces between every contender (Boyd-Wickizer et
al., "Non-scalable locks are dangerous", 2012): every spinner that saw the word free sends
its fcmpset, and the losers' failed ones take the line from the new owner in turn.

Each spinner's first re-read of the word after a write is a miss the line serves in turn
(its home serialises the transactions on one address); the readers then share the copy
until the next write invalidates them all.

A spinner costs no event while it spins: its check times follow from when it started
(each check is `delay * PAUSE` plus an L1 re-read after the last), so at each release the
lock computes, for every spinner that could see the release, when it would.
"""

from __future__ import annotations

from functools import partial
from heapq import heappop, heappush
from types import SimpleNamespace
from typing import TYPE_CHECKING, Protocol

from emu.counters import L_HOLD_MIN, L_WAIT_MIN, LOCK_FIELDS, LOCK_WORDS, note_extremes
from emu.hw.coherence import Coherence, leg

if TYPE_CHECKING:
    from emu.kernel.ops import Sequencer


class MtxHome(Protocol):
    """What a mutex needs of the kernel state it lives in (emu/kernel/state.py)."""

    coh: Coherence                # the lock word's line
    cost: SimpleNamespace
    lock_lines: list              # each lock's line
    transfer: list[list[int]]     # line transfer cycles between CPUs
    sim: Sequencer                # who resumes a waiter

# Index of each statistic in a lock's counter row (see emu.counters.LOCK_FIELDS).
ACQ, CONT, SPIN, BLOCK, HOLD, EVENTS = range(6)
PAUSE = LOCK_FIELDS.index("pause_cycles")  # the part of SPIN spent in lock_delay's PAUSEs


def lock_delay_max(ncpus: int) -> int:
    """lock_delay_default_init: roundup_pow2(mp_ncpus) * 256, capped at 32678 (sic)."""
    res = 1
    while res <= ncpus:
        res <<= 1
    return min(res * 256, 32678)


class Spinner:
    """A thread inside __mtx_lock_sleep: when it next reads the lock word, its backoff."""

    __slots__ = ("th", "since", "start", "caller", "next_check", "delay", "version",
                 "blocked_at", "paused")

    def __init__(self, th, since: int, caller: int) -> None:
        self.th = th
        self.since = since      # start of the spin (moved on by time asleep)
        self.start = since      # its mtx_lock: the wait, spin and block, runs from here
        self.caller = caller
        self.next_check = 0
        self.delay = 1          # lock_delay_arg_init: la->delay = lc->base
        self.version = 0
        self.blocked_at = -1
        self.paused = 0         # cycles spent in lock_delay's PAUSEs so far


class Mtx:
    """One kernel mutex: its word's cache line, owner, spinners, turnstile, statistics."""

    __slots__ = ("ks", "coh", "name", "lock_id", "spin", "word", "line", "owner", "owner_caller",
                 "acquired_at", "spinners", "nspinning", "blocked", "inflight",
                 "stats", "callers", "pause", "hit", "max_delay", "wakeup", "block_cost")

    def __init__(self, ks: MtxHome, name: str, lock_id: int, spin: bool = False) -> None:
        self.ks = ks
        self.name = name
        self.lock_id = lock_id
        self.spin = spin
        self.word = ks.lock_lines[lock_id]  # the lock word's cache line
        self.coh = ks.coh               # the machine's lines (the word's among them)
        self.line = ks.coh.line(self.word)
        self.owner = None
        self.owner_caller = 0
        self.acquired_at = 0
        self.spinners: list = []       # heap of (next_check, cpu, version, Spinner)
        self.nspinning = 0
        self.blocked: list[Spinner] = []
        self.inflight: list[tuple[int, int]] = []  # (arrival, cpu) of fcmpsets on their way
        self.stats = [0] * LOCK_WORDS
        self.callers: dict[int, list[int]] = {}
        c = ks.cost
        self.pause = c.pause
        self.hit = c.l1_hit
        self.max_delay = lock_delay_max(len(ks.transfer))
        self.block_cost = c.turnstile_block
        self.wakeup = c.turnstile_wakeup

    # ---------------------------------------------------------------- statistics

    def _extremes(self, caller: int, lo: int, value: int) -> None:
        """Note value among the lock's and the caller's extremes (emu.counters)."""
        note_extremes(self.stats, lo, value)
        note_extremes(self.callers[caller], lo, value)

    def _count(self, caller: int, field: int, value: int = 1) -> None:
        self.stats[field] += value
        row = self.callers.get(caller)
        if row is None:
            row = self.callers[caller] = [0] * LOCK_WORDS
        row[field] += value

    # ---------------------------------------------------------------- mtx_lock

    def acquire(self, th, t: int, caller: int) -> int | None:
        """mtx_lock at virtual time t: the time it is held, or None if th must wait (the
        lock resumes it).

        The fcmpset is decided when it lands at the line, not when it is issued: a request
        issued at t from a CPU one transfer away arrives at t + transfer, and whatever
        reached the word first (a nearer newcomer, a spinner already on its way, the
        owner's release) decides whether it finds the lock free.  Only a line already
        here (or in memory, where nobody else holds it) is decided at once."""
        self._count(caller, EVENTS)
        t = self.coh.drained(th, t)  # lock cmpxchg waits for th's buffered stores
        travel = self.coh.rfo_cost(self.word, th.cpu)
        if travel <= self.hit or self.line.owner < 0:
            done = self._fcmpset(th.cpu, t)
            if self.owner is None:
                return self._take(th, done, caller)
            self._count(caller, CONT)
            self._contend(Spinner(th, t, caller), done)
            return None
        self.ks.sim.at(t + travel, th.cpu, partial(self._landed, th, t, caller))
        return None

    def _landed(self, th, since: int, caller: int, t: int) -> None:
        """th's fast-path fcmpset reaches the word at t: it takes the lock if it is free,
        and otherwise (having pulled the line exclusive all the same) enters
        __mtx_lock_sleep."""
        self._catch_up(t)
        done = self.coh.rmw_arrived(self.word, th.cpu, t, t - since)
        if self.owner is None:
            self._take(th, done, caller)
            self.ks.sim.resume(th, done)
        else:
            self._count(caller, CONT)
            self._contend(Spinner(th, since, caller), done)

    def _fcmpset(self, cpu: int, t: int, row: list[int] | None = None) -> int:
        """A lock cmpxchg on the word at t.  The spinners that re-read the word since it
        last changed hold it shared: this write must invalidate them.  `row` (a release:
        the releaser's transfer row) makes the re-reads in flight at t see the write."""
        self._catch_up(t, row)
        return self.coh.rmw(self.word, cpu, t)

    def _catch_up(self, t: int, row: list[int] | None = None,
                  changed: int | None = None) -> None:
        """Play the spinners' re-reads that saw the word before t (all saw it owned):
        advance their backoff, and record as sharers those that read after the last change.

        A spinner's first re-read after the word changed misses, and its later ones hit
        until the next change.  A miss is decided where it is served, as an fcmpset is:
        with `row` (a release: the releaser's transfer row), a first re-read that reaches
        the releaser at or after t, two legs of its miss after it was issued, sees what the
        word is from t on, and is left to the race.  Without `row` (the word stays owned
        across t) every re-read issued before t is played.  The misses are transactions on
        the line, served in turn (_reads).  `changed`: when the word last changed before
        the release (default: the line's last write)."""
        heap = self.spinners
        if not heap or heap[0][0] >= t:  # no re-read before t: nothing to play
            return
        sharers, late, fresh, misses = self.line.sharers, [], [], []
        if changed is None:
            changed = self.line.written
        served = changed == self.line.written  # else the release's write came since
        while heap and heap[0][0] < t:
            sp = self._pop_live()
            if sp is None:
                break
            cpu = sp.th.cpu
            if cpu not in sharers and cpu != self.line.owner:
                self._backoff(sp, changed)  # its first re-read since the change: a miss
                if row is not None:
                    m = row[cpu]
                    if t - (m - leg(m)) <= sp.next_check < t:  # reached two legs in
                        late.append(sp)  # on its way: it reaches the word at or after t
                        continue
                if served and sp.next_check < t:
                    misses.append((sp.next_check, cpu))
            self._backoff(sp, t)
            last_read = sp.next_check - (sp.delay * self.pause + self.hit)
            if last_read > self.line.written:
                fresh.append(cpu)
            self._push(sp)
        if misses:
            self._reads(misses)
        sharers.update(fresh)
        for sp in late:
            self._push(sp)

    def _reads(self, misses: list[tuple[int, int]]) -> None:
        """The spinners' first re-reads since the word was written, (when, cpu): each a miss
        the line serves in turn (its home serialises the transactions on one address), so
        an access queued behind them (the owner's unlock, an fcmpset) waits for them all:
        what makes a test-and-test-and-set handoff slower the more CPUs spin (Boyd-Wickizer
        et al., "Non-scalable locks are dangerous", 2012).  Each reader then holds a shared
        copy until the next write invalidates it."""
        coh = self.coh   # called, not its bound `read` kept: compiled, that binds the base
        for when, cpu in sorted(misses):   # class's, past a subclass's (emu/causal/speedup)
            coh.read(self.word, cpu, when)

    def _take(self, th, t: int, caller: int) -> int:
        self.owner = th
        self.owner_caller = caller
        self.acquired_at = t
        self._count(caller, ACQ)
        th.holding.append(self)
        return t

    def _contend(self, sp: Spinner, t: int) -> None:
        """One round of the __mtx_lock_sleep loop after reading the word as owned at t."""
        if self.spin or not self.owner.offcpu:
            sp.next_check = t
            self._round(sp)
            self._push(sp)
        else:
            self._block(sp, t)

    def _round(self, sp: Spinner) -> None:
        """One lock_delay: double the delay (up to max), spin it in PAUSEs, re-read."""
        delay = sp.delay << 1
        sp.delay = delay if delay < self.max_delay else self.max_delay
        paused = sp.delay * self.pause
        sp.paused += paused
        sp.next_check += paused + self.hit

    def _backoff(self, sp: Spinner, after: int) -> None:
        """Advance sp's lock_delay schedule to its first re-read at or after `after` (the
        re-reads before it saw the lock owned)."""
        while sp.next_check < after:
            if sp.delay == self.max_delay:  # steady state: jump whole rounds at once
                paused = sp.delay * self.pause
                rounds = -(-(after - sp.next_check) // (paused + self.hit))
                sp.next_check += rounds * (paused + self.hit)
                sp.paused += rounds * paused
                return
            self._round(sp)

    def _push(self, sp: Spinner) -> None:
        sp.version += 1
        heappush(self.spinners, (sp.next_check, sp.th.cpu, sp.version, sp))
        self.nspinning += 1

    def _unlist(self, sp: Spinner) -> None:
        sp.version += 1  # its heap entry goes stale
        self.nspinning -= 1

    def _pop_live(self) -> Spinner | None:
        heap = self.spinners
        while heap:
            _, _, version, sp = heappop(heap)
            if version == sp.version:
                self._unlist(sp)
                return sp
        return None

    # ---------------------------------------------------------------- mtx_unlock

    def release(self, th, t: int) -> int:
        """mtx_unlock at virtual time t: the time the releasing CPU goes on."""
        coh = self.coh
        dist, changed = self.ks.transfer[th.cpu], self.line.written
        if self.spin:
            # __mtx_unlock_spin's store-release: the word is UNOWNED once the store has
            # the line, and not before the stores ahead of it in the store buffer (x86
            # TSO); the CPU goes on at once, and its next locked op waits for it.
            self._catch_up(t, dist)
            t_rel = max(coh.write(self.word, th.cpu, t), th.drain)
            th.drain = t_rel
            goes_on, held = t, coh.hit
        else:
            t = coh.drained(th, t)  # lock cmpxchg waits for th's buffered stores
            t_rel = goes_on = self._fcmpset(th.cpu, t, dist)
            held = coh.atomic
        hold = t - self.acquired_at
        self._count(self.owner_caller, EVENTS)
        self._count(self.owner_caller, HOLD, hold)
        self._extremes(self.owner_caller, L_HOLD_MIN, hold)
        self.owner = None
        th.holding.remove(self)
        if self.blocked:
            # __mtx_unlock_sleep: turnstile_broadcast wakes every waiter; each races again.
            woken, self.blocked = self.blocked, []
            for sp in woken:
                self.ks.sim.at(t_rel + self.wakeup, sp.th.cpu, partial(self._woken, sp))
        if self.nspinning:
            self._race(t_rel, dist, changed, held)
        return goes_on

    def _race(self, r: int, row: list[int], changed: int, held: int) -> None:
        """The word became UNOWNED at r (the releaser's cmpxchg or store executed `held`
        before, in the releaser's L1, with `row` its transfer row; the word changed before
        that at `changed`): play out the fcmpsets of the spinners that see it free.

        A re-read that reached the releaser while its cmpxchg held the line is answered
        UNOWNED once it is done, one leg (the data) before the spinner has it; one that
        reaches it later pays its whole miss.  Seeing UNOWNED, the spinner issues its
        fcmpset (`__mtx_lock_sleep` goes straight to `_mtx_obtain_lock_fetch`), which is
        decided where it lands, a miss later, as a newcomer's is (_landed): a newcomer's
        fcmpset issued before it wins.  The first to land takes the lock.  Every spinner
        whose re-read was served before the winner's request reached the line (a leg
        before the winner has it) saw UNOWNED too, and its fcmpset fails but still pulls
        the line exclusive, one after another, away from the new owner: the herd a
        test-and-test-and-set lock lets loose at each release.  A spinner already on its
        way (it read the word free during an earlier free window) keeps its place."""
        self._catch_up(r - held, row, changed)  # re-reads served before: owned
        best_key = min(self.inflight) if self.inflight else None
        seen = []  # (fcmpset lands, cpu), when its read was served, its miss, the spinner
        while self.spinners:
            if best_key is not None and self.spinners[0][0] > best_key[0]:
                break                   # later checks neither win nor see the word free
            sp = self._pop_live()
            if sp is None:
                break
            m = row[sp.th.cpu]
            read = sp.next_check + m           # sees UNOWNED
            handed = r + leg(m)
            if read < handed:
                read = handed
            key = (read + m, sp.th.cpu)        # its fcmpset lands
            seen.append((key, read - leg(m), m, sp))
            if best_key is None or key < best_key:
                best_key = key
        if not seen:
            return
        taken = best_key[0] - leg(row[best_key[1]])  # the winner's request reaches the line
        for key, served, m, sp in seen:
            if served < taken:
                self._fcmpset_sent(sp, key, m)
            else:
                self._push(sp)          # read it owned again: back to lock_delay

    def _fcmpset_sent(self, sp: Spinner, key: tuple[int, int], travel: int) -> None:
        """sp read the word UNOWNED and sent its fcmpset, landing at key[0]."""
        self.inflight.append(key)
        self.line.sharers.add(sp.th.cpu)  # it read the word on its way
        self.ks.sim.at(key[0], sp.th.cpu, partial(self._grab, sp, key, travel))

    def _grab(self, sp: Spinner, key: tuple[int, int], travel: int, t: int) -> None:
        """sp read the word UNOWNED and its fcmpset, a miss of `travel`, lands at t: it
        takes the lock if it is still free, and otherwise (having pulled the line exclusive
        all the same) goes back to lock_delay, seeing the new owner."""
        self.inflight.remove(key)
        self._catch_up(t)
        done = self.coh.rmw_arrived(self.word, sp.th.cpu, t, travel)
        if self.owner is None:
            self._acquired(sp, done)
        else:
            self._contend(sp, done)

    def _acquired(self, sp: Spinner, t: int) -> None:
        self._take(sp.th, t, sp.caller)
        self._count(sp.caller, SPIN, t - sp.since)
        self._count(sp.caller, PAUSE, sp.paused)
        self._extremes(sp.caller, L_WAIT_MIN, t - sp.start)
        self.ks.sim.resume(sp.th, t)

    # ---------------------------------------------------------------- turnstile

    def _block(self, sp: Spinner, t: int) -> None:
        """turnstile_trywait + turnstile_wait: sleep until the owner's release wakes us."""
        sp.blocked_at = t
        self.blocked.append(sp)

    def _woken(self, sp: Spinner, t: int) -> None:
        self._count(sp.caller, BLOCK, t - sp.blocked_at + self.block_cost)
        sp.since += t - sp.blocked_at   # block time is not spin time
        sp.delay = 1                    # a new pass through __mtx_lock_sleep
        if self.owner is None:  # its fcmpset beats any spinner's still on its way
            self._acquired(sp, self._fcmpset(sp.th.cpu, t))
        else:
            sp.next_check = t
            self._contend(sp, t)

    def owner_off_cpu(self, t: int) -> None:
        """The owner left the CPU: spinners notice at their next read and block."""
        if self.spin:
            return
        while self.nspinning:
            sp = self._pop_live()
            self._block(sp, max(t, sp.next_check))
