"""Where a run's private directory lives, and how live and stale ones are told apart.

    root()          $EMU_RUNDIR (set by `emu --rundir DIR`), else the system's temp dir
    make()          sweep_stale(), then a new 0700 `emu-XXXXXXXX` under root() holding `pid`
    find_live()     run directories under root() whose supervisor is alive, oldest first
    sweep_stale()   remove the run directories under root() whose supervisor is gone
    shm_prefix()    the name prefix of any /dev/shm segment a run under root() creates

A run directory holds the run's ipc:// sockets (actor.sock, stats.sock), run.json and the
children's files.  Its `pid` file records the supervisor as "PID STARTTIME" (the start time
from /proc/PID/stat, so that a recycled pid is not taken for the supervisor).  A supervisor
killed with SIGKILL cannot remove its directory (its children die with it: PR_SET_PDEATHSIG),
so the next run under the same root removes it, and `emu top` never attaches to it.

Only directories named `emu-*`, owned by this user, private (0700) and not symbolic links are
ever looked at; a directory whose supervisor may still be alive is never removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

ENV = "EMU_RUNDIR"
PREFIX = "emu-"
PID_FILE = "pid"
RUN_FILE = "run.json"  # written by the stats publisher (emu/statsock.py); older runs' pid
YOUNG_S = 60.0  # a directory with no pid recorded yet may be a run being born: spared this long


def root() -> Path:
    """The directory run directories are made in (and looked for in)."""
    return Path(os.environ.get(ENV) or tempfile.gettempdir())


def make() -> str:
    """A new private run directory for this process, the supervisor; stale ones go first."""
    sweep_stale()
    base = root()
    base.mkdir(parents=True, exist_ok=True)
    path = tempfile.mkdtemp(prefix=PREFIX, dir=base)  # mode 0700: private to this user
    tmp = Path(path, PID_FILE + ".tmp")
    tmp.write_text(_stamp(os.getpid()))
    tmp.replace(Path(path, PID_FILE))  # atomic: a reader sees the whole record or none
    return path


def shm_prefix() -> str:
    """Name prefix for any POSIX shared-memory segment a run under root() creates, so that
    a leak can be attributed to the runs under one root (tests give each test its own).
    (Runs today create none: their shared pages are anonymous mappings.)"""
    digest = hashlib.sha1(str(root().resolve()).encode()).hexdigest()[:12]
    return f"{PREFIX}{digest}-"


def candidates(base: Path | None = None) -> list[Path]:
    """`emu-*` directories under the root that are this user's, private, not links."""
    out = []
    uid = os.getuid()
    try:
        entries = sorted((base or root()).glob(PREFIX + "*"))
    except OSError:
        return []
    for d in entries:
        try:
            st = d.lstat()
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == uid and not st.st_mode & 0o077:
            out.append(d)
    return out


def supervisor(d: Path) -> int | None:
    """The pid of the run's supervisor if it is alive, else None (also: none recorded)."""
    pid, start = _recorded(d)
    if pid is None or not _alive(pid):
        return None
    if start is not None and _starttime(pid) not in (None, start):
        return None  # the pid now belongs to another process
    return pid


def is_stale(d: Path) -> bool:
    """True only when the directory's supervisor is surely gone."""
    pid, _ = _recorded(d)
    if pid is None:
        try:
            return time.time() - d.lstat().st_mtime > YOUNG_S
        except OSError:
            return False
    return supervisor(d) is None


def find_live(base: Path | None = None) -> list[Path]:
    """Run directories whose supervisor is alive (not necessarily publishing yet)."""
    return [d for d in candidates(base) if supervisor(d) is not None]


def sweep_stale(base: Path | None = None) -> list[Path]:
    """Remove the run directories whose supervisor is gone; returns those removed."""
    removed = []
    for d in candidates(base):
        if is_stale(d):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


# ---------------------------------------------------------------- pid records


def _stamp(pid: int) -> str:
    start = _starttime(pid)
    return f"{pid} {start}\n" if start is not None else f"{pid}\n"


def _recorded(d: Path) -> tuple[int | None, int | None]:
    try:
        words = Path(d, PID_FILE).read_text().split()
        return int(words[0]), (int(words[1]) if len(words) > 1 else None)
    except (OSError, ValueError, IndexError):
        pass
    try:  # a run directory made before the pid file existed
        pid = json.loads(Path(d, RUN_FILE).read_text()).get("pid")
        return (pid, None) if isinstance(pid, int) else (None, None)
    except (OSError, ValueError, AttributeError):
        return None, None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is gone for our purposes (its parent has not reaped it yet)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return True


def _starttime(pid: int) -> int | None:
    """Clock ticks since boot at which `pid` started (Linux), or None where unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rpartition(")")[2].split()[19])
    except (OSError, ValueError, IndexError):
        return None
