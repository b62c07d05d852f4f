"""A run's messages, kept and played again: the kernel actor's engine by itself.

`record(spec)` runs a prepared RunSpec in this process (emu/clock/inproc.py: the same CPU
side, engine and kernel model as `emu run`) and keeps every message the CPUs send the
actor, in the order it arrives.  `replay(engine, log, group)` plays them into a fresh
engine (`fresh_engine`) with no sockets, running it after every `group` messages, and
before each ACK or BYE, which answer what the engine has sent.  The engine orders by
virtual time, never by arrival, so any grouping ends with the recorded counts
(tests/unit/test_engine_replay.py); bench/bench_engine.py times the replay.
"""

from __future__ import annotations

from emu.clock.engine import DONE, Engine
from emu.clock.inproc import Router, run_inproc
from emu.clock.virtual import engine_args, start_kthreads
from emu.counters import CounterBoard
from emu.kernel.state import KernelState
from emu.protocol import ACK, BATCH, BYE, unpack

Log = list[tuple[int, list]]   # (cpu, decoded message), in arrival order


def record(spec, timeout_s: float = 3600.0) -> tuple[Log, list[int], int]:
    """(the messages, each task's iterations, the shared events) of a run of `spec`."""
    log: Log = []

    class Recording(Router):
        def recv_multipart(self, flags: int = 0) -> list[bytes]:
            parts = super().recv_multipart(flags)
            log.append((int(parts[0]), unpack(parts[1])))
            return parts

    ks = run_inproc(spec, timeout_s=timeout_s, router=Recording())
    return log, [th.iterations for th in ks.sim.threads.values()], ks.sim.events


def fresh_engine(spec) -> tuple[Engine, CounterBoard]:
    """An engine over a new kernel state of `spec`, as the actor starts one (the caller
    closes the board)."""
    board = CounterBoard(spec.tasks, len(spec.kernel.locks))
    engine = Engine(**engine_args(spec, board))
    engine.attach(KernelState(spec, engine))
    engine.interrupt = lambda *a: None   # the recorded ACKs stand for the CPUs' answers
    start_kthreads(engine.ks, spec)
    return engine, board


def replay(engine: Engine, log: Log, group: int = 1) -> None:
    """Play `log` into `engine`, running it after every `group` messages and at the end."""
    for i, (cpu, msg) in enumerate(log):
        kind = msg[1]
        if kind == BATCH:
            engine.submit(cpu, msg[2], msg[3], msg[4])
        elif kind == ACK:
            engine.run()
            engine.ack(cpu, msg[2], msg[3])
        elif kind == BYE:
            engine.run()
            if engine.threads[cpu].state != DONE:   # a BYE after the end: nothing to do
                engine.leave(cpu)
        if i % group == group - 1:
            engine.run()
    engine.run()
