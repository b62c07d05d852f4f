"""The `wall` clock: CPUs run free on the host and time is the host's.  NOT reproducible.

Local work is a busy wait of the emulated duration; a lock is a real LOCK/GRANT round trip
to the actor, which serves requests in arrival order and hands a released lock to the
longest waiter.  Useful for watching real contention on a big host; the numbers depend on
the host's cores and load (DESIGN.md "Time").
"""

from __future__ import annotations

import time
from collections import deque

import zmq

from emu.counters import (
    H_EVENTS,
    H_HEARTBEAT,
    H_STATE,
    LOCK_WORDS,
    STATE_RUNNING,
    T_ITERATIONS,
    T_VTIME,
    CounterBoard,
)
from emu.cpu.interrupts import handle_interrupt
from emu.cpu.td import RunEnded, Td
from emu.kernel.kcalls import HANDLERS, unpack_lock
from emu.kernel.mtx import ACQ, CONT, EVENTS, HOLD, SPIN
from emu.protocol import (
    ACK,
    ATOMIC,
    BYE,
    CALL,
    ERROR,
    GRANT,
    HELLO,
    INTR,
    LOCK,
    OP_ATOMIC,
    OP_CALL,
    OP_COUNT,
    OP_LOCK,
    OP_NAMES,
    OP_OFFCPU,
    OP_READ,
    OP_UNLOCK,
    OP_WRITE,
    UNLOCK,
    ProtocolError,
    pack,
    unpack,
)


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

    def cycles(self, n: int) -> None:
        now = time.perf_counter_ns()
        self.deadline = max(self.deadline, now) + int(self.local(n) * self.ns_per_cycle)
        while time.perf_counter_ns() < self.deadline:
            pass

    def _op(self, op: int, arg: int) -> None:
        """Each shared operation happens now, for real: a lock is a LOCK/GRANT round trip,
        an unlock, atomic or kernel call a message the actor applies in arrival order.
        Plain reads and writes of shared lines cost what the host's caches make them."""
        if op == OP_LOCK:
            self.sock.send(pack(LOCK, arg))
            while True:
                msg = unpack(self.sock.recv())
                if msg[1] == GRANT and msg[2] == arg:
                    return
                self._other(msg)
        elif op == OP_UNLOCK:
            self.sock.send(pack(UNLOCK, arg))
        elif op == OP_ATOMIC:
            self.sock.send(pack(ATOMIC, arg))
        elif op == OP_CALL:
            self.sock.send(pack(CALL, arg))
        elif op == OP_OFFCPU:
            time.sleep(arg / self.machine.freq_hz)
        elif op == OP_COUNT:
            self.count()
        elif op not in (OP_READ, OP_WRITE):
            raise NotImplementedError(f"{OP_NAMES[op]} under the wall clock is not modelled yet")

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
            handler = handle_interrupt(self, self.board, msg[3], msg[4])
            self.cycles(handler)
            self.sock.send(pack(ACK, msg[2], handler))
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
        self.owner = b""
        self.waiters: deque[tuple[bytes, int, int]] = deque()
        self.acquired_at = 0
        self.stats = [0] * LOCK_WORDS


class _Caller:
    """The thread a kernel call runs for, as the kernel model sees it."""

    def __init__(self, cpu: int) -> None:
        self.cpu = cpu
        self.offcpu = False
        self.holding: list = []


def actor_loop(router: zmq.Socket, ncpus: int, nlocks: int, freq_hz: int,
               board: CounterBoard, alive: callable, ks=None) -> None:
    """Serve LOCK/UNLOCK/ATOMIC/CALL in arrival order until every CPU said BYE.  Kernel
    calls update the shared state in `ks`; their virtual-time result means nothing here."""
    locks = [WallLock() for _ in range(nlocks)]
    cycles_per_ns = freq_hz / 1e9
    clock = time.perf_counter_ns
    send = router.send_multipart
    active = ncpus
    events = 0
    callers: dict[bytes, _Caller] = {}
    served = 0

    def publish() -> None:
        words = board.words
        for i, lock in enumerate(locks):
            base = board.lock_index(i)
            for f, v in enumerate(lock.stats):
                words[base + f] = v
        words[H_EVENTS] = events + sum(lock.stats[EVENTS] for lock in locks)
        words[H_HEARTBEAT] = served

    def grant(lock: WallLock, ident: bytes, arg: int, now: int) -> None:
        lock.owner = ident
        lock.acquired_at = now
        lock.stats[ACQ] += 1
        send([ident, pack(GRANT, arg)])  # echoes the LOCK's argument

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
            if kind in (LOCK, UNLOCK):
                lock_id = unpack_lock(msg[2])[0] if isinstance(msg[2], int) else msg[2]
                if not (isinstance(lock_id, int) and 0 <= lock_id < nlocks):
                    raise ProtocolError(f"no lock {lock_id!r}")
                lock = locks[lock_id]
                now = clock()
                lock.stats[EVENTS] += 1
                if kind == LOCK:
                    if not lock.owner:
                        grant(lock, ident, msg[2], now)
                    else:
                        lock.stats[CONT] += 1
                        lock.waiters.append((ident, now, msg[2]))
                else:
                    if lock.owner != ident:
                        raise ProtocolError(f"UNLOCK of lock {lock_id} it does not own")
                    lock.stats[HOLD] += int((now - lock.acquired_at) * cycles_per_ns)
                    lock.owner = b""
                    if lock.waiters:
                        waiter, since, arg = lock.waiters.popleft()
                        lock.stats[SPIN] += int((now - since) * cycles_per_ns)
                        grant(lock, waiter, arg, now)
            elif kind == ATOMIC:
                events += 1
            elif kind == CALL:
                if not (isinstance(msg[2], int) and 0 <= msg[2] < len(HANDLERS)) or ks is None:
                    raise ProtocolError(f"no kernel call {msg[2]!r}")
                HANDLERS[msg[2]](ks, callers.setdefault(ident, _Caller(int(ident))), 0)
            elif kind == ACK:
                events += 1
            elif kind == BYE:
                active -= 1
            elif kind != HELLO:
                raise ProtocolError(f"unexpected message kind {kind} from a CPU")
        except ProtocolError as exc:
            send([ident, pack(ERROR, str(exc))])
        if served % 512 == 0:
            publish()
    publish()


def make_td(spec, task: int, sock: zmq.Socket, board: CounterBoard) -> WallTd:
    return WallTd(spec.cpus[task], task, spec.machine, spec.kernel, spec.seed,
                  sock=sock, board=board)


def serve(router: zmq.Socket, spec, board: CounterBoard, alive: callable) -> None:
    from emu.kernel.state import KernelState

    ks = KernelState(spec, sim=None)
    actor_loop(router, spec.tasks, len(spec.kernel.locks), spec.machine.freq_hz, board, alive,
               ks)
