"""The `wall` clock: CPUs run free on the host and time is the host's.  NOT reproducible.

Local work is a busy wait of the emulated duration; a lock is a real OP/RET round trip to
the actor, which applies operations in arrival order (the op table, emu/kernel/ops.py) and
hands a released lock to the longest waiter.  Useful for watching real contention on a big
host; the numbers depend on the host's cores and load (docs/design.md "Time").

Kernel paths that run in the actor (emu/kernel/kthread.py) run here too, with `WallSim` as
their sequencer: a kernel call that may block (a shootdown waits for ACKs) is an OP the CPU
waits on until RET; IPIs are real INTR messages, each CPU invalidates its TLB when it reads
one (in every wait and at every iteration) and ACKs, and the initiator goes on when the last
ACK is in.  A CPU that has left the run is acknowledged for.
"""

from __future__ import annotations

import time
from collections import deque

import zmq

from emu.counters import (
    H_EVENTS,
    H_HEARTBEAT,
    H_STATE,
    L_HOLD_MIN,
    L_WAIT_MIN,
    LOCK_WORDS,
    STATE_RUNNING,
    T_IPI_ACKED,
    T_IPI_RECEIVED,
    T_IPI_SENT,
    T_ITERATIONS,
    T_SHOOTDOWNS,
    T_VTIME,
    CounterBoard,
    note_extremes,
)
from emu.cpu.interrupts import handle_interrupt
from emu.cpu.td import RunEnded, Td
from emu.kernel.kcalls import HANDLERS, check_registry
from emu.kernel.kthread import BLOCKING
from emu.kernel.mtx import ACQ, CONT, EVENTS, HOLD, SPIN
from emu.kernel.ops import (
    LOCK_MASK,
    OP_ARG,
    OP_CALL,
    OP_COUNT,
    OP_LOCK,
    OP_OFFCPU,
    OP_UNLOCK,
    OPS,
    RUN,
    SEND,
    WAIT,
)
from emu.kernel.state import KernelState
from emu.kernel.thread import ModelThread
from emu.protocol import (
    ACK,
    BYE,
    ERROR,
    HELLO,
    INTR,
    OP,
    RET,
    ProtocolError,
    pack,
    unpack,
)

_WALL = [op.wall for op in OPS]


class WallTd(Td):
    def __init__(self, *args, sock: zmq.Socket, board: CounterBoard, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sock = sock
        self.board = board
        self.ns_per_cycle = 1e9 / self.machine.freq_hz
        self.deadline = time.perf_counter_ns()
        self.iter_index = board.task_index(self.task, T_ITERATIONS)
        self.vtime_index = board.task_index(self.task, T_VTIME)
        self.t0 = self.deadline
        self.args: list[int] = []
        self.ret: object = None
        self.got_ret = False

    def cycles(self, n: int) -> None:
        now = time.perf_counter_ns()
        self.deadline = max(self.deadline, now) + int(self.local(n) * self.ns_per_cycle)
        while time.perf_counter_ns() < self.deadline:
            pass

    def _op(self, op: int, arg: int) -> None:
        """Each shared operation happens now, for real, as the op table says (ops.py: wall):
        on this CPU, or an OP message the actor applies in arrival order, waiting for its
        RET where the operation waits (a lock, an IPI's ACKs, a kernel call that may
        block).  Plain reads and writes of shared lines cost what the host's caches make
        them."""
        how = _WALL[op] if 0 <= op < len(_WALL) else None
        if how == WAIT or (op == OP_CALL and arg in BLOCKING):
            args, self.args = self.args, []
            self.sock.send(pack(OP, op, arg, args, True))
            self._await_ret()
        elif how == SEND:
            args, self.args = self.args, []
            self.sock.send(pack(OP, op, arg, args, False))
        elif op == OP_ARG:
            self.args.append(arg)
        elif op == OP_OFFCPU:
            time.sleep(arg / self.machine.freq_hz)
        elif op == OP_COUNT:
            self.count()
        elif how is None:
            raise ProtocolError(f"CPU {self.cpu}: unknown op {op!r}")

    def query(self, kcall: int, *args: int) -> object:
        self.sock.send(pack(OP, OP_CALL, kcall, list(args), True))
        return self._await_ret()

    def sync(self, deliver: bool = True) -> int:
        """Take the interrupts already here (their invalidations apply on arrival)."""
        while self.sock.poll(0):
            self._other(unpack(self.sock.recv()))
        self.vtime = int((time.perf_counter_ns() - self.t0) / self.ns_per_cycle)
        return self.vtime

    def _await_ret(self) -> object:
        """Wait for the RET of the kernel call just sent, answering interrupts meanwhile."""
        self.got_ret = False
        while not self.got_ret:
            self._other(unpack(self.sock.recv()))
        self.vtime = int((time.perf_counter_ns() - self.t0) / self.ns_per_cycle)
        return self.ret

    def count(self) -> None:  # noqa: D102 - the hot path skips _op's dispatch
        words = self.board.words
        words[self.iter_index] += 1
        words[self.vtime_index] = time.perf_counter_ns() - self.t0
        while self.sock.poll(0):
            self._other(unpack(self.sock.recv()))
        if words[H_STATE] != STATE_RUNNING:
            raise RunEnded

    def _other(self, msg: list) -> None:
        if msg[1] == INTR:
            handler = handle_interrupt(self, self.board, *msg[2:7])
            self.tlb.deliver(None)    # host time: the invalidation happens now
            self.cycles(handler)
            self.sock.send(pack(ACK, msg[2], handler))
        elif msg[1] == RET:
            self.ret, self.got_ret = msg[2], True
        elif msg[1] == ERROR:
            raise ProtocolError(f"the actor rejected CPU {self.cpu}'s message: {msg[2]}")
        else:
            raise ProtocolError(f"CPU {self.cpu} got an unexpected message kind {msg[1]}")

    def finish(self) -> None:
        self.sock.send(pack(BYE))


class WallLock:
    """A lock the actor grants in arrival order; statistics in cycles of the machine."""

    __slots__ = ("owner", "waiters", "acquired_at", "stats")

    def __init__(self) -> None:
        self.owner = None      # the _Caller holding it
        self.waiters: deque[tuple] = deque()  # (thread, since)
        self.acquired_at = 0
        self.stats = [0] * LOCK_WORDS


class _Caller(ModelThread):
    """The thread a kernel call runs for, as the kernel model sees it."""

    def __init__(self, cpu: int, task: int | None, ident: bytes) -> None:
        super().__init__(cpu, task)
        self.ident = ident
        self.ret_value: object = None
        self.waiting = False   # its CPU waits for a RET


class WallSim:
    """The wall clock's sequencer for kernel paths in the actor: everything happens now, in
    arrival order; `at` callbacks run as soon as the current message is done."""

    def __init__(self, send, locks: list[WallLock], board: CounterBoard, freq_hz: int) -> None:
        self.send = send
        self.locks = locks
        self.board = board
        self.cycles_per_ns = freq_hz / 1e9
        self.later: deque = deque()
        self.pending: dict[bytes, deque] = {}   # per CPU: initiators of INTRs not ACKed
        self.gone: set[bytes] = set()
        self.events = 0

    def _word(self, th, field: int) -> None:
        if th.task is not None:
            self.board.words[self.board.task_index(th.task, field)] += 1

    def at(self, t: int, cpu: int, fn) -> None:
        self.later.append((fn, t))

    def run_later(self) -> None:
        while self.later:
            fn, t = self.later.popleft()
            fn(t)

    def resume(self, th, t: int) -> None:
        fn = th.on_resume
        if fn is not None:
            th.on_resume = None
            fn(t)
        elif th.waiting:  # the kernel call it waits on is over
            th.waiting = False
            self.send([th.ident, pack(RET, th.ret_value)])

    def ret(self, th, value: object) -> None:
        th.ret_value = value

    def count_shootdown(self, th) -> None:
        self._word(th, T_SHOOTDOWNS)

    # locks, for kernel paths and for LOCK/UNLOCK operations alike
    def lock(self, th, t: int, lock_id: int, caller: int) -> int | None:
        lock, now = self.locks[lock_id], time.perf_counter_ns()
        lock.stats[EVENTS] += 1
        if lock.owner is None:
            self._grant(lock, th, now, now, queued=False)
            return t
        lock.stats[CONT] += 1
        lock.waiters.append((th, now))
        return None

    def unlock(self, th, t: int, lock_id: int, caller: int) -> int:
        lock, now = self.locks[lock_id], time.perf_counter_ns()
        if lock.owner is not th:
            raise ProtocolError(f"UNLOCK of lock {lock_id} it does not own")
        lock.stats[EVENTS] += 1
        hold = int((now - lock.acquired_at) * self.cycles_per_ns)
        lock.stats[HOLD] += hold
        note_extremes(lock.stats, L_HOLD_MIN, hold)
        lock.owner = None
        if lock.waiters:
            waiter, since = lock.waiters.popleft()
            self._grant(lock, waiter, since, now, queued=True)
        return t

    def _grant(self, lock: WallLock, th, since: int, now: int, queued: bool) -> None:
        lock.owner = th
        lock.acquired_at = now
        lock.stats[ACQ] += 1
        wait = int((now - since) * self.cycles_per_ns)
        lock.stats[SPIN] += wait
        if queued:  # it waited for it: it goes on
            note_extremes(lock.stats, L_WAIT_MIN, wait)
            self.later.append((lambda t, th=th: self.resume(th, t), 0))

    def off_cpu(self, th, t: int, cycles: int) -> int:
        return t  # the CPU sleeps on the host itself (WallTd._op)

    def count(self, th, t: int) -> None:
        pass      # the CPU counts on the board itself (WallTd.count)

    # interrupts
    def ipi(self, th, t: int, targets, vector: int, a1: int, a2: int) -> int | None:
        for target in targets:
            ident = str(target).encode()
            th.awaiting_acks += 1
            self._word(th, T_IPI_SENT)
            self.events += 1
            if ident in self.gone:
                self._acked(th, ident, received=True)
            else:
                self.pending.setdefault(ident, deque()).append(th)
                self.send([ident, pack(INTR, 0, vector, th.cpu, a1, a2)])
        return t if th.awaiting_acks == 0 else None

    def ack(self, ident: bytes) -> None:
        q = self.pending.get(ident)
        if not q:
            raise ProtocolError(f"ACK from CPU {ident!r}, which has no interrupt pending")
        self.events += 1
        self._acked(q.popleft(), ident)

    def _acked(self, th, ident: bytes, received: bool = False) -> None:
        if received:  # its process has left: the handler's run stands in for its answer
            task = self.task_of.get(ident)
            if task is not None:
                self.board.words[self.board.task_index(task, T_IPI_RECEIVED)] += 1
        self._word(th, T_IPI_ACKED)
        th.awaiting_acks -= 1
        if th.awaiting_acks == 0:
            self.later.append((lambda t, th=th: self.resume(th, t), 0))

    def leave(self, ident: bytes) -> None:
        self.gone.add(ident)
        for th in self.pending.pop(ident, ()):
            self._acked(th, ident, received=True)


def actor_loop(router: zmq.Socket, cpus: list[int], freq_hz: int, board: CounterBoard,
               alive: callable, ks: KernelState) -> None:
    """Apply each CPU's OP messages in arrival order until every CPU said BYE; the
    operations update the shared state in `ks`, their virtual-time result means nothing
    here."""
    locks = [WallLock() for _ in ks.locks]
    send = router.send_multipart
    sim = WallSim(send, locks, board, freq_hz)
    sim.task_of = {str(cpu).encode(): task for task, cpu in enumerate(cpus)}
    ks.sim = sim
    active = len(cpus)
    callers: dict[bytes, _Caller] = {}
    served = 0

    def caller_of(ident: bytes) -> _Caller:
        th = callers.get(ident)
        if th is None:
            try:
                cpu = int(ident)
            except ValueError:
                raise ProtocolError(f"peer identity {ident!r} is not a CPU id") from None
            th = callers[ident] = _Caller(cpu, sim.task_of.get(ident), ident)
        return th

    def publish() -> None:
        words = board.words
        for i, lock in enumerate(locks):
            base = board.lock_index(i)
            for f, v in enumerate(lock.stats):
                words[base + f] = v
        words[H_EVENTS] = ks.events + sim.events + sum(lock.stats[EVENTS] for lock in locks)
        words[H_HEARTBEAT] = served

    while active:
        if not router.poll(500):
            if not alive():
                return
            continue
        ident, data = router.recv_multipart()
        served += 1
        try:
            msg = unpack(data)
            kind = msg[1]
            if kind == OP:
                op, arg, args, wait = msg[2], msg[3], msg[4], msg[5]
                run = RUN.get(op) if isinstance(op, int) else None
                if run is None or not isinstance(arg, int) or not isinstance(args, list):
                    raise ProtocolError(f"malformed operation {op!r}")
                if op == OP_CALL and not 0 <= arg < len(HANDLERS):
                    raise ProtocolError(f"no kernel call {arg!r}")
                if op in (OP_LOCK, OP_UNLOCK) and not 0 <= arg & LOCK_MASK < len(locks):
                    raise ProtocolError(f"no lock {arg & LOCK_MASK!r}")
                th = caller_of(ident)
                th.args, th.ret_value, th.waiting = list(args), None, bool(wait)
                if run(sim, ks, th, 0, arg) is not None and th.waiting:
                    th.waiting = False
                    send([ident, pack(RET, th.ret_value)])
            elif kind == ACK:
                sim.ack(ident)
            elif kind == BYE:
                sim.leave(ident)
                active -= 1
            elif kind == HELLO:
                check_registry(msg[3])
            else:
                raise ProtocolError(f"unexpected message kind {kind} from a CPU")
            sim.run_later()
        except ProtocolError as exc:
            send([ident, pack(ERROR, str(exc))])
        if served % 512 == 0:
            publish()
    publish()


def make_td(spec, task: int, sock: zmq.Socket, board: CounterBoard) -> WallTd:
    return WallTd(spec.cpus[task], task, spec.machine, spec.kernel, spec.seed,
                  sock=sock, board=board)


def serve(router: zmq.Socket, spec, board: CounterBoard, alive: callable) -> None:
    actor_loop(router, spec.cpus, spec.machine.freq_hz, board, alive,
               KernelState(spec, sim=None))
