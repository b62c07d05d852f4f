"""The virtual clock in one host process: the same CPU side (VirtualTd), engine and kernel
model as `emu run`, with each emulated CPU a Python thread and in-memory queues for sockets.

`emu check` runs hundreds of short machines; forking processes and connecting sockets for
each would cost more than the runs.  Nothing else differs: the engine orders everything in
virtual time, so the result does not depend on how the host schedules the threads.  Each
CPU thread gets its own copy of its process's structures, as a forked CPU process would.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from collections.abc import Callable

import zmq

from emu.clock.engine import Engine
from emu.clock.virtual import VirtualTd, _serve, engine_args, start_kthreads
from emu.counters import H_STATE, STATE_RUNNING, CounterBoard
from emu.cpu.libc import Ctx
from emu.cpu.td import RunEnded
from emu.kernel.kcalls import registry_digest
from emu.kernel.state import KernelState
from emu.protocol import BATCH, BYE, HELLO, pack, unpack


class _Queue:
    def __init__(self) -> None:
        self.items: deque = deque()
        self.cond = threading.Condition()

    def put(self, item) -> None:
        with self.cond:
            self.items.append(item)
            self.cond.notify()

    def get(self, block: bool):
        with self.cond:
            if not block and not self.items:
                raise zmq.Again()
            while not self.items:
                self.cond.wait()
            return self.items.popleft()

    def poll(self, timeout_ms: float | None) -> bool:
        with self.cond:
            if not self.items and timeout_ms:
                self.cond.wait(timeout_ms / 1000)
            return bool(self.items)


class Dealer:
    """A CPU's end: send/recv/poll as VirtualTd uses a DEALER socket."""

    def __init__(self, ident: bytes, router: Router) -> None:
        self.ident = ident
        self.router = router
        self.inbox = _Queue()

    def send(self, data: bytes) -> None:
        self.router.inbox.put((self.ident, data))

    def recv(self, flags: int = 0) -> bytes:
        return self.inbox.get(not flags & zmq.NOBLOCK)

    def poll(self, timeout: float | None = None) -> bool:
        return self.inbox.poll(timeout)


class Router:
    """The actor's end: send_multipart/recv_multipart/poll as a ROUTER socket."""

    def __init__(self) -> None:
        self.inbox = _Queue()
        self.dealers: dict[bytes, Dealer] = {}

    def dealer(self, cpu: int) -> Dealer:
        d = self.dealers[str(cpu).encode()] = Dealer(str(cpu).encode(), self)
        return d

    def send_multipart(self, parts: list[bytes]) -> None:
        self.dealers[parts[0]].inbox.put(parts[1])

    def recv_multipart(self, flags: int = 0) -> list[bytes]:
        return list(self.inbox.get(not flags & zmq.NOBLOCK))

    def poll(self, timeout: float | None = None) -> bool:
        return self.inbox.poll(timeout)


class InprocFailed(Exception):
    """A CPU thread died (one line: which and why)."""


def run_inproc(spec, setup: Callable[[KernelState], None] | None = None,
               timeout_s: float = 300.0, router: Router | None = None) -> KernelState:
    """Run a prepared RunSpec (virtual clock) to its end in this process; returns the
    actor's kernel state.  `setup(ks)` runs in the actor before any CPU starts; `router`,
    the actor's end of the queues (one that keeps what it receives: emu/clock/replay.py)."""
    board = CounterBoard(spec.tasks, len(spec.kernel.locks))
    board.set(H_STATE, STATE_RUNNING)
    if spec.kernel.needs_epoch:
        from emu.epoch import Epoch

        spec.kernel.epoch = Epoch.alloc(bytearray(Epoch.size(spec.tasks)), spec.tasks)
    router = router or Router()
    engine = Engine(**engine_args(spec, board))
    ks = KernelState(spec, engine)
    engine.attach(ks)
    if setup is not None:
        setup(ks)
    start_kthreads(ks, spec)
    errors: list[str] = []
    dealers = [router.dealer(cpu) for cpu in spec.cpus]

    def cpu_thread(task: int) -> None:
        cpu = spec.cpus[task]
        try:
            td = VirtualTd(cpu, task, spec.machine, spec.kernel, spec.seed, sock=dealers[task],
                           board=board)
            dealers[task].send(pack(HELLO, cpu, registry_digest()))
            proc = copy.deepcopy(spec.kernel.procs[task])   # as fork gives each CPU
            try:
                spec.testcase.module.testcase(Ctx(td, proc, task, spec.cpus))
            except RunEnded:
                pass
            td.finish()
        except Exception as exc:  # one line, like a dead CPU process
            errors.append(f"CPU {cpu}: {exc.__class__.__name__}: {exc}")
            dealers[task].send(pack(BYE))

    threads = [threading.Thread(target=cpu_thread, args=(t,), daemon=True, name=f"cpu{c}")
               for t, c in enumerate(spec.cpus)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + timeout_s

    def alive() -> bool:
        return not errors and time.monotonic() < deadline

    try:
        _serve(router, engine, alive, lambda: None)
        # The machine has passed its end; answer what the CPUs still send until they left.
        while any(th.is_alive() for th in threads) and time.monotonic() < deadline:
            if not router.poll(50):
                continue
            ident, data = router.recv_multipart()
            msg = unpack(data)
            if msg[1] == BATCH:
                engine.submit(int(ident), msg[2], msg[3], msg[4])
            elif msg[1] == BYE:
                pass
    finally:
        for th in threads:
            th.join(1.0)
        board.close()
    if errors:
        raise InprocFailed(errors[0])
    if any(th.is_alive() for th in threads) or not engine.finished:
        raise InprocFailed(f"the machine did not finish within {timeout_s:g} host seconds")
    return ks
