"""Kernel paths written once, run where their state lives.

Every kernel path (a syscall, vm_fault, pmap_enter, pmap_remove, a strategy's hook, a TLB
shootdown, the page daemon) is a generator that yields what it does to the machine: the
requests of emu/kernel/requests.py (Cycles, Read/Write/Rmw, Lock/Unlock, Call, Ipi, Sleep,
MemXfer, Delay, SYNC, NOW), which kernel code imports from here.

Two drivers run them:

* `run_local(td, gen)` (emu/kernel/run_local.py), in a CPU process: costs become
  `td.cycles`, a private line or mutex (None) a local cost, shared ones the CPU's
  operations (emu/kernel/ops.py).
* `start(...)`, here, in the kernel actor, for shared state (a `_threads` address space,
  the page daemon): it advances virtual time itself and blocks on the sequencer, `ks.sim`, which
  offers at/resume/lock/unlock/ipi/ret (the engine, the reference simulation, the wall
  clock's actor).  Before a mutex, an IPI, a sleep or a SYNC it waits for the event time
  to reach its own, so every change of shared state happens at its exact virtual time.

A generator registered with `gcall` is a kernel call: `td.call(id, *args)` runs it in the
actor as one operation of the CPU's stream, which goes on when the generator returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emu.hw.memctl import BYTES_MASK, CORE_SHIFT
from emu.kernel import ops
from emu.kernel.kcalls import kcall
from emu.kernel.requests import (  # noqa: F401  (the vocabulary kernel paths import here)
    NOW,
    SYNC,
    Call,
    Cycles,
    Delay,
    Ipi,
    KPath,
    Lock,
    Mark,
    MemXfer,
    Read,
    Rmw,
    Sleep,
    Unlock,
    Write,
)
from emu.kernel.thread import ModelThread

BLOCKING: set[int] = set()  # kernel calls that may block: the wall clock's CPU waits for them


class KCtx:
    """What a kernel path sees of where it runs: costs, CPU, VM state, the actor (if any)."""

    __slots__ = ("cost", "cpu", "vm", "ks", "th", "td", "rng")

    def __init__(self, cost, cpu: int, vm, ks=None, th=None, td=None, rng=None) -> None:
        self.cost = cost
        self.cpu = cpu
        self.vm = vm
        self.ks = ks
        self.th = th
        self.td = td
        self.rng = rng

    @property
    def shared(self) -> bool:
        return self.ks is not None


# ------------------------------------------------------------------ in the kernel actor

_BLOCKED = object()


class _Run:
    """One kernel path being driven in the actor for thread `th`."""

    __slots__ = ("ks", "sim", "th", "gen", "t", "now", "pending", "on_done")

    def __init__(self, ks, th, gen: KPath, t: int, on_done: Callable[[int], None] | None):
        self.ks = ks
        self.sim = ks.sim
        self.th = th
        self.gen = gen
        self.t = t
        self.now = t        # the event time we run at; -1: unknown (resumed by a callback)
        self.pending = None
        self.on_done = on_done

    def go(self, value: Any) -> Any:
        """Run until the path blocks (_BLOCKED) or returns ((t, value))."""
        gen, th, ks, sim = self.gen, self.th, self.ks, self.sim
        read, write, rmw = ops.read, ops.write, ops.rmw
        t = self.t
        try:
            while True:
                req = gen.send(value)
                value = None
                k = req.__class__
                if k is Cycles:
                    t += req.n
                    continue
                if k is Rmw:
                    t = rmw(sim, ks, th, t, req.line)
                    continue
                if k is Read:
                    t = read(sim, ks, th, t, req.line)
                    continue
                if k is Write:
                    t = write(sim, ks, th, t, req.line)
                    continue
                if k is MemXfer:   # the controllers' queue, inside a kernel call
                    arg = req.arg
                    t = ks.memctl.transfer(arg & 0xF, t, (arg >> 4) & BYTES_MASK,
                                           arg >> CORE_SHIFT)
                    continue
                if req is NOW:
                    value = t
                    continue
                if t != self.now:  # first let virtual time reach t
                    self.t, self.pending = t, req
                    sim.at(t, th.cpu, self._at)
                    return _BLOCKED
                r = self._perform(req, t)
                if r is None:
                    return _BLOCKED
                value = t = r
        except StopIteration as stop:
            self.t = t
            return (t, stop.value)

    def _perform(self, req: Any, t: int) -> int | None:
        k, sim, th = req.__class__, self.sim, self.th
        if k is Lock:
            if req.lock is None:
                return t + self.ks.cost.atomic_local
            th.on_resume = self._resumed
            r = sim.lock(th, t, req.lock, req.caller)
            if r is not None:
                th.on_resume = None
            return r
        if k is Unlock:
            if req.lock is None:
                return t + self.ks.cost.atomic_local
            return sim.unlock(th, t, req.lock, req.caller)
        if k is Ipi:
            th.on_resume = self._resumed
            r = sim.ipi(th, t, req.targets, req.vector, req.a1, req.a2)
            if r is not None:
                th.on_resume = None
            return r
        if k is Sleep:
            th.on_resume = self._resumed
            sleepq(self.ks).setdefault(req.chan, []).append(th)
            return None
        if k is Delay:
            sim.at(t + req.n, th.cpu, self._resumed_at)
            return None
        if req is SYNC:
            return t
        raise RuntimeError(f"unknown kernel path request {req!r}")

    def _at(self, t: int) -> None:
        """Virtual time reached the pending request's time."""
        self.now = t
        req, self.pending = self.pending, None
        r = self._perform(req, t)
        if r is not None:
            self._continue(r)

    def _resumed_at(self, t: int) -> None:
        self.now = t
        self._continue(t)

    def _resumed(self, t: int) -> None:
        self.now = -1  # woken from a callback: its event time is not known here
        self._continue(t)

    def _continue(self, t: int) -> None:
        self.t = t
        res = self.go(t)
        if res is not _BLOCKED:
            self._complete(res)

    def _complete(self, res: tuple[int, Any]) -> None:
        t, value = res
        if value is not None:
            self.sim.ret(self.th, value)
        if self.on_done is None:   # the thread goes on from where the call ended
            self.sim.resume(self.th, t)
        else:
            self.on_done(t)


def start(ks, th, gen: KPath, t: int, on_done: Callable[[int], None] | None = None
          ) -> int | None:
    """Drive `gen` for `th` from event time t.  Returns the time it finished, or None if it
    blocked: then `on_done(t)` (default: ks.sim.resume(th, t), the thread goes on) follows."""
    run = _Run(ks, th, gen, t, on_done)
    res = run.go(None)
    if res is _BLOCKED:
        return None
    t_done, value = res
    if value is not None:
        ks.sim.ret(th, value)
    return t_done


def sleepq(ks) -> dict:
    return ks.sleepq


def wakeup(ks, chan: Any, t: int, delay: int = 0) -> int:
    """wakeup(chan) at t: every sleeper runs again `delay` later.  Returns how many."""
    q = sleepq(ks).pop(chan, None) or []
    sim = ks.sim
    for th in q:
        sim.at(t + delay, th.cpu, lambda t, th=th: sim.resume(th, t))
    return len(q)


class KThread(ModelThread):
    """A kernel thread with no CPU process of its own (the page daemon): it lives in the
    actor, bound to CPU `cpu`, and runs one kernel path."""

    def __init__(self, cpu: int, name: str) -> None:
        super().__init__(cpu, None)
        self.name = name
        self.ipi_waiters: list = []
        self.done = False


def spawn(ks, th: KThread, gen_fn: Callable[..., KPath], ctx: KCtx, at: int = 0) -> None:
    """Start kernel thread `th` running gen_fn(ctx) at virtual time `at`."""

    def done(t: int) -> None:
        th.done = True

    def begin(t: int) -> None:
        if start(ks, th, gen_fn(ctx), t, done) is not None:
            th.done = True

    ks.sim.at(at, th.cpu, begin)


def gcall(gen_fn: Callable[..., KPath], blocking: bool = True) -> int:
    """Register kernel path gen_fn(ctx, *args) as a kernel call; returns its id.
    `blocking=False`: it never blocks (no Lock, Ipi, Sleep, Delay), so the wall clock's CPU
    need not wait for it."""
    def handler(ks, th, t: int) -> int | None:
        args, th.args = th.args, []
        k = ks.kctx.get(th)      # what the thread's paths see in the actor: made once
        if k is None:
            k = ks.kctx[th] = KCtx(ks.cost, th.cpu, ks.vm, ks=ks, th=th)
        return start(ks, th, gen_fn(k, *args), t)

    handler.__name__ = gen_fn.__name__
    handler.__qualname__ = gen_fn.__qualname__   # its name in kcalls.registry_digest
    handler.__module__ = gen_fn.__module__
    kid = kcall(handler)
    if blocking:
        BLOCKING.add(kid)
    return kid
