"""Independent runs side by side on this host's cores: each task in a worker process.

A what-if or a chain is dozens of runs that do not depend on each other; one run keeps
about one host core busy (its actor), so `workers` of them at once (default: the host's
cores) finish that many times sooner.  Each task is a function and its arguments, run in
a worker forked from this process (so a strategy file loaded here, and the kernel calls it
registered, are the same there), whose picklable result comes back over a pipe.  Under
the virtual clock where a run executes changes nothing in its result.

Leaving no trace: a worker dies with this process (PR_SET_PDEATHSIG: SIGTERM, which a
run's supervisor turns into a clean stop), Ctrl-C reaches the workers' runs as it reaches
a lone `emu run` (the terminal signals the whole group), and on any way out of run() every
worker still alive gets SIGTERM, then SIGKILL, and is reaped.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import multiprocessing.connection
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

PR_SET_PDEATHSIG = 1
STOP_GRACE_S = 5.0   # a run's supervisor needs a moment to stop its children


@dataclass(frozen=True)
class Task:
    label: str
    fn: Callable[..., Any]
    args: tuple = ()


@dataclass
class Done:
    index: int          # the task's place in the sequence given to run()
    value: Any          # fn's result; None if it failed
    host_s: float
    error: str = ""     # why there is no value (one line)


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def _worker(task: Task, conn) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    t0 = time.perf_counter()
    code = 0
    try:
        value, error = task.fn(*task.args), ""
    except KeyboardInterrupt:
        value, error, code = None, "interrupted", 130
    except Exception as exc:  # one line back, never a traceback on the terminal
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
        value, error = None, f"{exc.__class__.__name__}: {exc}{where}".splitlines()[0]
    try:
        conn.send((value, time.perf_counter() - t0, error))
        conn.close()
    except (OSError, ValueError):
        pass
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _stop(procs: list) -> None:
    for p in procs:
        if p.exitcode is None:
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + STOP_GRACE_S
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.exitcode is None:
            p.kill()
            p.join(1.0)


def run(tasks: Sequence[Task], workers: int | None = None) -> Iterator[Done]:
    """Run every task, `workers` at a time, yielding each Done as it finishes (not in
    order).  KeyboardInterrupt (or SIGTERM, turned into it) stops every worker."""
    workers = max(1, workers or default_workers())
    ctx = mp.get_context("fork")
    todo = list(enumerate(tasks))
    running: dict[Any, tuple[int, Any, float]] = {}   # conn -> (index, process, start)

    def on_term(signum, frame) -> None:
        raise KeyboardInterrupt

    old_term = signal.signal(signal.SIGTERM, on_term)
    try:
        while todo or running:
            while todo and len(running) < workers:
                index, task = todo.pop(0)
                reader, writer = ctx.Pipe(duplex=False)
                p = ctx.Process(target=_worker, args=(task, writer), name="emu-pool",
                                daemon=False)
                p.start()
                writer.close()
                running[reader] = (index, p, time.perf_counter())
            ready = multiprocessing.connection.wait(list(running))
            for conn in ready:
                index, p, t0 = running.pop(conn)
                try:
                    value, host_s, error = conn.recv()
                except (EOFError, OSError):
                    p.join(1.0)
                    value, host_s = None, time.perf_counter() - t0
                    error = f"its worker died (exit status {p.exitcode})"
                conn.close()
                p.join()
                if error == "interrupted":
                    raise KeyboardInterrupt
                yield Done(index, value, host_s, error)
    finally:
        procs = [p for _, p, _ in running.values()]
        _stop(procs)
        for conn in running:
            conn.close()
        signal.signal(signal.SIGTERM, old_term)
