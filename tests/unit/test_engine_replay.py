"""The engine's result depends on what the CPUs sent, never on how the messages were grouped
between its runs: a run's messages, replayed into a fresh engine in bigger groups, give the
same counts (what bench/bench_engine.py relies on to time the actor by itself)."""

from __future__ import annotations

from emu.clock import inproc
from emu.clock.engine import DONE, Engine
from emu.clock.virtual import engine_args, start_kthreads
from emu.counters import CounterBoard
from emu.kernel.state import KernelState
from emu.protocol import ACK, BATCH, BYE, unpack
from emu.run import build_spec


def _spec(testcase: str, tasks: int):
    spec = build_spec(testcase, tasks, 1, smt=False, unbound=False, machine="skylake-2s",
                      clock="virtual", seed=3, period="1ms", warmup=0)
    spec.prepare()
    return spec


def _record(testcase: str, tasks: int) -> tuple[list, list[int], int]:
    log: list = []

    class Recording(inproc.Router):
        def recv_multipart(self, flags: int = 0) -> list[bytes]:
            parts = super().recv_multipart(flags)
            log.append((int(parts[0]), unpack(parts[1])))
            return parts

    plain, inproc.Router = inproc.Router, Recording
    try:
        ks = inproc.run_inproc(_spec(testcase, tasks), timeout_s=300.0)
    finally:
        inproc.Router = plain
    return log, [th.iterations for th in ks.sim.threads.values()], ks.sim.events


def _replay(testcase: str, tasks: int, log: list, group: int) -> tuple[list[int], int]:
    spec = _spec(testcase, tasks)
    board = CounterBoard(spec.tasks, len(spec.kernel.locks))
    engine = Engine(**engine_args(spec, board))
    engine.attach(KernelState(spec, engine))
    engine.interrupt = lambda *a: None
    start_kthreads(engine.ks, spec)
    try:
        for i, (cpu, msg) in enumerate(log):
            if msg[1] == BATCH:
                engine.submit(cpu, msg[2], msg[3], msg[4])
            elif msg[1] == ACK:
                engine.run()               # an ACK answers an INTR the engine has sent
                engine.ack(cpu, msg[2], msg[3])
            elif msg[1] == BYE:
                engine.run()               # a BYE comes once its batches have run
                if engine.threads[cpu].state != DONE:
                    engine.leave(cpu)
            if i % group == group - 1:
                engine.run()
        engine.run()
        return [th.iterations for th in engine.threads.values()], engine.events
    finally:
        board.close()


def test_a_replay_in_bigger_groups_gives_the_recorded_counts():
    # mmap1: contended mutexes; tlb_flush2_threads: IPIs and their ACKs, a shared space
    for testcase in ("mmap1_processes", "tlb_flush2_threads"):
        log, iterations, events = _record(testcase, 4)
        assert sum(iterations) > 0 and events > 0
        for group in (1, 7, 50):
            assert _replay(testcase, 4, log, group) == (iterations, events), testcase
