"""A reference discrete-event simulation of the virtual clock, in one process.

It shares the workloads, kernel paths and kernel model (locks, cache lines, kernel calls:
the cost model) with the emulator, but none of its machinery: no processes, sockets,
batches, lookahead, horizon or engine.  Each CPU's operation stream is recorded up front
(it never depends on timing), then one plain heapq loop plays every CPU in (vtime, cpu)
order.  The emulator must produce the very same per-task counts:
tests/test_runtime_reference.py.
"""

from __future__ import annotations

from heapq import heappop, heappush

from emu.cpu.libc import Ctx
from emu.cpu.td import Td
from emu.kernel.kcalls import HANDLERS, unpack_lock
from emu.kernel.state import KernelState
from emu.machine import RunSpec
from emu.protocol import (
    OP_ATOMIC,
    OP_CALL,
    OP_COUNT,
    OP_LOCK,
    OP_NOP,
    OP_READ,
    OP_UNLOCK,
    OP_WRITE,
)


class _StreamFull(Exception):
    pass


class RecordingTd(Td):
    """Records (op, pre, arg) like VirtualTd, and stops the testcase after `limit` ops."""

    def __init__(self, *args, limit: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stream: list[tuple[int, int, int]] = []
        self.pre = 0
        self.limit = limit

    def cycles(self, n: int) -> None:
        self.pre += self.local(n)

    def _op(self, op: int, arg: int) -> None:
        if len(self.stream) >= self.limit:
            raise _StreamFull
        self.stream.append((op, self.pre, arg))
        self.pre = 0


def record_streams(spec: RunSpec, limit: int) -> list[list[tuple[int, int, int]]]:
    streams = []
    for task in range(spec.tasks):
        td = RecordingTd(spec.cpus[task], task, spec.machine, spec.kernel, spec.seed,
                         limit=limit)
        try:
            spec.testcase.module.testcase(Ctx(td, spec.kernel.procs[task], task, spec.cpus))
        except _StreamFull:
            pass
        streams.append(td.stream)
    return streams


class _Cpu:
    """What the kernel model needs of a thread."""

    def __init__(self, cpu: int) -> None:
        self.cpu = cpu
        self.offcpu = False
        self.holding: list = []


def simulate(spec: RunSpec, limit: int = 100_000) -> list[list[int]]:
    """Counts of each task at every sample boundary 0..K, as the emulator's board has them."""
    spec.prepare()
    if getattr(spec.kernel.ids, "needs_epoch", False):  # private records: one process here
        from emu.epoch import Epoch

        spec.kernel.epoch = Epoch.alloc(bytearray(Epoch.size(spec.tasks)), spec.tasks)
    K, period = spec.boundaries, spec.period_cycles
    t_end = K * period
    streams = record_streams(spec, limit)
    task_of = {cpu: task for task, cpu in enumerate(spec.cpus)}
    cpus = {cpu: _Cpu(cpu) for cpu in spec.cpus}
    pc = [0] * spec.tasks
    held = [0] * spec.tasks
    stamps: list[list[int]] = [[] for _ in range(spec.tasks)]  # vtimes of COUNT ops
    events: list[tuple] = []
    order = [0]

    def push(t: int, cpu: int, fn=None) -> None:
        order[0] += 1
        heappush(events, (t, cpu, order[0], fn))

    def next_op(task: int, t_done: int) -> None:
        if pc[task] >= len(streams[task]):
            raise RuntimeError(f"reference: task {task}'s stream ran out; raise the limit")
        push(t_done + streams[task][pc[task]][1], spec.cpus[task])

    class Sim:
        def at(self, t: int, cpu: int, fn) -> None:
            push(t, cpu, fn)

        def resume(self, th: _Cpu, t: int) -> None:
            task = task_of[th.cpu]
            pc[task] += 1
            next_op(task, t)

    ks = KernelState(spec, Sim())
    for task in range(spec.tasks):
        next_op(task, 0)
    while events:
        t, cpu, _, fn = heappop(events)
        if fn is not None:
            fn(t)
            continue
        task = task_of[cpu]
        op, _, arg = streams[task][pc[task]]
        if t > t_end and held[task] == 0:
            continue  # this CPU is done
        th = cpus[cpu]
        if op == OP_COUNT:
            stamps[task].append(t)
        elif op == OP_LOCK:
            held[task] += 1
            lock, caller = unpack_lock(arg)
            t = ks.locks[lock].acquire(th, t, caller)
        elif op == OP_UNLOCK:
            held[task] -= 1
            t = ks.locks[unpack_lock(arg)[0]].release(th, t)
        elif op == OP_READ:
            t = ks.coh.read(arg, cpu, t)
        elif op == OP_WRITE:
            t = ks.coh.write(arg, cpu, t)
        elif op == OP_ATOMIC:
            t = ks.coh.rmw(arg, cpu, t)
        elif op == OP_CALL:
            t = HANDLERS[arg](ks, th, t)
        elif op != OP_NOP:
            raise RuntimeError(f"reference: op {op} is not modelled here")
        if t is None:
            continue  # blocked: the kernel model resumes it
        pc[task] += 1
        next_op(task, t)
    return [[sum(1 for s in stamps[task] if s <= k * period) for k in range(K + 1)]
            for task in range(spec.tasks)]
