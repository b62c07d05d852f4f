"""A reference discrete-event simulation of the virtual clock, in one process.

It shares the workloads, kernel paths and kernel model (locks, cache lines, kernel calls:
the cost model) with the emulator, but none of its machinery: no processes, sockets,
batches, lookahead, horizon or engine.  Each CPU's operation stream is recorded up front
(it never depends on timing), then one plain heapq loop plays every CPU in (vtime, cpu)
order.  The emulator must produce the very same per-task counts:
tests/integration/test_runtime_reference.py.
"""

from __future__ import annotations

from heapq import heappop, heappush
from typing import TYPE_CHECKING

from emu.cpu.interrupts import handler_cycles
from emu.cpu.libc import Ctx
from emu.cpu.td import Td
from emu.hw import smt
from emu.hw.machine import cost_table
from emu.kernel.ops import RUN
from emu.kernel.state import KernelState
from emu.kernel.thread import ModelThread

if TYPE_CHECKING:
    from emu.machine.spec import RunSpec


class _StreamFull(Exception):
    pass


class RecordingTd(Td):
    """Records (op, pre, arg) like VirtualTd, and stops the testcase after `limit` ops."""

    def __init__(self, *args, limit: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stream: list[tuple[int, int, int]] = []
        self.pre = 0
        self.limit = limit

    def smt_speed(self, machine, cpus) -> float:
        return 1.0  # simulate() stretches local work while a sibling works (emu/hw/smt.py)

    def cycles(self, n: int) -> None:
        self.pre += self.local(n)

    def _op(self, op: int, arg: int) -> None:
        if len(self.stream) >= self.limit:
            raise _StreamFull
        self.stream.append((op, self.pre, arg))
        self.pre = 0

    def query(self, kcall: int, *args: int) -> object:
        raise RuntimeError("reference: a kernel call whose value steers the CPU needs the "
                           "emulator (its streams are recorded before they run)")


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


class _Cpu(ModelThread):
    def __init__(self, cpu: int, task: int) -> None:
        super().__init__(cpu, task)
        self.steal = 0
        self.waiting = False     # blocked (spinning, asleep, awaiting ACKs) or done
        self.siblings: list[_Cpu] = []


def simulate(spec: RunSpec, limit: int = 100_000) -> list[list[int]]:
    """Counts of each task at every sample boundary 0..K, as the emulator's board has them."""
    spec.prepare()
    if spec.kernel.needs_epoch:  # private records: one process here
        from emu.epoch import Epoch

        spec.kernel.epoch = Epoch.alloc(bytearray(Epoch.size(spec.tasks)), spec.tasks)
    K, period = spec.boundaries, spec.period_cycles
    t_end = K * period
    streams = record_streams(spec, limit)
    task_of = {cpu: task for task, cpu in enumerate(spec.cpus)}
    cpus = {cpu: _Cpu(cpu, task) for task, cpu in enumerate(spec.cpus)}
    for cpu, sibs in smt.siblings(spec.machine, spec.cpus).items():
        cpus[cpu].siblings = [cpus[c] for c in sibs]
    slowdown = smt.slowdown(spec.machine)
    cost = cost_table(spec.machine)
    pc = [0] * spec.tasks
    stamps: list[list[int]] = [[] for _ in range(spec.tasks)]  # vtimes of COUNT ops
    events: list[tuple] = []
    order = [0]

    def push(t: int, cpu: int, fn=None) -> None:
        order[0] += 1
        heappush(events, (t, cpu, order[0], fn))

    def next_op(task: int, t_done: int) -> None:
        th = cpus[spec.cpus[task]]
        if th.steal:  # interrupt handlers ran on this CPU meanwhile (as the engine adds them)
            t_done += th.steal
            th.steal = 0
        if pc[task] >= len(streams[task]):
            raise RuntimeError(f"reference: task {task}'s stream ran out; raise the limit")
        works = any(not sib.waiting for sib in th.siblings)
        push(t_done + smt.stretch(streams[task][pc[task]][1], slowdown, works),
             spec.cpus[task])

    class Sim:
        def at(self, t: int, cpu: int, fn) -> None:
            push(t, cpu, fn)

        def resume(self, th, t: int) -> None:
            fn = th.on_resume
            if fn is not None:  # a kernel path blocked inside a kernel call goes on
                th.on_resume = None
                fn(t)
                return
            if th.task is None:
                return
            th.waiting = False
            task = task_of[th.cpu]
            pc[task] += 1
            next_op(task, t)

        def lock(self, th, t: int, lock: int, caller: int) -> int | None:
            return ks.locks[lock].acquire(th, t, caller)

        def unlock(self, th, t: int, lock: int, caller: int) -> int:
            return ks.locks[lock].release(th, t)

        def ipi(self, th, t: int, targets, vector: int, a1: int, a2: int) -> int | None:
            """As the engine: one ICR write per target, each acknowledged after its
            handler (the CPU that sent it waits for all)."""
            if not targets:
                return t
            for k, target in enumerate(targets):
                h = handler_cycles(cost, vector, a1, a2)
                at = t + cost.ipi_latency + k * getattr(cost, "ipi_send", 0) + h
                th.awaiting_acks += 1

                def acked(t: int, dst=cpus[target], h=h) -> None:
                    dst.steal += h
                    th.awaiting_acks -= 1
                    if th.awaiting_acks == 0:
                        self.resume(th, t)

                push(at, target, acked)
            return None

        def off_cpu(self, th, t: int, cycles: int) -> None:
            """As the engine: waiters on what it owns stop spinning (TD_IS_RUNNING)."""
            th.offcpu = True
            th.waiting = True
            for lock in th.holding:
                lock.owner_off_cpu(t)

            def back(t: int) -> None:
                th.offcpu = False
                self.resume(th, t)

            push(t + cycles, th.cpu, back)

        def count(self, th, t: int) -> None:
            stamps[th.task].append(t)

        def ret(self, th, value: object) -> None:
            pass

        def count_shootdown(self, th) -> None:
            pass

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
        th = cpus[cpu]
        if t > t_end and th.held == 0:
            th.waiting = True
            continue  # this CPU is done
        run = RUN.get(op)
        if run is None:
            raise RuntimeError(f"reference: op {op} is not an operation")
        t = run(ks.sim, ks, th, t, arg)
        if t is None:
            th.waiting = True
            continue  # blocked: the kernel model resumes it
        pc[task] += 1
        next_op(task, t)
    return [[sum(1 for s in stamps[task] if s <= k * period) for k in range(K + 1)]
            for task in range(spec.tasks)]
