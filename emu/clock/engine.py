"""The virtual-time engine of the kernel-state actor.

Each emulated CPU's stream of shared operations arrives in BATCHes; the engine runs them as
one discrete-event simulation in the total order (vtime, cpu, seq), conservatively: an event
is processed only when no CPU whose stream has run dry ("starved") could still send an
earlier one.  A starved CPU's earliest next operation is the time its last batch finished
plus the lookahead it declared (Chandy-Misra-Bryant; docs/design.md "Time").  An interrupt not
yet acknowledged bounds the horizon the same way, at its delivery time.

Operations are (op, pre, arg) triples: `pre` local cycles, then the operation on shared
state.  A `pre` is stretched while another thread of the CPU's core computes: SMT sharing,
decided when the stretch begins (emu/hw/smt.py; smt.stretch, inlined here).  Critical
sections are delegated whole (LOCK, pre, ..., UNLOCK), as in Remote Core Locking, so a
contended lock costs the host no round trip.  What an operation does to the
shared state is the kernel model's business (emu/kernel/state.py): the engine only orders.

The engine is pure: it knows nothing of sockets.  It reports finished batches through
`reply(cpu, seq, vtime, stopped)`, interrupts through `interrupt(cpu, vtime, vector, src,
a1, a2)` and the values of kernel calls a CPU waits for (`td.query`) through `ret(cpu, v)`.

Kernel paths that run in the actor (emu/kernel/kthread.py) use it as their sequencer: `at`,
`resume`, `lock`/`unlock`, `ipi` (to many CPUs at once: the initiator goes on when every
ACK is in; each un-ACKed interrupt bounds the horizon at its delivery time, so a CPU never
runs past a point where an interrupt could still reach it unseen) and `ret`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from heapq import heappop, heappush, heappushpop

from emu.counters import (
    H_EVENTS,
    H_FRONTIER,
    H_HEARTBEAT,
    T_IPI_ACKED,
    T_IPI_RECEIVED,
    T_IPI_SENT,
    T_ITERATIONS,
    T_PASSED,
    T_SHOOTDOWNS,
    T_VTIME,
    CounterBoard,
)
from emu.kernel.ops import OP_WIDTH, RUN
from emu.kernel.thread import ModelThread
from emu.protocol import ProtocolError

RUNNING, BLOCKED, STARVED, DONE = range(4)
STEP_EVENT, ACK_EVENT, CALLBACK_EVENT = range(3)
NEVER = 1 << 62  # "no end": a run with -s 0


class Thread(ModelThread):
    """A CPU's kernel execution stream as the actor sees it."""

    __slots__ = ("state", "t", "ops", "pc", "seq", "lookahead", "queue", "iterations",
                 "boundary", "boundary_t", "version", "ipi_waiters", "steal", "siblings",
                 "stretch")

    def __init__(self, cpu: int, task: int, period: int) -> None:
        super().__init__(cpu, task)
        self.state = STARVED
        self.t = 0
        self.ops: list[int] = []
        self.pc = 0
        self.seq = -1
        self.lookahead = 0
        self.queue: deque[tuple[int, int, list[int]]] = deque()
        self.iterations = 0
        self.boundary = 1        # next sample boundary to record
        self.boundary_t = period  # its virtual time
        self.version = 0         # invalidates stale entries of the starved heap
        # Initiators of the interrupts sent to it, in sending order: its ACKs come back in
        # that order (one socket, handled one after another).
        self.ipi_waiters: deque = deque()
        self.steal = 0           # interrupt handler cycles to add to its stream
        self.siblings: list[Thread] = []  # the run's other threads on its core
        self.stretch = False     # whether its next batch starts slowed by a working sibling


class Engine:
    """Conservative discrete-event sequencer of all CPUs' shared operations."""

    def __init__(self, cpus: Sequence[int], board: CounterBoard, period: int,
                 boundaries: int | None, ipi_latency: int, ipi_handler: int,
                 ipi_send: int = 0,
                 handler_cost: Callable[[int, int, int], int] | None = None,
                 smt_slowdown: float = 1.0,
                 siblings: dict[int, list[int]] | None = None) -> None:
        self.threads = {cpu: Thread(cpu, task, period) for task, cpu in enumerate(cpus)}
        # SMT sharing (emu/hw/smt.py): local work is stretched while a sibling works.
        self.smt_slowdown = smt_slowdown
        for th in self.threads.values():
            th.siblings = [self.threads[c] for c in (siblings or {}).get(th.cpu, ())]
            th.stretch = bool(th.siblings)  # at 0 every sibling is about to work
        self.ks = None   # the kernel state: set by attach()
        self.board = board
        self.words = board.words
        self.period = period
        self.boundaries = boundaries
        self.t_end = NEVER if boundaries is None else boundaries * period
        self.ipi_latency = ipi_latency
        self.ipi_handler = ipi_handler
        self.ipi_send = ipi_send  # per further target: one ICR write each
        # The handler's cycles by (vector, addr1, addr2), for a CPU that has left the run.
        self.handler_cost = handler_cost or (lambda vector, a1, a2: ipi_handler)
        self.reply: Callable[[int, int, int, bool], None] = lambda *a: None
        self.interrupt: Callable[..., None] | None = None
        self.ret_value: Callable[[int, object], None] = lambda *a: None
        self.heap: list[tuple] = []  # (vtime, cpu, seq, kind, callback)
        # The event scheduled last, held out of the heap while the loop runs: most often it
        # is the next to run (a CPU's next op), and then it costs no push and no pop.
        self.ready: tuple | None = None
        self.intr_bounds: list[tuple[int, int]] = []  # (vtime, cpu) of interrupts not acked
        self.starved: list[tuple[int, int, int]] = []
        self.seq = 0
        self.processed = 0     # engine steps, for the heartbeat
        self.running = len(self.threads)
        for th in self.threads.values():
            heappush(self.starved, (0, th.cpu, th.version))
            self.words[board.ring_index(th.task, 0)] = 0
            self.words[board.task_index(th.task, T_PASSED)] = 1

    def finish(self, rundir: str) -> None:
        """The run is over: leave what this engine kept for the supervisor (a hook)."""

    def attach(self, ks) -> None:
        """Give the engine its kernel state, and the kernel state its sequencer."""
        self.ks = ks
        ks.sim = self

    @property
    def events(self) -> int:
        """Shared events so far: lock acquires and releases, atomics, IPIs and ACKs."""
        return self.ks.events + sum(lock.stats[5] for lock in self.ks.locks)

    # ---------------------------------------------------------------- input

    def submit(self, cpu: int, seq: int, lookahead: int, ops: list[int]) -> None:
        """A BATCH from `cpu` arrived."""
        th = self.threads.get(cpu)
        if th is None:
            raise ProtocolError(f"BATCH from CPU {cpu}, which is not in this run")
        if th.state == DONE:
            self.reply(cpu, seq, th.t, True)
            return
        th.queue.append((seq, lookahead, ops))
        if th.state == STARVED:
            self._load(th)

    def ack(self, cpu: int, vtime: int, handler: int) -> None:
        """The ACK of an interrupt: the handler on `cpu` finished at `vtime`."""
        th = self.threads.get(cpu)
        pending = [b for b in self.intr_bounds if b[1] == cpu]
        if th is None or not pending or vtime < pending[0][0]:
            raise ProtocolError(f"ACK from CPU {cpu} at {vtime}, which has no interrupt pending")
        self.intr_bounds.remove(pending[0])
        self._push_ack(th, vtime, handler, th.ipi_waiters.popleft())

    def leave(self, cpu: int) -> None:
        """BYE: the CPU's testcase returned; it sends nothing more."""
        th = self.threads.get(cpu)
        if th is None:
            raise ProtocolError(f"BYE from CPU {cpu}, which is not in this run")
        if th.state == DONE:
            return
        if th.state != STARVED or th.queue:
            raise ProtocolError(f"BYE from CPU {cpu} with operations still to run")
        self._retire(th)

    # ---------------------------------------------------------------- the kernel's calls

    def at(self, t: int, cpu: int, fn: Callable[[int], None]) -> None:
        """Run fn(t) at virtual time t, ordered as an event of CPU cpu."""
        self.seq += 1
        self._push((t, cpu, self.seq, CALLBACK_EVENT, fn))

    def resume(self, th: Thread, t: int) -> None:
        """th's blocked operation completed at t (a lock was handed to it).  A kernel path
        blocked inside a kernel call takes the news first (its continuation)."""
        fn = th.on_resume
        if fn is not None:
            th.on_resume = None
            fn(t)
            return
        if th.task is None:  # a kernel thread's path has ended
            return
        th.state = RUNNING
        self._advance(th, t)

    def lock(self, th, t: int, lock: int, caller: int) -> int | None:
        m = self.ks.locks[lock]
        return m.acquire(th, t, caller)

    def unlock(self, th, t: int, lock: int, caller: int) -> int:
        m = self.ks.locks[lock]
        return m.release(th, t)

    def ret(self, th, value: object) -> None:
        """A kernel call's value for the CPU waiting on it (sent before the batch's DONE)."""
        if th.task is not None:
            self.ret_value(th.cpu, value)

    def count_shootdown(self, th) -> None:
        if th.task is not None:
            self.words[self.board.task_index(th.task, T_SHOOTDOWNS)] += 1

    # ---------------------------------------------------------------- the loop

    def horizon(self) -> tuple[int, int] | None:
        """(vtime, cpu) of the earliest operation a starved CPU could still send."""
        starved, threads = self.starved, self.threads
        limit = min(self.intr_bounds) if self.intr_bounds else None
        while starved:
            b, j, ver = starved[0]
            if threads[j].version == ver:
                return (b, j) if limit is None or (b, j) < limit else limit
            heappop(starved)
        return limit

    def _push(self, entry: tuple) -> None:
        """Schedule an event (vtime, cpu, seq, kind, payload)."""
        if self.ready is not None:
            heappush(self.heap, self.ready)
        self.ready = entry

    def next_event(self) -> tuple | None:
        """The earliest event scheduled (vtime, cpu, seq, kind, payload), if any."""
        if self.ready is not None:
            heappush(self.heap, self.ready)
            self.ready = None
        return self.heap[0] if self.heap else None

    def run(self) -> None:
        """Process every event that is safe to process now."""
        heap, threads, starved = self.heap, self.threads, self.starved
        limit = self.horizon()
        steps = 0
        step = self._step
        while True:
            entry = self.ready
            if entry is not None:
                self.ready = None
                entry = heappushpop(heap, entry)  # the earlier of it and the heap's first
            elif heap:
                entry = heappop(heap)
            else:
                break
            t, cpu = entry[0], entry[1]
            if limit is not None and (t > limit[0] or (t == limit[0] and cpu >= limit[1])):
                heappush(heap, entry)
                break
            steps += 1
            kind = entry[3]
            if kind == STEP_EVENT:
                step(threads[cpu], t)
            elif kind == CALLBACK_EVENT:
                entry[4](t)
            else:
                self._acked(threads[cpu], t, entry[4])
            if starved and (limit is None or starved[0][0] <= limit[0]):
                limit = self.horizon()
            elif self.intr_bounds:
                limit = self.horizon()
        self.processed += steps
        if self.ready is not None:   # between runs, the heap holds every event
            heappush(heap, self.ready)
            self.ready = None
        words = self.words
        words[H_HEARTBEAT] = self.processed
        words[H_EVENTS] = self.events
        if heap:
            words[H_FRONTIER] = heap[0][0]

    @property
    def finished(self) -> bool:
        return self.running == 0

    # ---------------------------------------------------------------- steps

    def _load(self, th: Thread) -> None:
        """Start th's next queued batch at th.t."""
        seq, lookahead, ops = th.queue.popleft()
        if ops[1] < th.lookahead:
            raise ProtocolError(
                f"CPU {th.cpu} declared lookahead {th.lookahead} but sent an op after {ops[1]}")
        th.seq, th.ops, th.pc, th.lookahead = seq, ops, 0, lookahead
        th.state = RUNNING
        th.version += 1
        self.seq += 1
        # Slowed or not as decided when its last batch ended (_advance): a starved CPU's
        # batch may arrive after its siblings have moved on in virtual time.
        pre = int(ops[1] * self.smt_slowdown) if th.stretch else ops[1]
        self._push((th.t + pre, th.cpu, self.seq, STEP_EVENT, None))

    def _step(self, th: Thread, t: int) -> None:
        ops, pc = th.ops, th.pc
        if t > self.t_end and not th.held:
            self._stop(th, t)
            return
        run = RUN.get(ops[pc])
        if run is None:
            raise ProtocolError(f"CPU {th.cpu} sent unknown op {ops[pc]!r}")
        t = run(self, self.ks, th, t, ops[pc + 2])
        if t is None:  # it waits: a mutex, an interrupt's ACKs, a sleep (resume goes on)
            th.state = BLOCKED
            return
        self._advance(th, t)

    def _advance(self, th: Thread, t: int) -> None:
        """th's current op finished at t: schedule its next op, or finish the batch."""
        if th.steal:  # interrupt handlers ran on this CPU meanwhile
            t += th.steal
            th.steal = 0
        th.t = t
        pc = th.pc + OP_WIDTH
        works = bool(th.siblings) and self.sibling_works(th)
        if pc >= len(th.ops):
            th.stretch = works
            self.reply(th.cpu, th.seq, t, False)
            if th.queue:
                self._load(th)
            else:
                th.state = STARVED
                th.version += 1
                heappush(self.starved, (t + th.lookahead, th.cpu, th.version))
            return
        th.pc = pc
        self.seq += 1
        pre = th.ops[pc + 1]
        if works:
            pre = int(pre * self.smt_slowdown)
        self._push((t + pre, th.cpu, self.seq, STEP_EVENT, None))

    def sibling_works(self, th: Thread) -> bool:
        """Whether another thread of th's core computes now (SMT sharing: emu/hw/smt.py);
        one that waits (spins, sleeps, awaits ACKs) or has finished does not."""
        for sib in th.siblings:
            if sib.state != BLOCKED and sib.state != DONE:
                return True
        return False

    def off_cpu(self, th: Thread, t: int, cycles: int) -> None:
        """The thread leaves its CPU (sleeps, is preempted) for `cycles`: mutex waiters
        stop spinning on what it owns and block on the turnstile (TD_IS_RUNNING is false)."""
        th.offcpu = True
        th.state = BLOCKED
        for lock in th.holding:
            lock.owner_off_cpu(t)

        def back(t: int) -> None:
            th.offcpu = False
            self.resume(th, t)

        self.at(t + cycles, th.cpu, back)

    def count(self, th: Thread, t: int) -> None:
        """The workload's (*iterations)++, at virtual time t."""
        if t > th.boundary_t:
            self._record_boundaries(th, t)
        th.iterations += 1
        words, board, task = self.words, self.board, th.task
        words[board.task_index(task, T_ITERATIONS)] = th.iterations
        words[board.task_index(task, T_VTIME)] = t

    def _record_boundaries(self, th: Thread, t: int) -> None:
        """Snapshot th's count at every sample boundary before t (count at b: ops at <= b)."""
        words, board = self.words, self.board
        last = self.boundaries if self.boundaries is not None else NEVER
        while th.boundary_t < t and th.boundary <= last:
            words[board.ring_index(th.task, th.boundary)] = th.iterations
            th.boundary += 1
            th.boundary_t += self.period
        words[board.task_index(th.task, T_PASSED)] = th.boundary

    def _stop(self, th: Thread, t: int) -> None:
        """th passed the end of the run between critical sections: it does no more."""
        th.t = t
        self._retire(th)
        self.reply(th.cpu, th.seq, t, True)
        while th.queue:
            self.reply(th.cpu, th.queue.popleft()[0], t, True)

    def _retire(self, th: Thread) -> None:
        self._record_boundaries(th, NEVER)
        th.state = DONE
        th.version += 1
        self.running -= 1

    # ---------------------------------------------------------------- interrupts

    def ipi(self, th, t: int, targets: Sequence[int], vector: int, a1: int, a2: int
            ) -> int | None:
        """Send `vector` to each target, one ICR write after another (ipi_send cycles
        apart), each delivered ipi_latency after its write.  th waits for every ACK (None);
        with no target it goes on at once (t)."""
        if not targets:
            return t
        if self.interrupt is None:
            raise ProtocolError("interrupts need a transport")
        words, board = self.words, self.board
        for k, target in enumerate(targets):
            dst = self.threads.get(target)
            if dst is None or target == th.cpu:
                raise ProtocolError(f"CPU {th.cpu} sent an IPI to CPU {target}, not in this run")
            at = t + self.ipi_latency + k * self.ipi_send
            th.awaiting_acks += 1
            self.ks.events += 1
            if th.task is not None:
                words[board.task_index(th.task, T_IPI_SENT)] += 1
            if dst.state == DONE:
                # Its process has left the run: the handler's cost stands in for its answer.
                handler = self.handler_cost(vector, a1, a2)
                words[board.task_index(dst.task, T_IPI_RECEIVED)] += 1
                self._push_ack(dst, at + handler, handler, th)
            else:
                dst.ipi_waiters.append(th)
                self.intr_bounds.append((at, target))
                self.interrupt(target, at, vector, th.cpu, a1, a2)
        return None

    def _push_ack(self, th: Thread, vtime: int, handler: int, waiter) -> None:
        self.ks.events += 1
        self.seq += 1
        self._push((vtime, th.cpu, self.seq, ACK_EVENT, (waiter, handler)))

    def _acked(self, th: Thread, t: int, payload: tuple) -> None:
        """th's interrupt handler finished at t: its initiator may go on."""
        waiter, handler = payload
        th.steal += handler
        if waiter.task is not None:
            self.words[self.board.task_index(waiter.task, T_IPI_ACKED)] += 1
        waiter.awaiting_acks -= 1
        if waiter.awaiting_acks == 0:
            self.resume(waiter, t)
