"""The operations of an emulated CPU's stream, and what each does: the op table, once.

A CPU's kernel code touches shared kernel state only through these operations.  Every
sequencer runs them through this table: the virtual-time engine (emu/clock/engine.py), the
reference simulation (emu/clock/reference.py), the wall clock's actor (emu/clock/wall.py)
and the kernel paths driven in the actor (emu/kernel/kthread.py).  What differs between
them is the `Sequencer`: when "now" is, and what a mutex or an interrupt does to a thread.

    op      run(sim, ks, th, t, arg) -> t done, or None: th blocks until sim.resume(th, t)
    NOP     nothing (a sync point)
    COUNT   the testcase's (*iterations)++                  sim.count
    LOCK    mtx_lock (arg: lock | caller << CALLER_SHIFT)  sim.lock
    UNLOCK  mtx_unlock                                     sim.unlock
    ATOMIC  a locked RMW of a shared line (a shared event)  Coherence.rmw after the stores
    IPI     the generic vector to CPU arg, waiting for its ACK (smp_rendezvous-like)
    READ    a load of a shared line                         Coherence.read
    WRITE   a store to a shared line (store buffer)         Coherence.store
    CALL    kernel call arg on shared state (emu/kernel/kcalls.py)
    OFFCPU  leave the CPU for arg cycles (sleep, preemption)
    ARG     push an argument for the next CALL
    MEMCTL  a page's bytes through its socket's memory controllers (emu/hw/memctl.py)

`wall` says how the wall clock, where CPUs run free, sequences each: on the CPU itself
(CPU), sent to the actor (SEND), or sent and waited for (WAIT; a CALL waits when its
kernel call may block).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from emu.hw.memctl import run_memctl
from emu.hw.tlb import IPI_RENDEZVOUS
from emu.kernel.kcalls import CALLER_SHIFT, HANDLERS
from emu.protocol import OP_WIDTH

if TYPE_CHECKING:
    from emu.kernel.state import KernelState
    from emu.kernel.thread import Thread

__all__ = ["OPS", "OP_NAMES", "OP_WIDTH", "RUN", "Sequencer"]

OP_NOP, OP_COUNT, OP_LOCK, OP_UNLOCK, OP_ATOMIC, OP_IPI, OP_READ, OP_WRITE, OP_CALL, \
    OP_OFFCPU, OP_ARG = range(11)
OP_MEMCTL = 11   # a page's bytes through its socket's memory controllers (emu/hw/memctl.py)
LOCK_MASK = (1 << CALLER_SHIFT) - 1
CPU, SEND, WAIT = "cpu", "send", "wait"


class Sequencer(Protocol):
    """What orders the operations: the engine, the reference DES, the wall clock's actor."""

    def at(self, t: int, cpu: int, fn: Callable[[int], None]) -> None:
        """Run fn(t) at virtual time t, ordered as an event of CPU cpu."""

    def resume(self, th: Thread, t: int) -> None:
        """th's blocked operation completed at t."""

    def lock(self, th: Thread, t: int, lock: int, caller: int) -> int | None: ...

    def unlock(self, th: Thread, t: int, lock: int, caller: int) -> int: ...

    def ipi(self, th: Thread, t: int, targets: Sequence[int], vector: int, a1: int, a2: int
            ) -> int | None:
        """Interrupt each target; th waits for every ACK (None), or goes on (no targets)."""

    def off_cpu(self, th: Thread, t: int, cycles: int) -> int | None: ...

    def count(self, th: Thread, t: int) -> None: ...

    def ret(self, th: Thread, value: object) -> None:
        """A kernel call's value for the CPU waiting on it."""

    def count_shootdown(self, th: Thread) -> None: ...


Run = Callable[["Sequencer", "KernelState", "Thread", int, int], "int | None"]


# ---------------------------------------------------------------- accesses to a line
# Shared with the kernel paths driven in the actor (kthread: Read, Write, Rmw).

def read(sim: Sequencer, ks: KernelState, th: Thread, t: int, line: Any) -> int:
    coh = ks.coh
    return coh.read(line, th.cpu, t)


def write(sim: Sequencer, ks: KernelState, th: Thread, t: int, line: Any) -> int:
    coh = ks.coh
    return coh.store(th, line, t)


def rmw(sim: Sequencer, ks: KernelState, th: Thread, t: int, line: Any) -> int:
    # A locked instruction drains the store buffer first (Coherence.drained, inline).
    coh = ks.coh
    return coh.rmw(line, th.cpu, t if t >= th.drain else th.drain)


# ---------------------------------------------------------------- the stream's operations

def _nop(sim, ks, th, t: int, arg: int) -> int:
    return t


def _count(sim, ks, th, t: int, arg: int) -> int:
    sim.count(th, t)
    return t


def _lock(sim, ks, th, t: int, arg: int) -> int | None:
    th.held += 1
    return sim.lock(th, t, arg & LOCK_MASK, arg >> CALLER_SHIFT)


def _unlock(sim, ks, th, t: int, arg: int) -> int:
    th.held -= 1
    return sim.unlock(th, t, arg & LOCK_MASK, arg >> CALLER_SHIFT)


def _atomic(sim, ks, th, t: int, arg: int) -> int:
    ks.events += 1   # a CPU's own atomic is a shared event; one inside a kernel call is not
    return rmw(sim, ks, th, t, arg)


def _ipi(sim, ks, th, t: int, arg: int) -> int | None:
    return sim.ipi(th, t, (arg,), IPI_RENDEZVOUS, 0, 0)


def _call(sim, ks, th, t: int, arg: int) -> int | None:
    return HANDLERS[arg](ks, th, t)


def _off_cpu(sim, ks, th, t: int, arg: int) -> int | None:
    return sim.off_cpu(th, t, arg)


def _arg(sim, ks, th, t: int, arg: int) -> int:
    th.args.append(arg)
    return t


class Op(NamedTuple):
    code: int
    name: str
    run: Run
    wall: str


OPS: tuple[Op, ...] = (
    Op(OP_NOP, "NOP", _nop, CPU),
    Op(OP_COUNT, "COUNT", _count, CPU),
    Op(OP_LOCK, "LOCK", _lock, WAIT),
    Op(OP_UNLOCK, "UNLOCK", _unlock, SEND),
    Op(OP_ATOMIC, "ATOMIC", _atomic, SEND),
    Op(OP_IPI, "IPI", _ipi, WAIT),
    Op(OP_READ, "READ", read, CPU),     # the wall clock: what the host's caches make it
    Op(OP_WRITE, "WRITE", write, CPU),
    Op(OP_CALL, "CALL", _call, SEND),
    Op(OP_OFFCPU, "OFFCPU", _off_cpu, CPU),
    Op(OP_ARG, "ARG", _arg, CPU),
    Op(OP_MEMCTL, "MEMCTL", run_memctl, CPU),   # the wall clock: the host's own DRAM
)
assert all(op.code == i for i, op in enumerate(OPS))
OP_NAMES = [op.name for op in OPS]
RUN: dict[int, Run] = {op.code: op.run for op in OPS}  # a dict: an unknown op is None
