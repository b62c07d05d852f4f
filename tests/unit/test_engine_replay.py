"""The engine's result depends on what the CPUs sent, never on how the messages were grouped
between its runs: a run's messages, replayed into a fresh engine in bigger groups, give the
same counts (emu/clock/replay.py; what bench/bench_engine.py relies on to time the actor by
itself)."""

from __future__ import annotations

from emu.clock.replay import fresh_engine, record, replay
from emu.run import build_spec


def _spec(testcase: str, tasks: int):
    spec = build_spec(testcase, tasks, 1, smt=False, unbound=False, machine="skylake-2s",
                      clock="virtual", seed=3, period="1ms", warmup=0)
    spec.prepare()
    return spec


def _replay(testcase: str, tasks: int, log: list, group: int) -> tuple[list[int], int]:
    engine, board = fresh_engine(_spec(testcase, tasks))
    try:
        replay(engine, log, group)
        return [th.iterations for th in engine.threads.values()], engine.events
    finally:
        board.close()


def test_a_replay_in_bigger_groups_gives_the_recorded_counts():
    # mmap1: contended mutexes; tlb_flush2_threads: IPIs and their ACKs, a shared space
    for testcase in ("mmap1_processes", "tlb_flush2_threads"):
        log, iterations, events = record(_spec(testcase, 4), timeout_s=300.0)
        assert sum(iterations) > 0 and events > 0
        for group in (1, 7, 50):
            assert _replay(testcase, 4, log, group) == (iterations, events), testcase
