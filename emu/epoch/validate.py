"""``emu validate epoch``: ck-style validation of emu.epoch under real concurrency.

Like ck's ``regressions/ck_epoch/validate``: reader processes repeatedly enter an epoch
section, take pointers from a shared table and check the objects behind them, twice,
before leaving; writer processes replace published objects and free the old ones
(state DEAD, generation bump, poisoned payload) only through ``epoch_call`` +
``epoch_poll`` (writer 0) or ``epoch_call`` + ``epoch_wait`` (writer 1). A reader that
sees a changed generation, a dead state or a wrong payload while still inside the
section that found the object counts a violation. ``--inject skip-grace`` makes the
writers free at once, which shows that the check can fail.

Everything lives in one anonymous shared ``mmap`` created before the children are
forked: no name in /dev/shm, nothing to unlink, nothing left if any process is killed.
Every exit path stops and reaps every child.
"""

from __future__ import annotations

import math
import mmap
import multiprocessing
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from emu.epoch.atomics import Words
from emu.epoch.ck_epoch import CkEpoch, Section
from emu.epoch.epoch9 import Epoch

__all__ = ["INJECTIONS", "run_validate"]

INJECTIONS = {
    "skip-grace": "writers free retired objects at once, without waiting for a grace period",
}
WRITERS = 2
MAX_PROCS = 256
_PUB_PER_WRITER = 8  # few published slots, so objects churn under the readers
_OBJ_PER_WRITER = 1024
_OBJ = 64  # bytes per object: gen, state, 6 payload words
_NPAY = 6
_LIVE, _DEAD = 1, 2
_POISON = 0xDEAD_DEAD_DEAD_DEAD - (1 << 64)  # as a signed load returns it; never a payload
_BATCH = 64  # iterations between checks of the stop flag
_STATS = 64  # bytes of counters per child
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
_GRACE_S = 30.0  # a child outlives its deadline by at most this (if the parent vanished)
_MIN_OPS_CAP_S = 300.0  # min_ops: give up this long past `seconds` (only a hang gets there)

# Counter words of a child's stats line.
R_SECTIONS, R_CHECKS, R_VIOLATIONS, R_NESTED, R_PREEMPT = range(5)
W_RETIRED, W_FREED, W_POLLS, W_WAITS, W_BLOCKS, W_VIOLATIONS = range(6)


class _Stop(Exception):
    """Raised inside a child's blocking callback when the run is over."""


class _Layout:
    """Offsets in the shared block; computed identically in parent and children."""

    def __init__(self, readers: int, writers: int) -> None:
        self.readers, self.writers = readers, writers
        self.nrec = readers + writers
        self.ck = 0
        self.ctl = CkEpoch.size(self.nrec)  # line: stop flag
        self.stats = self.ctl + 64
        self.pub = self.stats + self.nrec * _STATS
        self.npub = writers * _PUB_PER_WRITER
        self.objs = self.pub + -(-self.npub * 8 // 64) * 64
        self.nobj = writers * _OBJ_PER_WRITER
        self.size = self.objs + self.nobj * _OBJ


def _payload(slot: int, gen: int, k: int) -> int:
    return (slot << 40) | ((gen & 0xFFFFFFFFF) << 3) | k


def _check(w: Words, objs: int, p: int) -> bool:
    """Is the object that pointer ``p`` = (slot << 32 | gen) names still intact?"""
    slot, gen = p >> 32, p & 0xFFFFFFFF
    off = objs + slot * _OBJ
    if w.load(off) != gen or w.load(off + 8) != _LIVE:
        return False
    for k in range(_NPAY):
        if w.load(off + 16 + 8 * k) != _payload(slot, gen, k):
            return False
    return True


def _stopper(w: Words, lay: _Layout, deadline: float, parent: int) -> Callable[[], bool]:
    def should_stop() -> bool:
        return (
            w.load(lay.ctl) != 0 or time.monotonic() > deadline + _GRACE_S or os.getppid() != parent
        )

    return should_stop


def _reader(ep: Epoch, w: Words, lay: _Layout, me: int, deadline: float, parent: int) -> None:
    enter, exit_ = ep.ck.fast.begin, ep.ck.fast.end  # the method-free hot path
    should_stop = _stopper(w, lay, deadline, parent)
    rng = random.Random(me)
    st = lay.stats + me * _STATS
    c = [0] * 8
    et = Section()
    i = 0
    try:
        while not should_stop():
            for _ in range(_BATCH):
                i += 1
                mode = i & 3
                if mode == 1:
                    ep.epoch_enter_preempt(me, et)
                    c[R_PREEMPT] += 1
                else:
                    enter(me)
                p = w.load(lay.pub + 8 * rng.randrange(lay.npub))
                ok = _check(w, lay.objs, p)
                if mode == 2:
                    enter(me)
                    q = w.load(lay.pub + 8 * rng.randrange(lay.npub))
                    ok = _check(w, lay.objs, q) and ok
                    exit_(me)
                    ok = _check(w, lay.objs, q) and ok  # still covered by the outer section
                    c[R_NESTED] += 1
                    c[R_CHECKS] += 2
                ok = _check(w, lay.objs, p) and ok
                if mode == 1:
                    ep.epoch_exit_preempt(me, et)
                else:
                    exit_(me)
                c[R_CHECKS] += 2
                c[R_SECTIONS] += 1
                c[R_VIOLATIONS] += not ok
            for k in range(5):
                w.store(st + 8 * k, c[k])
    finally:
        for k in range(5):
            w.store(st + 8 * k, c[k])


def _writer(
    ep: Epoch,
    w: Words,
    lay: _Layout,
    widx: int,
    inject: str | None,
    deadline: float,
    parent: int,
) -> None:
    me = lay.readers + widx
    should_stop = _stopper(w, lay, deadline, parent)
    rng = random.Random(1000 + widx)
    st = lay.stats + me * _STATS
    c = [0] * 8
    mine = range(widx * _PUB_PER_WRITER, (widx + 1) * _PUB_PER_WRITER)
    slots = range(widx * _OBJ_PER_WRITER, (widx + 1) * _OBJ_PER_WRITER)
    published = {w.load(lay.pub + 8 * j) >> 32 for j in mine}
    freelist = [s for s in slots if s not in published]
    skip_grace = inject == "skip-grace"

    def free(p: int) -> None:
        # Poison and bump the generation: any reader still holding p will notice.
        slot, gen = p >> 32, p & 0xFFFFFFFF
        off = lay.objs + slot * _OBJ
        if w.load(off) != gen or w.load(off + 8) != _LIVE:
            c[W_VIOLATIONS] += 1  # double free: the writer's own invariant broke
        w.store(off + 8, _DEAD)
        w.store(off, (gen + 1) & 0xFFFFFFFF)
        for k in range(_NPAY):
            w.store(off + 16 + 8 * k, _POISON)
        freelist.append(slot)
        c[W_FREED] += 1

    def block(ck: CkEpoch, blocker: int) -> None:
        c[W_BLOCKS] += 1
        if should_stop():
            raise _Stop
        ep.block_handler(ck, blocker)

    try:
        while not should_stop():
            for _ in range(_BATCH):
                if not freelist:  # everything retired is pending: wait it out
                    ep.epoch_drain_callbacks(me, block=block)
                    c[W_WAITS] += 1
                slot = freelist.pop()
                off = lay.objs + slot * _OBJ
                gen = w.load(off)
                for k in range(_NPAY):
                    w.store(off + 16 + 8 * k, _payload(slot, gen, k))
                w.store(off + 8, _LIVE)
                # Publish (SC xchg: the object's stores are visible first) and unlink.
                old = w.xchg(lay.pub + 8 * rng.choice(mine), slot << 32 | gen)
                c[W_RETIRED] += 1
                if skip_grace:
                    free(old)
                else:
                    ep.epoch_call(me, free, old)
                    if widx % 2 == 0 and c[W_RETIRED] % 16 == 0:
                        ep.epoch_poll(me)
                        c[W_POLLS] += 1
                    elif widx % 2 == 1 and c[W_RETIRED] % 64 == 0:
                        ep.epoch_drain_callbacks(me, block=block)
                        c[W_WAITS] += 1
            for k in range(6):
                w.store(st + 8 * k, c[k])
    except _Stop:
        pass
    finally:
        for k in range(6):
            w.store(st + 8 * k, c[k])


def _child(target: Callable[..., None], *args: Any) -> None:
    # The parent alone decides when to stop: Ctrl-C reaches the whole process group.
    # Both signals were blocked across the fork, so none arrives before this point.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    target(*args)


def _error(err: TextIO, message: str) -> int:
    print(f"emu: {message}", file=err, flush=True)
    return 2


def run_validate(
    procs: int,
    seconds: float,
    inject: str | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    min_ops: int = 0,
) -> int:
    """Run ``procs`` readers and two writers for ``seconds``; print the operations and
    ``violations: N``. Returns 0 when N is 0 and work was done, 1 on violations or a
    failed child, 2 on bad input, 130 when interrupted.

    ``min_ops`` bounds the run by work instead of time alone: it goes on past ``seconds``
    until the readers have done ``min_ops`` sections and the writers ``min_ops``
    retirements between them (however loaded the host), giving up only as a hang."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    if not isinstance(procs, int) or procs < 1:
        return _error(err, f"validate epoch: --procs must be at least 1, not {procs}")
    if procs > MAX_PROCS:
        return _error(err, f"validate epoch: --procs must be at most {MAX_PROCS}, not {procs}")
    if not isinstance(seconds, int | float) or not math.isfinite(seconds) or seconds <= 0:
        return _error(err, f"validate epoch: --seconds must be a positive number, not {seconds}")
    if not isinstance(min_ops, int) or min_ops < 0:
        return _error(err, f"validate epoch: --min-ops must not be negative, not {min_ops}")
    if inject is not None and inject not in INJECTIONS:
        known = ", ".join(INJECTIONS)
        return _error(err, f"validate epoch: unknown --inject {inject!r} (known: {known})")

    lay = _Layout(procs, WRITERS)
    mm = mmap.mmap(-1, lay.size)  # MAP_SHARED | MAP_ANONYMOUS: inherited by fork
    ep: Epoch | None = None
    w: Words | None = None
    children: list[tuple[str, multiprocessing.process.BaseProcess]] = []
    old_term = _install_sigterm()
    try:
        ep = Epoch.alloc(mm, lay.nrec)
        w = Words(mm)
        for j in range(lay.npub):  # one live object per published slot
            slot = (j // _PUB_PER_WRITER) * _OBJ_PER_WRITER + j % _PUB_PER_WRITER
            off = lay.objs + slot * _OBJ
            for k in range(_NPAY):
                w.store(off + 16 + 8 * k, _payload(slot, 0, k))
            w.store(off + 8, _LIVE)
            w.store(lay.pub + 8 * j, slot << 32)
        epoch0 = ep.ck.epoch

        ctx = multiprocessing.get_context("fork")
        parent = os.getpid()
        deadline = time.monotonic() + seconds
        # The children's own deadline (they stop by themselves only if the parent is gone).
        until = deadline + (_MIN_OPS_CAP_S if min_ops else 0.0)
        out.flush()
        err.flush()
        # Block Ctrl-C/SIGTERM while forking: a child must not run the parent's
        # handlers (a KeyboardInterrupt traceback) before it installs its own. A
        # signal that arrives meanwhile reaches the parent when unblocked.
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            for r in range(procs):
                args = (_reader, ep, w, lay, r, until, parent)
                _start(ctx, children, f"reader {r}", args)
            for k in range(WRITERS):
                args = (_writer, ep, w, lay, k, inject, until, parent)
                _start(ctx, children, f"writer {k}", args)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)

        def total(first: int, count: int, word: int) -> int:
            return sum(w.load(lay.stats + (first + i) * _STATS + 8 * word) for i in range(count))

        def more_work() -> bool:
            return min_ops > 0 and time.monotonic() < until and (
                total(0, procs, R_SECTIONS) < min_ops or total(procs, WRITERS, W_RETIRED) < min_ops)

        while (left := deadline - time.monotonic()) > 0 or more_work():
            time.sleep(min(0.05, max(left, 0.01)))
            dead = [(n, p) for n, p in children if p.exitcode is not None]
            if dead:
                n, p = dead[0]
                print(
                    f"emu: validate epoch: {n} (pid {p.pid}) died early, exit code {p.exitcode}",
                    file=err,
                    flush=True,
                )
                return 1
        w.store(lay.ctl, 1)
        for _, p in children:
            p.join(10.0)
        for n, p in children:
            if p.exitcode != 0:
                print(
                    f"emu: validate epoch: {n} (pid {p.pid}) did not finish cleanly, "
                    f"exit code {p.exitcode}",
                    file=err,
                    flush=True,
                )
                return 1

        sections = total(0, procs, R_SECTIONS)
        retired = total(procs, WRITERS, W_RETIRED)
        violations = total(0, procs, R_VIOLATIONS) + total(procs, WRITERS, W_VIOLATIONS)
        epoch1 = ep.ck.epoch
        how = "at once (inject skip-grace)" if inject else "after a grace period"
        lines = [
            f"validate epoch: {procs} reader(s), {WRITERS} writers, {seconds:g} s"
            f"{', inject ' + inject if inject else ''}",
            f"readers: {sections} sections ({total(0, procs, R_NESTED)} nested, "
            f"{total(0, procs, R_PREEMPT)} preemptible), "
            f"{total(0, procs, R_CHECKS)} object checks",
            f"writers: {retired} retired, {total(procs, WRITERS, W_FREED)} freed {how}, "
            f"{total(procs, WRITERS, W_POLLS)} epoch_poll, "
            f"{total(procs, WRITERS, W_WAITS)} epoch_wait, "
            f"{total(procs, WRITERS, W_BLOCKS)} blocked scans",
            f"epoch: {epoch0} -> {epoch1} ({epoch1 - epoch0} ticks)",
            f"violations: {violations}",
        ]
        print("\n".join(lines), file=out, flush=True)
        if violations:
            return 1
        if sections == 0 or retired == 0:
            print(
                "emu: validate epoch: no work was done; nothing was validated", file=err, flush=True
            )
            return 1
        return 0
    except KeyboardInterrupt:
        print("emu: validate epoch: interrupted", file=err, flush=True)
        return 130
    finally:
        # A second Ctrl-C must not cut the clean-up short: hold it until done.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            if w is not None:
                w.store(lay.ctl, 1)
            _reap(children)
            if w is not None:
                w.release()
            if ep is not None:
                ep.release()
            mm.close()
        finally:
            _restore_sigterm(old_term)
            _unblock_discarding(held)


def _start(
    ctx: Any,
    children: list[tuple[str, multiprocessing.process.BaseProcess]],
    name: str,
    args: tuple,
) -> None:
    p = ctx.Process(target=_child, args=args, daemon=True)
    p.start()
    children.append((name, p))  # at once: every started child gets reaped


def _reap(children: list[tuple[str, multiprocessing.process.BaseProcess]]) -> None:
    """Stop every child: ask (stop flag, set by the caller), then SIGTERM, then SIGKILL."""
    until = time.monotonic() + 2.0
    for _, p in children:
        p.join(max(0.0, until - time.monotonic()))
    for _, p in children:
        if p.exitcode is None:
            p.terminate()
    for _, p in children:
        p.join(2.0)
        if p.exitcode is None:
            p.kill()
            p.join()
        p.close()


def _unblock_discarding(mask: set) -> None:
    """Restore the signal mask, dropping a Ctrl-C/SIGTERM that came during clean-up:
    the run has already been stopped, and the result (or 130) is what to report."""
    pending = signal.sigpending() & _STOP_SIGNALS
    saved = {s: signal.signal(s, signal.SIG_IGN) for s in pending}
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    for s, handler in saved.items():
        signal.signal(s, handler)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _install_sigterm() -> Any:
    try:
        return signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:  # not the main thread: leave signals alone
        return None


def _restore_sigterm(old: Any) -> None:
    if old is not None:
        signal.signal(signal.SIGTERM, old)
