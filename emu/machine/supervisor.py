"""The supervisor of an emulated machine: topology, placement, spawn, sample, clean up
(what a run is: emu/machine/spec.py).

It forks the kernel actor and one process per busy CPU before any ZeroMQ context or thread
exists (a forked child shares the parent's pages; docs/design.md "Processes and messages"),
reads their counters from the shared counter board without messages, and on every way out
(the end, an error, Ctrl-C or SIGTERM, a dead or hung child) stops every child and removes
the run's private directory.
"""

from __future__ import annotations

import gc
import json
import mmap
import os
import resource
import selectors
import shutil
import signal
import sys
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from emu.counters import (
    H_EVENTS,
    H_HEARTBEAT,
    H_STATE,
    RING,
    STATE_DONE,
    STATE_RUNNING,
    T_IPI_ACKED,
    T_IPI_RECEIVED,
    T_IPI_SENT,
    T_ITERATIONS,
    T_PASSED,
    T_SHOOTDOWNS,
    CounterBoard,
)
from emu.kernel.kcalls import registry_digest
from emu.kernel.state import DETAIL_FILE
from emu.machine import rundir
from emu.machine.children import Child, fork_child, read_failure
from emu.machine.spec import RunFailed, RunResult, RunSpec, Sample

if TYPE_CHECKING:
    from emu.stats import StatsProbe
    from emu.statsock import StatsPublisher

# No progress for this long ends the run; a wall-clock timeout never changes a result.
HANG_TIMEOUT_S = float(os.environ.get("EMU_HANG_TIMEOUT", "60"))
STOP_GRACE_S = 2.0      # SIGTERM, then SIGKILL
# --profile: a CPU at nice 19 on a busy host is slow to write its file, not hung.
PROFILE_GRACE_S = 30.0
# Under the virtual clock the CPU processes run at this niceness above the actor's: one
# woken on the actor's core would otherwise take turns with it there while another core
# idles (measured: docs/scaling.md, "How the host schedules the two sides").  Results are
# virtual time and do not move; the wall clock keeps the host's scheduling, its measurement.
CPU_NICE = 19
TICK_S = 0.25           # live statistics: a snapshot this often (emu/stats.py)


class Watcher(Protocol):
    """Something that follows a run's live snapshots (the live view)."""

    def update(self, snapshot: dict) -> None: ...

    def close(self) -> None: ...


class _Terminated(BaseException):
    """SIGTERM, raised in the supervisor like Ctrl-C's KeyboardInterrupt."""


def _deaf() -> None:
    """Ignore SIGINT and SIGTERM: nothing may cut a run's cleanup short.  GNU timeout(1)
    sends SIGTERM to the command and then to its whole group; a second Ctrl-C comes from
    an impatient user."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _on_signal(signum, frame) -> None:
    """The first SIGINT or SIGTERM ends the run (Ctrl-C's KeyboardInterrupt, _Terminated);
    the ones after it are ignored."""
    _deaf()
    raise KeyboardInterrupt if signum == signal.SIGINT else _Terminated


class Supervisor:
    """Owns one run's children, counter board and private directory."""

    def __init__(self, spec: RunSpec, watchers: Sequence[Watcher] = ()) -> None:
        spec.prepare()
        self.spec = spec
        self.board: CounterBoard | None = None
        self.actor: Child | None = None
        self.cpus: list[Child] = []
        self.result = RunResult(spec)
        self.watchers = list(watchers)
        self.probe: StatsProbe | None = None
        self.stats: StatsPublisher | None = None
        self._next_tick = 0.0
        self._exits: selectors.BaseSelector | None = None  # the children's sentinels
        self._exited = False                                # one of them has fired

    # ------------------------------------------------------------ lifecycle

    def run(self, on_sample: Callable[[Sample], None]) -> RunResult:
        """Run to the end; each sample goes to `on_sample` as soon as it is known.

        Raises RunFailed (with self.result holding what was measured) or KeyboardInterrupt.
        """
        # A SIGINT ignored from the start stays ignored (a shell's background job, nohup).
        old_int = signal.getsignal(signal.SIGINT)
        if old_int is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, _on_signal)
        old_term = signal.signal(signal.SIGTERM, _on_signal)
        t0 = time.perf_counter()
        state = "failed"
        try:
            self._start()
            if self.spec.clock == "wall":
                self._sample_wall(on_sample)
            else:
                self._sample_virtual(on_sample)
            self._finish()
            state = "done"
        except (_Terminated, KeyboardInterrupt):
            state = "interrupted"
            raise KeyboardInterrupt from None
        finally:
            _deaf()  # an interrupted run stays deaf while the process reports and exits
            try:
                self.result.wall_s = time.perf_counter() - t0
                self._collect()
                self._last_tick(state)
                self._stop_all()
            finally:
                if state != "interrupted":
                    signal.signal(signal.SIGINT, old_int)
                    signal.signal(signal.SIGTERM, old_term)
        return self.result

    def _start(self) -> None:
        from emu.clock import clock_module
        from emu.machine.actor import actor_main
        from emu.machine.cpu import cpu_main

        # Imported once here, shared by every forked child.
        clock_module(self.spec.clock, self.spec.profile)
        warm_up(self.spec)

        spec = self.spec
        spec.rundir = rundir.make()  # 0700 under $EMU_RUNDIR; stale ones swept first
        spec.endpoint = f"ipc://{spec.rundir}/actor.sock"
        self.board = CounterBoard(spec.tasks, len(spec.kernel.locks))
        self.board.set(H_STATE, STATE_RUNNING)
        if spec.kernel.needs_epoch:
            self._alloc_epoch()
        open_files_for(spec.tasks)
        # The live statistics' modules and probe are made before the fork: what the
        # supervisor writes after it, the last CPU processes would keep as their own copy.
        from emu.stats import StatsProbe
        from emu.statsock import StatsPublisher  # noqa: F401  (its socket: after the fork)

        self.probe = StatsProbe(spec, self.board, spec.kernel.epoch)
        me, digest = os.getpid(), registry_digest()
        cpu_nice = CPU_NICE if spec.clock == "virtual" else 0
        gc.collect()
        gc.freeze()  # children never touch the parent's objects for GC: pages stay shared
        try:
            with _held():  # no Ctrl-C between a fork and its bookkeeping
                self.actor = fork_child(actor_main, (spec, self.board, me), "emu-actor")
            # The earlier children's sentinels, which each child closes: an array, not a
            # list of ints, since a child reading those would copy the pages they lie on.
            sentinels = array("i", [self.actor.sentinel])
            for task in range(spec.tasks):
                gc.freeze()  # and the Child handles made since
                with _held():
                    child = fork_child(cpu_main, (spec, task, self.board, me, digest),
                                       f"emu-cpu{spec.cpus[task]}", inherited=sentinels,
                                       nice=cpu_nice)
                    self.cpus.append(child)
                    sentinels.append(child.sentinel)
        except OSError as exc:  # fork or pipe refused: a limit of the host's
            started = len(self.cpus) + (self.actor is not None)
            raise RunFailed(f"could not start process {started + 1} of "
                            f"{spec.tasks + 1}: {exc.strerror} (ulimit -u and -n bound "
                            "them)") from None
        finally:
            gc.unfreeze()
        self._exits = selectors.DefaultSelector()  # after the fork: no child holds it
        for p in (self.actor, *self.cpus):
            self._exits.register(p.sentinel, selectors.EVENT_READ)
        self._start_stats()

    # ------------------------------------------------------------ live statistics

    def _start_stats(self) -> None:
        """The stats socket, now that every child is forked (no ZeroMQ context may exist
        before).  The side channel never fails a run."""
        from emu.statsock import StatsPublisher

        try:
            self.stats = StatsPublisher(self.spec.rundir, self.probe.header)
        except Exception as exc:  # e.g. an ipc:// path too long for the TMPDIR
            print(f"emu: no stats socket for `emu top`: {exc}", file=sys.stderr, flush=True)

    def _tick(self, state: str = "running", force: bool = False) -> None:
        """Publish a snapshot and show it to the watchers, at most every TICK_S."""
        now = time.monotonic()
        if self.probe is None or (now < self._next_tick and not force):
            return
        self._next_tick = now + TICK_S
        snap = self.probe.snapshot(state, len(self.result.samples))
        if self.stats is not None:
            self.stats.publish(snap)
        for w in self.watchers:
            w.update(snap)

    def _last_tick(self, state: str) -> None:
        """The final snapshot (readers learn how the run ended), then close the channel."""
        try:
            if self.board is not None:
                self._tick(state, force=True)
        finally:
            for w in self.watchers:
                w.close()
            if self.stats is not None:
                self.stats.close()
                self.stats = None

    def _alloc_epoch(self) -> None:
        """epoch_alloc: one ck_epoch record per CPU, in an anonymous shared mapping that
        every CPU process inherits (no name in /dev/shm, nothing to leak)."""
        from emu.epoch import Epoch

        n = self.spec.tasks
        self._epoch_map = mmap.mmap(-1, Epoch.size(n), flags=mmap.MAP_SHARED)
        self.spec.kernel.epoch = Epoch.alloc(self._epoch_map, n)

    # ------------------------------------------------------------ sampling

    def _sample_virtual(self, on_sample: Callable[[Sample], None]) -> None:
        spec, board = self.spec, self.board
        total = spec.boundaries
        prev = [0] * spec.tasks
        k = 1
        while total is None or k <= total:
            self._wait(lambda k=k: all(board.task(t, T_PASSED) > k for t in range(spec.tasks)))
            lead = max(board.task(t, T_PASSED) for t in range(spec.tasks))
            if lead - k >= RING - 1:
                raise RunFailed("the supervisor fell too far behind the emulated machine")
            counts = [board.boundary_count(t, k) for t in range(spec.tasks)]
            self._emit(k, counts, prev, on_sample)
            prev = counts
            k += 1

    def _sample_wall(self, on_sample: Callable[[Sample], None]) -> None:
        spec, board = self.spec, self.board
        total = spec.boundaries
        prev = [0] * spec.tasks
        start = time.perf_counter()
        k = 1
        while total is None or k <= total:
            due = start + k * spec.period_s
            self._wait(lambda due=due: time.perf_counter() >= due, watch_progress=False)
            counts = [board.task(t, T_ITERATIONS) for t in range(spec.tasks)]
            self._emit(k, counts, prev, on_sample)
            prev = counts
            k += 1
        board.set(H_STATE, STATE_DONE)  # the CPUs leave at their next iteration

    def _emit(self, k: int, counts: list[int], prev: list[int],
              on_sample: Callable[[Sample], None]) -> None:
        deltas = [c - p for c, p in zip(counts, prev, strict=True)]
        sample = Sample(k, k <= self.spec.warmup, deltas)
        self.result.samples.append(sample)
        on_sample(sample)

    def _wait(self, ready: Callable[[], bool], watch_progress: bool = True) -> None:
        """Poll `ready` while watching every child; a dead or stuck child fails the run."""
        last_beat, last_change = -1, time.monotonic()
        while not ready():
            self._check_children()
            beat = self.board.get(H_HEARTBEAT)
            now = time.monotonic()
            if beat != last_beat:
                last_beat, last_change = beat, now
            elif watch_progress and now - last_change > HANG_TIMEOUT_S:
                raise RunFailed(f"the emulated machine made no progress for {HANG_TIMEOUT_S:g}"
                                " host seconds (a hung CPU or actor); stopping it")
            self._tick()
            self._watch(0.01)

    def _watch(self, timeout: float) -> None:
        """Wait up to `timeout` for a child to exit: one epoll over every sentinel (a
        machine's hundreds of children are not asked one by one every 10 ms)."""
        for key, _ in self._exits.select(timeout):
            self._exits.unregister(key.fileobj)
            self._exited = True

    def _check_children(self) -> None:
        self._watch(0)
        if not self._exited:  # no child has exited: nothing to ask the kernel
            return
        for task, p in enumerate(self.cpus):
            if p.exitcode not in (None, 0):
                cpu = self.spec.cpus[task]
                why = read_failure(self.spec.rundir, f"cpu{cpu}") or _how(p.exitcode)
                raise RunFailed(f"CPU {cpu} (task {task}, pid {p.pid}) died: {why}")
        a = self.actor
        if a.exitcode not in (None, 0):
            why = read_failure(self.spec.rundir, "actor") or _how(a.exitcode)
            raise RunFailed(f"the kernel actor (pid {a.pid}) died: {why}")
        if a.exitcode == 0 and self.spec.clock == "virtual" and any(
                self.board.task(t, T_PASSED) <= (self.spec.boundaries or 0)
                for t in range(self.spec.tasks)):
            raise RunFailed("the kernel actor left before the run ended")

    def _finish(self) -> None:
        """A normal end: let the actor publish its final statistics and leave."""
        deadline = time.monotonic() + 30
        while self.actor.exitcode is None and time.monotonic() < deadline:
            self._check_children()
            self.actor.join(0.05)

    # ------------------------------------------------------------ results and cleanup

    def _collect(self) -> None:
        board, res = self.board, self.result
        if board is None:
            return
        res.shared_events = board.get(H_EVENTS)
        res.locks = [{"name": name, **board.lock_stats(i)}
                     for i, name in enumerate(self.spec.kernel.locks.names)]
        try:  # per caller detail and hot lines, when the actor left them
            detail = json.loads(Path(self.spec.rundir, DETAIL_FILE).read_text())
            res.locks, res.lines = detail["locks"], detail["lines"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
        res.ipis_sent = sum(board.task(t, T_IPI_SENT) for t in range(self.spec.tasks))
        res.ipis_received = sum(board.task(t, T_IPI_RECEIVED) for t in range(self.spec.tasks))
        res.ipis_acked = sum(board.task(t, T_IPI_ACKED) for t in range(self.spec.tasks))
        res.tlb_shootdowns = sum(board.task(t, T_SHOOTDOWNS) for t in range(self.spec.tasks))

    def _stop_all(self) -> None:
        """Stop every child (SIGTERM, then SIGKILL), remove the run directory and board."""
        if self.board is not None:
            self.board.set(H_STATE, STATE_DONE)
        procs = [p for p in (self.actor, *self.cpus) if p is not None]
        for p in procs:
            if p.exitcode is None:
                _signal(p, signal.SIGTERM)
        deadline = time.monotonic() + (PROFILE_GRACE_S if self.spec.profile else STOP_GRACE_S)
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
        if self._exits is not None:
            self._exits.close()
        for p in procs:
            if p.exitcode is None:
                _signal(p, signal.SIGKILL)
                p.join(1.0)
            p.close()
        if self.spec.profile and self.spec.rundir and self.board is not None:
            from emu.clock.profile import read_profile

            self.result.profile = read_profile(self.spec.rundir, self.spec, self.result.locks)
        if self.spec.rundir:
            shutil.rmtree(self.spec.rundir, ignore_errors=True)
        if self.board is not None:
            self.board.close()
            self.board = None
        epoch = self.spec.kernel.epoch if self.spec.kernel else None
        if epoch is not None:
            epoch.ck.release()
            self.spec.kernel.epoch = None
            self._epoch_map.close()


WARM_UP_S = 1e-4   # emulated seconds of the warm-up run: some 40 iterations of a testcase


def warm_up(spec: RunSpec) -> None:
    """Run the testcase's code once here, before the fork, so the children share it warm.

    Python 3.11 rewrites a function's bytecode in place the first times it runs (PEP 659's
    quickening and specialisation): run first in the children, every CPU process would
    write, and so own a copy of, the pages of all the kernel paths it runs (~0.15 MiB
    each, and the actor's too).  So the supervisor runs the testcase in-process for a
    moment (emu/clock/inproc.py: the same VirtualTd, engine and kernel model, CPUs as
    threads) on a one-CPU copy of the machine, with its own kernel state, and throws it
    away: nothing of it reaches the run.  Only a built-in testcase on the virtual clock:
    a workload file's code is the user's, to run where it is asked to."""
    if (spec.clock != "virtual" or spec.profile or spec.speedup is not None
            or not spec.testcase.module.__name__.startswith("workloads.")):
        return
    from emu.clock.inproc import run_inproc

    one = replace(spec.machine, sockets=1, cores_per_socket=1, threads_per_core=1,
                  cores_per_ccx=0)
    tiny = RunSpec(testcase=spec.testcase, tasks=1, machine=one, seed=spec.seed,
                   period_s=WARM_UP_S, warmup=0, samples=1, strategies=dict(spec.strategies))
    tiny.prepare()
    run_inproc(tiny, timeout_s=60.0)


def open_files_for(tasks: int) -> None:
    """Let this process (and so every child it forks) open the files a machine of `tasks`
    CPUs needs: the supervisor holds a sentinel per child, the actor a connection per CPU.
    The soft limit is raised toward the hard one (1024 soft is common, which 768 CPUs
    exceed); RunFailed, one line, when even the hard limit is too low."""
    need = 2 * tasks + 256   # the sentinels or connections, and what Python, ZeroMQ, the
    #                          stats socket and the live view hold besides
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        raise RunFailed(f"-t {tasks} needs about {need} open files and this host allows "
                        f"{hard} (ulimit -Hn); raise it or run fewer tasks")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


@contextmanager
def _held() -> Iterator[None]:
    """SIGINT and SIGTERM held back (blocked) for a moment: one that comes meanwhile is
    delivered, and raises, as the block ends."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _signal(p: Child, sig: int) -> None:
    try:
        os.kill(p.pid, sig)
    except ProcessLookupError:
        pass


def _how(exitcode: int) -> str:
    if exitcode < 0:
        try:
            return f"killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exited with status {exitcode}"


def run_machine(spec: RunSpec, on_sample: Callable[[Sample], None]) -> RunResult:
    return Supervisor(spec).run(on_sample)
