"""A reference discrete-event simulation of the virtual clock, in one process.

It shares the workloads, kernel paths and cost model with the emulator but none of its
machinery: no processes, sockets, batches, lookahead or engine.  Each CPU's operation
stream is recorded up front (the stream never depends on timing), then one plain heapq
loop plays every CPU in (vtime, cpu) order with the simplest statement of the lock rules.
The emulator must produce the very same per-task counts: tests/test_runtime_reference.py.
"""

from __future__ import annotations

from collections import deque
from heapq import heappop, heappush

from emu.cpu.libc import Ctx
from emu.cpu.td import Td
from emu.machine import RunSpec
from emu.protocol import OP_COUNT, OP_LOCK, OP_NOP, OP_UNLOCK


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
        self.pre += self.jittered(n)

    def _op(self, op: int, arg: int) -> None:
        if len(self.stream) >= self.limit:
            raise _StreamFull
        self.stream.append((op, self.pre, arg))
        self.pre = 0

    def mtx_lock(self, lock: int) -> None:
        self._op(OP_LOCK, lock)

    def mtx_unlock(self, lock: int) -> None:
        self._op(OP_UNLOCK, lock)

    def count(self) -> None:
        self._op(OP_COUNT, 0)


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


def simulate(spec: RunSpec, limit: int = 100_000) -> list[list[int]]:
    """Counts of each task at every sample boundary 0..K, as the emulator's board has them."""
    spec.prepare()
    K = spec.boundaries
    period = spec.period_cycles
    t_end = K * period
    transfer = spec.transfer_table()
    atomic = spec.machine.cost("atomic_local")
    streams = record_streams(spec, limit)
    ncpu_tasks = spec.tasks
    task_of = {cpu: task for task, cpu in enumerate(spec.cpus)}

    def rmw(line: int, cpu: int) -> int:
        return atomic if line in (-1, cpu) else atomic + transfer[line][cpu]

    owner: dict[int, int] = {}
    line: dict[int, int] = {}
    waiters: dict[int, deque[int]] = {}
    pc = [0] * ncpu_tasks
    held = [0] * ncpu_tasks
    done = [False] * ncpu_tasks
    stamps: list[list[int]] = [[] for _ in range(ncpu_tasks)]  # vtimes of COUNT ops
    events: list[tuple[int, int]] = []

    def schedule(task: int, t_done: int) -> None:
        """The op at pc[task] starts after its local cycles."""
        if pc[task] >= len(streams[task]):
            raise RuntimeError(f"reference: task {task}'s stream ran out; raise the limit")
        heappush(events, (t_done + streams[task][pc[task]][1], spec.cpus[task]))

    for task in range(ncpu_tasks):
        schedule(task, 0)
    while events:
        t, cpu = heappop(events)
        task = task_of[cpu]
        op, _, arg = streams[task][pc[task]]
        if t > t_end and held[task] == 0:
            done[task] = True
            continue
        if op == OP_COUNT:
            stamps[task].append(t)
        elif op == OP_LOCK:
            held[task] += 1
            if arg in owner:
                waiters.setdefault(arg, deque()).append(task)
                continue  # resumes when the lock is handed over
            t += rmw(line.get(arg, -1), cpu)
            owner[arg] = cpu
            line[arg] = cpu
        elif op == OP_UNLOCK:
            held[task] -= 1
            t += rmw(line[arg], cpu)
            line[arg] = cpu
            del owner[arg]
            queue = waiters.get(arg)
            if queue:
                w = queue.popleft()
                wcpu = spec.cpus[w]
                t_acq = t + rmw(cpu, wcpu)
                owner[arg] = wcpu
                line[arg] = wcpu
                pc[w] += 1
                schedule(w, t_acq)
        elif op != OP_NOP:
            raise RuntimeError(f"reference: op {op} is not modelled here")
        pc[task] += 1
        schedule(task, t)
    return [[sum(1 for s in stamps[task] if s <= k * period) for k in range(K + 1)]
            for task in range(ncpu_tasks)]
