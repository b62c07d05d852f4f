"""Benchmark of the kernel-state actor alone: host microseconds per shared event.

    python bench/bench_engine.py [TESTCASE] [--tasks 96] [--samples 2] [--repeat 3] [--python]

The actor sequences every shared event of an emulated machine, so on a host with a core to
spare for each side it is what bounds a run (docs/scaling.md).  `bench_runtime.py` measures
the whole machine, whose figure on a small shared host moves with the host's load; this one
takes the actor by itself, as ConcurrencyKit benchmarks one primitive:

1. record: the testcase runs once in this process (emu/clock/replay.py, over inproc.py: the
   same CPU side, engine and kernel model as `emu run`, CPUs as threads), and every message
   the CPUs send the actor is kept in the order it arrived;
2. replay: a fresh engine and kernel state take those messages in that order, each followed
   by `engine.run()` as the actor's loop does, with no sockets.  The engine orders by
   virtual time, so the replay runs the same events and ends with the same totals, which
   are checked against the recorded run's.

It prints the replay's process CPU seconds (the least of --repeat: load only ever adds) and
shared events per CPU second; with --python, the same replayed by the model's Python source
(EMU_PURE=1) in a child process, to show what compiling buys.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time

# Kernel-call ids follow import order (emu/kernel/kcalls.py): the recorder and the replaying
# child import the same modules first, as `emu run` does, and the child checks the digest.
import emu.clock.replay  # noqa: E402
import emu.machine.supervisor  # noqa: F401,E402
import emu.run  # noqa: F401,E402
from emu.compiled import PURE_ENV, compiled_in_use  # noqa: E402
from emu.kernel.kcalls import registry_digest  # noqa: E402


def make_spec(testcase: str, tasks: int, samples: int):
    """The RunSpec of `emu run TESTCASE -t TASKS -s SAMPLES --warmup 1`, prepared."""
    from emu.run import build_spec

    spec = build_spec(testcase, tasks, samples, smt=False, unbound=False,
                      machine="skylake-2s", clock="virtual", seed=0, period=None, warmup=1)
    spec.prepare()
    return spec


def record(testcase: str, tasks: int, samples: int) -> tuple[list, list[int]]:
    """Run the testcase in process; (the CPUs' messages in arrival order, the per-task
    iteration counts at the end)."""
    log, iterations, _ = emu.clock.replay.record(make_spec(testcase, tasks, samples))
    return log, iterations


def replay(spec, log: list) -> tuple[float, int, list[int]]:
    """(CPU seconds, shared events, per-task iterations) of one replay of `log`."""
    engine, board = emu.clock.replay.fresh_engine(spec)
    try:
        t0 = time.process_time()
        emu.clock.replay.replay(engine, log)
        cpu_s = time.process_time() - t0
        return cpu_s, engine.events, [th.iterations for th in engine.threads.values()]
    finally:
        board.close()


def measure(path: str, repeat: int) -> dict:
    with open(path, "rb") as f:
        (testcase, tasks, samples), digest, log, iterations = pickle.load(f)
    make_spec(testcase, tasks, samples)  # the testcase's own kernel calls, imported
    if digest != registry_digest():
        raise SystemExit("the replaying process's kernel-call registry differs")
    best = None
    for _ in range(repeat):
        cpu_s, events, got = replay(make_spec(testcase, tasks, samples), log)
        if got != iterations:
            raise SystemExit("the replay's totals differ from the recorded run's")
        best = cpu_s if best is None else min(best, cpu_s)
    return {"cpu_s": best, "events": events, "messages": len(log),
            "compiled": compiled_in_use()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("testcase", nargs="?", default="mmap1_processes")
    ap.add_argument("--tasks", type=int, default=96)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--python", action="store_true",
                    help="also replay with the Python source of the compiled modules")
    ap.add_argument("--measure", metavar="PICKLE", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:  # a child replaying what its parent recorded
        print(json.dumps(measure(args.measure, args.repeat)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "log.pickle")
        t0 = time.perf_counter()
        try:
            log, iterations = record(args.testcase, args.tasks, args.samples)
        except emu.run.UsageError as exc:
            raise SystemExit(f"bench_engine: {exc}") from None
        recorded_s = time.perf_counter() - t0
        with open(path, "wb") as f:
            pickle.dump(((args.testcase, args.tasks, args.samples), registry_digest(), log,
                         iterations), f)
        rows = []
        for pure in ([False, True] if args.python else [False]):
            env = dict(os.environ)
            env.pop(PURE_ENV, None)
            if pure:
                env[PURE_ENV] = "1"
            out = subprocess.run([sys.executable, __file__, "--measure", path, "--repeat",
                                  str(args.repeat)], env=env, capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit((out.stderr.strip().splitlines() or ["the replay failed"])[-1])
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"host: {os.cpu_count()} cores; the actor of emu run {args.testcase} -t {args.tasks} "
          f"-s {args.samples} --warmup 1, replayed ({rows[0]['messages']} messages, "
          f"recorded in {recorded_s:.0f} s); least of {args.repeat}")
    print(f"{'model':>8} {'CPU s':>7} {'events':>9} {'us/event':>9} {'events/CPU s':>13}")
    for r in rows:
        model = "compiled" if r["compiled"] else "python"
        print(f"{model:>8} {r['cpu_s']:7.2f} {r['events']:9d} "
              f"{r['cpu_s'] * 1e6 / r['events']:9.2f} {r['events'] / r['cpu_s']:13.0f}")


if __name__ == "__main__":
    main()
