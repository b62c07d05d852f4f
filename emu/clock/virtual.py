"""The `virtual` clock: exact, reproducible virtual time (docs/design.md "Time").

CPU side (`VirtualTd`): the kernel paths record their shared operations with the local
cycles before each, and ship them in BATCHes without waiting for the outcome (their outcome
cannot change the CPU's control flow).  At most `window` batches are in flight, so a CPU
runs at most that far ahead of the actor.

Actor side (`actor_loop`): feeds batches to the engine (emu/clock/engine.py), which sequences
all CPUs in (vtime, cpu, seq) order, and sends back DONE replies and interrupts.

Interrupts and the TLB.  An INTR may reach this process while it runs ahead of, or behind,
the interrupt's virtual delivery time; it is acknowledged at once (its handler's cost depends
only on the INTR) but its effect on the TLB is posted, not applied.  A CPU that can be shot
down syncs before every TLB-visible access (`query`/`sync`: it waits until the actor has run
everything it recorded, and learns its exact virtual time T).  Every IPI sent before T has
arrived by then (the engine sends the INTR when it runs the sending operation, which comes
before our op at T in (vtime, cpu, seq) order, and the socket keeps order), and any IPI
not yet sent is delivered after T (at send time + ipi_latency): so applying exactly the
posted invalidations due at or before T gives the TLB as it is at T.
"""

from __future__ import annotations

import time

import zmq

from emu.clock.engine import Engine
from emu.counters import CounterBoard
from emu.cpu.interrupts import handle_interrupt
from emu.cpu.td import RunEnded, Td
from emu.hw import smt
from emu.kernel.kcalls import check_registry
from emu.kernel.ops import OP_NOP
from emu.kernel.state import KernelState
from emu.protocol import (
    ACK,
    BATCH,
    BYE,
    DONE,
    ERROR,
    HELLO,
    INTR,
    RET,
    ProtocolError,
    pack,
    unpack,
)

# Operations per BATCH.  Each costs a message each way and wakes a CPU process whose caches
# its neighbours have cooled, so fewer is faster; the actor holds two per CPU, and 2048 took
# a CPU process past 3 MiB (measured: docs/scaling.md, "How the host schedules the two sides").
BATCH_OPS = 1024
WINDOW = 2       # batches in flight per CPU


class VirtualTd(Td):
    def __init__(self, *args, sock: zmq.Socket, board: CounterBoard,
                 batch_ops: int = BATCH_OPS, window: int = WINDOW, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sock = sock
        self.board = board
        self.ops: list[int] = []
        self.pre = 0               # local cycles since the last recorded operation
        self.seq = 0
        self.outstanding = 0
        self.limit = 3 * batch_ops
        self.window = window
        self.vtime = 0             # virtual time at the end of the last finished batch
        self.ended = False
        self.ret: object = None    # the last RET: a kernel call's value

    def smt_speed(self, machine, cpus) -> float:
        return 1.0  # the engine stretches local work while a sibling works (emu/hw/smt.py)

    # ---- kernel-facing operations

    def cycles(self, n: int) -> None:
        self.pre += self.local(n)

    def _op(self, op: int, arg: int) -> None:
        if len(self.ops) >= self.limit:
            # The next batch starts with this op, so its `pre` is exact lookahead.
            self._send(self.pre)
        self.ops.extend((op, self.pre, arg))
        self.pre = 0

    def sync(self, deliver: bool = True) -> int:
        """Wait until the actor has run everything recorded; returns the virtual time, and
        applies the TLB invalidations delivered by then (see the module's docstring)."""
        self._op(OP_NOP, 0)
        self._send(0)
        while self.outstanding:
            self._receive(block=True)
        if deliver:
            self.tlb.deliver(self.vtime)
        return self.vtime

    def query(self, kcall: int, *args: int) -> object:
        """A kernel call whose value this CPU needs now: run it, sync, return its value.
        The caller applies the TLB invalidations (it knows in what order)."""
        self.call(kcall, *args)
        self.ret = None
        self.sync(deliver=False)
        if self.ended:
            raise RunEnded
        return self.ret

    # ---- messages

    def _ship(self, lookahead: int) -> None:
        """Send the recorded ops as BATCH `self.seq`."""
        self.sock.send(pack(BATCH, self.seq, lookahead, self.ops))
        self.seq += 1
        self.outstanding += 1
        self.ops = []

    def _batch_done(self, seq: int, stopped: bool) -> None:
        """The actor ran BATCH `seq` (all of it unless `stopped`); a hook for profiling."""

    def _send(self, lookahead: int) -> None:
        self._ship(lookahead)
        while self.outstanding >= self.window:
            self._receive(block=True)
        while self.sock.poll(0):  # answer interrupts promptly, without waiting
            self._receive(block=False)
        if self.ended:
            raise RunEnded

    def _receive(self, block: bool) -> None:
        msg = unpack(self.sock.recv(0 if block else zmq.NOBLOCK))
        kind = msg[1]
        if kind == DONE:
            self.outstanding -= 1
            self.vtime = msg[3]
            self._batch_done(msg[2], bool(msg[4]))
            if msg[4]:
                self.ended = True
        elif kind == INTR:
            vtime, vector, initiator, a1, a2 = msg[2:7]
            handler = handle_interrupt(self, self.board, vtime, vector, initiator, a1, a2)
            self.sock.send(pack(ACK, vtime + handler, handler))
        elif kind == RET:
            self.ret = msg[2]
        elif kind == ERROR:
            raise ProtocolError(f"the actor rejected CPU {self.cpu}'s message: {msg[2]}")
        else:
            raise ProtocolError(f"CPU {self.cpu} got an unexpected message kind {kind}")

    def finish(self) -> None:
        """Leave the run: take every reply still owed (answering interrupts), then BYE."""
        if not self.ended:
            if self.ops or self.pre:
                self._op(OP_NOP, 0)
            if self.ops:
                self._ship(0)
        while self.outstanding:
            self._receive(block=True)
        self.sock.send(pack(BYE))


def actor_loop(router: zmq.Socket, engine: Engine, board: CounterBoard,
               alive: callable, publish: callable) -> None:
    """Serve the CPUs until every one has passed the end of the run (or left)."""
    try:
        _serve(router, engine, alive, publish)
    finally:
        publish()


def _serve(router: zmq.Socket, engine: Engine, alive: callable, publish: callable) -> None:

    def cpu_of(ident: bytes) -> int:
        try:
            return int(ident)
        except ValueError:
            raise ProtocolError(f"peer identity {ident!r} is not a CPU id") from None

    idents = {cpu: str(cpu).encode() for cpu in engine.threads}
    send = router.send_multipart

    def reply(cpu: int, seq: int, vtime: int, stopped: bool) -> None:
        send([idents[cpu], pack(DONE, seq, vtime, stopped)])

    def interrupt(cpu: int, vtime: int, vector: int, initiator: int, a1: int, a2: int) -> None:
        send([idents[cpu], pack(INTR, vtime, vector, initiator, a1, a2)])

    def ret_value(cpu: int, value: object) -> None:
        send([idents[cpu], pack(RET, value)])

    engine.reply = reply
    engine.interrupt = interrupt
    engine.ret_value = ret_value
    recv = router.recv_multipart
    next_publish = 0.0
    while not engine.finished:
        engine.run()
        if engine.finished:
            break
        now = time.monotonic()
        if now >= next_publish:  # live statistics, a few times a second
            publish()
            next_publish = now + 0.2
        if not router.poll(500):
            if not alive():
                return
            continue
        while True:
            try:
                ident, data = recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            try:
                msg = unpack(data)
                kind = msg[1]
                if kind == BATCH:
                    engine.submit(cpu_of(ident), msg[2], msg[3], msg[4])
                elif kind == ACK:
                    engine.ack(cpu_of(ident), msg[2], msg[3])
                elif kind == BYE:
                    engine.leave(cpu_of(ident))
                elif kind == HELLO:
                    check_registry(msg[3])
                else:
                    raise ProtocolError(f"unexpected message kind {kind} from a CPU")
            except ProtocolError as exc:
                send([ident, pack(ERROR, str(exc))])


def engine_args(spec, board: CounterBoard) -> dict:
    """The engine's parameters for a run (the interrupt costs come from the preset)."""
    from emu.cpu.interrupts import handler_cycles
    from emu.hw.machine import cost_table

    cost = cost_table(spec.machine)
    return dict(cpus=spec.cpus, board=board, period=spec.period_cycles,
                boundaries=spec.boundaries, ipi_latency=cost.ipi_latency,
                ipi_handler=cost.ipi_handler, ipi_send=getattr(cost, "ipi_send", 0),
                handler_cost=lambda v, a1, a2: handler_cycles(cost, v, a1, a2),
                smt_slowdown=smt.slowdown(spec.machine),
                siblings=smt.siblings(spec.machine, spec.cpus))


def start_kthreads(ks: KernelState, spec) -> None:
    """Kernel threads that live in the actor (the page daemon, when the run has one)."""
    from emu.kernel.vm_pageout import start_pagedaemon

    start_pagedaemon(ks, spec)


def make_td(spec, task: int, sock: zmq.Socket, board: CounterBoard,
            cls: type[VirtualTd] = VirtualTd) -> VirtualTd:
    return cls(spec.cpus[task], task, spec.machine, spec.kernel, spec.seed,
               sock=sock, board=board)


def serve(router: zmq.Socket, spec, board: CounterBoard, alive: callable,
          cls: type[Engine] = Engine) -> None:
    """The actor's side: the engine over the run's kernel state, served until the end."""
    engine = cls(**engine_args(spec, board))
    ks = KernelState(spec, engine)
    engine.attach(ks)
    start_kthreads(ks, spec)

    def publish() -> None:
        words = board.words
        for lock in ks.locks:
            base = board.lock_index(lock.lock_id)
            for f, v in enumerate(lock.stats):
                words[base + f] = v

    try:
        actor_loop(router, engine, board, alive, publish)
    finally:
        ks.write_detail(spec.rundir)
        engine.finish(spec.rundir)
