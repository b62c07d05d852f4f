"""Where the runs of a matrix execute: one after another in this process, or each as one
task on a Dask cluster (`emu experiment` and `emu sweep` with --workers N / --scheduler).

    Job          one run: its RunSpec (to run here) and the `emu run` arguments that make
                 the same run anywhere else (run_args)
    Finished     what came back: the run's `emu run --json` document, or why there is none
    Runner       the one interface the experiment and the sweep run their jobs through
    InProcess    each job here, in order, through the Supervisor (emu.sweep.measure)
    DaskRunner   each job a task on a dask.distributed cluster; open_cluster() makes one:
                 a local cluster on 127.0.0.1 (--workers N) or a lab's own (--scheduler)

A task runs `emu run ARGS --json` as a subprocess of its worker (emu_run) and returns the
document's text; the callers write every output from documents alone, whichever runner
made them, so a matrix run on a cluster gives the bytes a serial one gives: under the
virtual clock a run's document is a function of its arguments (save `host`, which times the
host).  A worker that dies mid-run costs nothing measured: the scheduler runs its task again
on another worker (up to distributed's `allowed-failures`, then KilledWorker), a task whose
`emu run` left no document is retried (RETRIES), and a run finished on a worker stays there
until this client has read it (the scheduler recomputes it if that worker dies first).

Dask is optional (`pip install emu[cluster]`): it is imported only once open_cluster() is
asked for a cluster.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO

from emu.machine.rundir import ENV as RUNDIR_ENV
from emu.report.runtest import FAILED
from emu.report.wis import run_document

if TYPE_CHECKING:
    from emu.machine.spec import RunSpec
    from emu.sweep import Measured

CONNECT_S = 5     # bound on reaching a --scheduler (distributed retries a refused connect)
POLL_S = 1.0      # how often a run waiting on the cluster checks it still has workers
RETRIES = 2       # more tries of a task whose `emu run` left no document
CLOSE_S = 20      # bound on shutting the client and a local cluster down
PR_SET_PDEATHSIG = 1


class RunnerError(ValueError):
    """Bad --workers / --scheduler, Dask missing, or the scheduler unreachable: one line,
    exit status 2."""


class RunLost(RuntimeError):
    """On a worker: `emu run` ended without its document (the task fails and is retried)."""


@dataclass(frozen=True)
class Job:
    label: str               # for progress lines: `mmap1_processes epoch -t 8 seed 2`
    spec: RunSpec
    args: tuple[str, ...]    # `emu run` arguments giving the same spec (run_args)


@dataclass
class Finished:
    index: int               # the job's place in the sequence given to run()
    doc: dict | None         # its `emu run --json` document; None: the run was lost
    host_s: float            # host seconds the run took
    interrupted: bool = False  # Ctrl-C ended it (in this process): doc is the partial run
    error: str = ""          # why a lost run has no document

    @property
    def average(self) -> int:
        """The `average:` of the run, FAILED (-1) if it did not finish."""
        if self.doc is None or self.doc.get("error"):
            return FAILED
        return int(self.doc["average"])

    @property
    def what(self) -> str:
        """`average N ops/s` or why not, for a progress line."""
        if self.doc is None:
            return f"not run: {self.error}"
        if self.doc.get("error"):
            return f"failed: {self.doc['error']}"
        return f"average {self.average} ops/s"


class Runner(Protocol):
    """Runs jobs and yields each one's Finished as it comes (not necessarily in order).
    Ctrl-C raises KeyboardInterrupt out of the iteration, or ends it with an `interrupted`
    Finished; either way nothing started is left running."""

    where: str  # "" in this process; else where the runs go, said once on stderr

    def run(self, jobs: Sequence[Job]) -> Iterator[Finished]: ...


def _portable(name: str) -> str:
    """A workload or machine file as an absolute path (a worker's cwd is not ours); a
    testcase's name is its file's stem and a preset's its `name`, so documents agree."""
    path = Path(name)
    if ("/" in name or name.endswith((".py", ".toml"))) and path.exists():
        return str(path.resolve())
    return name


def run_args(testcase: str, tasks: int, samples: int, machine: str, seed: int,
             period: str | None, warmup: int, strategies: dict[str, str | None],
             profile: bool = False, costs: Sequence[str] = ()) -> tuple[str, ...]:
    """The `emu run` arguments that build the spec emu.run.build_spec builds from the same
    values (virtual clock, tasks on cores), for a run on another host."""
    args = [_portable(testcase), "-t", str(tasks), "-s", str(samples), "--machine",
            _portable(machine), "--clock", "virtual", "--seed", str(seed), "--warmup",
            str(warmup)]
    if period is not None:
        args += ["--period", period]
    for kind, name in strategies.items():
        if name:
            args += [f"--{kind}", name]
    for setting in costs:
        args += ["--cost", setting]
    if profile:
        args.append("--profile")
    return tuple(args)


# ---------------------------------------------------------------- in this process


class InProcess:
    """Each job in this process, one after another (`measure` is emu.sweep.measure)."""

    where = ""

    def __init__(self, measure: Callable[[RunSpec], Measured]) -> None:
        self.measure = measure

    def run(self, jobs: Sequence[Job]) -> Iterator[Finished]:
        for index, job in enumerate(jobs):
            m = self.measure(job.spec)
            yield Finished(index, run_document(m.result), m.host_s, m.interrupted)
            if m.interrupted:
                return


# ---------------------------------------------------------------- on a worker


def _die_with_worker(worker: int) -> Callable[[], None]:
    """preexec_fn: the run gets SIGTERM (the Supervisor's clean stop) when the worker
    thread that started it dies, even by SIGKILL, so a killed worker leaves no run."""
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork: the child only calls
    prctl = libc.prctl

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != worker:  # the worker died before prctl took effect
            os._exit(1)

    return preexec


def emu_run(args: Sequence[str], rundir: str | None) -> tuple[str, float]:
    """A Dask task: `emu run ARGS` as a subprocess of this worker; the text of its JSON
    document and the host seconds it took.  RunLost when it left no document (an internal
    error, bad arguments on this host, a signal): the task fails and Dask retries it.

    The document goes to an unlinked temporary file that the run writes through
    /dev/fd/N, so a worker killed mid-run leaves no file behind."""
    env = dict(os.environ)
    if rundir:  # the client's --rundir / $EMU_RUNDIR, so its runs are found where it looks
        env[RUNDIR_ENV] = rundir
    with tempfile.TemporaryFile() as out:
        fd = out.fileno()
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "emu.cli", "run", *args, "--no-live", "--json",
             f"/dev/fd/{fd}"], pass_fds=(fd,), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
            preexec_fn=_die_with_worker(os.getpid()), check=False)
        host_s = time.perf_counter() - t0
        out.seek(0)
        text = out.read().decode()
    # 0: finished; 1: the run failed, and its document says why (a result, as in serial)
    if proc.returncode in (0, 1) and text:
        return text, host_s
    said = [line for line in proc.stderr.splitlines() if line.startswith("emu: ")]
    why = said[-1][len("emu: "):] if said else f"exit status {proc.returncode}"
    raise RunLost(f"emu run {' '.join(args)}: {why}")


# ---------------------------------------------------------------- on a Dask cluster


def _key(job: Job) -> str:
    """The task's key: the run's identity (its arguments), so a task is the same run on
    every try and on every worker."""
    return "emu-run-" + hashlib.sha256("\0".join(job.args).encode()).hexdigest()[:20]


def _workers_text(n: int) -> str:
    return f"{n} worker" + ("" if n == 1 else "s")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class DaskRunner:
    """Each job one task on the cluster behind `client`; see open_cluster()."""

    def __init__(self, client, where: str, err: TextIO) -> None:
        self.client, self.where, self.err = client, where, err
        self.rundir = os.environ.get(RUNDIR_ENV) or None

    def _workers(self) -> int:
        return len(self.client.nthreads())

    def run(self, jobs: Sequence[Job]) -> Iterator[Finished]:
        import distributed

        futures = {self.client.submit(emu_run, job.args, self.rundir, key=_key(job),
                                      retries=RETRIES, pure=False): i
                   for i, job in enumerate(jobs)}
        pending = set(futures)
        idle_told = False
        try:
            while pending:
                try:
                    done, _ = distributed.wait(list(pending), timeout=POLL_S,
                                               return_when="FIRST_COMPLETED")
                except TimeoutError:
                    # Nothing finished: say so once if no worker is left to run anything
                    # (an adaptive cluster starts them on demand), and go on waiting.
                    try:
                        workers = self._workers()
                    except (OSError, RuntimeError) as exc:
                        yield from self._lost(futures, pending,
                                              f"lost the Dask scheduler: {_first_line(exc)}")
                        return
                    if workers == 0 and not idle_told:
                        self.err.write("emu: the Dask cluster has no workers now: waiting "
                                       "for one (Ctrl-C stops; finished runs are kept)\n")
                        self.err.flush()
                    idle_told = workers == 0
                    continue
                for f in sorted(done, key=futures.__getitem__):
                    pending.discard(f)
                    yield self._finished(futures[f], f)
                    f.release()  # its result may leave the worker's memory
        finally:
            if pending:  # Ctrl-C, or the caller stopped: this client wants none of them
                with contextlib.suppress(Exception):
                    self.client.cancel(list(pending))

    def _finished(self, index: int, future) -> Finished:
        from distributed import KilledWorker

        try:
            text, host_s = future.result()
        except KilledWorker as exc:  # it was running on every worker that died
            return Finished(index, None, 0.0, error=f"the Dask workers running it died "
                            f"({_first_line(exc)})")
        except RunLost as exc:
            return Finished(index, None, 0.0, error=_first_line(exc))
        except Exception as exc:  # noqa: BLE001 - anything else the cluster says, one line
            return Finished(index, None, 0.0, error=f"{type(exc).__name__}: "
                            f"{_first_line(exc)}")
        return Finished(index, json.loads(text), host_s)

    def _lost(self, futures: dict, pending: set, why: str) -> Iterator[Finished]:
        for f in sorted(pending, key=futures.__getitem__):
            yield Finished(futures[f], None, 0.0, error=why)
        pending.clear()


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Start the local workers with SIGINT ignored (inherited across exec, and by their
    `emu run`s): a terminal's Ctrl-C, sent to the whole process group, is then this
    process's alone, which cancels the runs and shuts the cluster down in order."""
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _reachable(address: str) -> None:
    """A tcp:// scheduler that refuses or does not answer fails here, at once, not after
    distributed's connect retries (other protocols are left to distributed's timeout)."""
    scheme, _, rest = address.rpartition("://")
    if scheme not in ("", "tcp"):
        return
    host, _, port = rest.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_S):
            pass
    except ValueError:
        raise RunnerError(f"--scheduler {address!r} is not an address (tcp://HOST:PORT)"
                          ) from None
    except OSError as exc:
        raise RunnerError(f"cannot reach the Dask scheduler at {address}: "
                          f"{exc.strerror or exc}") from None


def _distributed():
    try:
        import distributed
    except ImportError:
        raise RunnerError("--workers and --scheduler need Dask: pip install 'emu[cluster]'"
                          ) from None
    return distributed


@contextlib.contextmanager
def open_cluster(workers: int | None, scheduler: str | None,
                 err: TextIO | None = None) -> Iterator[DaskRunner | None]:
    """The Dask runner that --workers N (a local cluster: N single-threaded worker
    processes, listening on 127.0.0.1 only, no dashboard) or --scheduler ADDRESS asks for,
    or None for neither (run in this process).  Everything it started is shut down on
    every way out, Ctrl-C included.  RunnerError (one line) for bad flags, no Dask, or a
    scheduler that does not answer within CONNECT_S."""
    if workers is None and scheduler is None:
        yield None
        return
    if workers is not None and scheduler is not None:
        raise RunnerError("give --workers or --scheduler, not both")
    if workers is not None and workers < 1:
        raise RunnerError(f"--workers must be at least 1, not {workers}")
    if scheduler is not None:
        _reachable(scheduler)
    distributed = _distributed()
    from dask import config as dask_config

    err = err or sys.stderr
    cluster = client = scratch = None
    try:
        if scheduler is not None:
            try:
                client = distributed.Client(scheduler, timeout=CONNECT_S)
            except OSError as exc:  # distributed's timeouts included
                raise RunnerError(f"cannot reach the Dask scheduler at {scheduler}: "
                                  f"{_first_line(exc)}") from None
            except Exception as exc:  # noqa: BLE001 - something else answered: one line
                raise RunnerError(f"no Dask scheduler at {scheduler} ({type(exc).__name__}: "
                                  f"{_first_line(exc)})") from None
            where = f"the Dask cluster at {scheduler} ({_workers_text(len(client.nthreads()))} now)"
        else:
            # Every server's scratch space (the scheduler's, the nannies', the workers'),
            # ours to remove: dask's default, /tmp/dask-scratch-space, is left behind.
            scratch = tempfile.mkdtemp(prefix="emu-dask-")
            with _sigint_ignored(), dask_config.set({"temporary-directory": scratch}):
                # No port beyond 127.0.0.1, and the HTTP server (dask always starts one) on
                # a free port there, not 8787.
                cluster = distributed.LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True,
                    host="127.0.0.1", scheduler_port=0, dashboard_address="127.0.0.1:0",
                    worker_dashboard_address=None, local_directory=scratch,
                    silence_logs=logging.CRITICAL)
            client = distributed.Client(cluster)
            where = f"a local Dask cluster of {_workers_text(workers)} (127.0.0.1)"
        yield DaskRunner(client, where, err)
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.close(timeout=CLOSE_S)
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close(timeout=CLOSE_S)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
