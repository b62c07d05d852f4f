"""The child processes of a run: how the supervisor forks one, what each does first, and how
it reports a failure.

A child dies with its supervisor (PR_SET_PDEATHSIG), leaves Ctrl-C to the supervisor, and
reports a failure as one line in the run's private directory instead of a traceback.
"""

from __future__ import annotations

import _signal
import ctypes
import os
import signal
import sys
from collections.abc import Callable, Iterable
from multiprocessing.connection import wait
from pathlib import Path

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15


_prctl: Callable[..., int] | None = None


def _resolve_prctl() -> None:
    """libc's prctl, found once in the supervisor: looked up in each child, ctypes' work
    would copy ~0.2 MiB of the interpreter's pages into every CPU process."""
    global _prctl
    if _prctl is None:
        try:
            _prctl = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):  # not Linux: the actor's liveness check applies
            _prctl = _no_prctl


def _no_prctl(*args: int) -> int:
    return -1


def become_child(supervisor_pid: int) -> None:
    # _signal.signal is signal.signal without its enum conversions, whose first run in
    # each child copies ~0.1 MiB of the interpreter's pages.
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
    _signal.signal(_signal.SIGTERM, _signal.SIG_DFL)
    # The supervisor forks with both blocked (no Ctrl-C between a fork and its
    # bookkeeping); the mask is inherited, and the supervisor's SIGTERM must get in.
    _signal.pthread_sigmask(_signal.SIG_UNBLOCK, (_signal.SIGINT, _signal.SIGTERM))
    _resolve_prctl()  # a no-op in a child of fork_child
    _prctl(PR_SET_PDEATHSIG, _signal.SIGKILL, 0, 0, 0)
    if os.getppid() != supervisor_pid:  # the supervisor died before prctl took effect
        os._exit(1)


class Stopped(BaseException):
    """SIGTERM from the supervisor, for a child that has something to save first."""


def _stopped(signum, frame) -> None:
    # Once: what the child saves on its way out must not be cut short by a second one.
    _signal.pthread_sigmask(_signal.SIG_BLOCK, (_signal.SIGTERM,))
    raise Stopped


def save_on_sigterm() -> None:
    """Turn the supervisor's SIGTERM (the run was interrupted) into Stopped, so the child
    can leave its results (the --profile files) in the run directory before it exits.
    Stopped comes once, wherever the child is; SIGTERM is blocked from then on."""
    signal.signal(signal.SIGTERM, _stopped)


def report_failure(rundir: str, name: str, message: str) -> None:
    """Leave one line for the supervisor, which prints it."""
    try:
        Path(rundir, f"{name}.err").write_text(message.splitlines()[0] if message else "failed")
    except OSError:
        pass


def read_failure(rundir: str, name: str) -> str | None:
    try:
        return Path(rundir, f"{name}.err").read_text().strip() or None
    except OSError:
        return None


class Child:
    """A forked child of the supervisor: its pid, a sentinel that becomes readable when it
    exits (the read end of a pipe whose write end only the child holds), and its exit code
    (None while it runs; -N if signal N killed it), which reaps it."""

    def __init__(self, pid: int, sentinel: int, name: str) -> None:
        self.pid = pid
        self.sentinel = sentinel
        self.name = name
        self._exitcode: int | None = None

    @property
    def exitcode(self) -> int | None:
        if self._exitcode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere (SIGCHLD ignored): status unknown
                self._exitcode = 255
            else:
                if pid:
                    self._exitcode = os.waitstatus_to_exitcode(status)
        return self._exitcode

    def join(self, timeout: float | None = None) -> None:
        """Wait up to `timeout` seconds (None: for ever) for the child to exit."""
        if self.exitcode is None and self.sentinel >= 0 and wait([self.sentinel], timeout):
            # Its end of the pipe is closed: it is exiting, and a blocking wait reaps it at
            # once (it may not be a zombie yet, which WNOHANG would miss).
            try:
                _, status = os.waitpid(self.pid, 0)
                self._exitcode = os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                self._exitcode = 255

    def close(self) -> None:
        """Close the sentinel (once the child is reaped: the supervisor's cleanup)."""
        if self.sentinel >= 0:
            os.close(self.sentinel)
            self.sentinel = -1


def fork_child(target: Callable[..., None], args: tuple, name: str,
               inherited: Iterable[int] = (), nice: int = 0) -> Child:
    """Fork a child that runs target(*args), which ends the process itself (os._exit).

    Not multiprocessing.Process: its child bootstrap tears down the parent's set of
    children and finalizer registry, writing to every earlier sibling's objects (pages a
    forked child would otherwise share), and its start() polls every earlier child, O(N^2)
    for a machine.  The child closes `inherited` (the sentinels of its earlier siblings) and
    reads /dev/null as stdin, as multiprocessing's children do, and takes `name` as its
    process name (emu-actor, emu-cpu7).  `nice`: added to its niceness (nice(2)) before it
    starts a thread, so its threads have it too."""
    for stream in (sys.stdout, sys.stderr):  # nothing buffered is written twice
        stream.flush()
    _resolve_prctl()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the supervisor's code
        try:
            os.close(r)
            for fd in inherited:
                os.close(fd)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.close(null)
            _prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)  # what ps and top show
            if nice:
                os.nice(nice)  # raising one's own niceness is always allowed
            target(*args)
        finally:
            os._exit(1)
    os.close(w)
    return Child(pid, r, name)
