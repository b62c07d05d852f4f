"""What every child process of a run does first, and how it reports a failure.

A child dies with its supervisor (PR_SET_PDEATHSIG), leaves Ctrl-C to the supervisor, and
reports a failure as one line in the run's private directory instead of a traceback.
"""

from __future__ import annotations

import ctypes
import os
import signal
from pathlib import Path

PR_SET_PDEATHSIG = 1


def become_child(supervisor_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the actor's liveness check still applies
        pass
    if os.getppid() != supervisor_pid:  # the supervisor died before prctl took effect
        os._exit(1)


class Stopped(BaseException):
    """SIGTERM from the supervisor, for a child that has something to save first."""


def _stopped(signum, frame) -> None:
    raise Stopped


def save_on_sigterm() -> None:
    """Turn the supervisor's SIGTERM (the run was interrupted) into Stopped, so the child
    can leave its results (the --profile files) in the run directory before it exits."""
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
