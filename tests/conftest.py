"""Shared helpers: run the CLI as a user would, and check a run leaves nothing behind.

Every test gets `no_trace` (autouse): its own run-directory root in $EMU_RUNDIR
(emu/machine/rundir.py), inherited by every `emu` it starts, and after the test a check of
only what the test's own runs created — so other `emu run`s live on the same host neither
disturb nor fail it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from emu.machine import rundir

# A CI runner or a shell's `make test &` may start pytest with SIGINT ignored, and an
# ignored signal stays ignored across exec: every `emu` a test starts would then ignore
# the Ctrl-C the lifecycle tests send it (as a backgrounded `emu run &` rightly does).
# The tests stand for a user at a terminal, so their commands get the default SIGINT.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

EMU = [sys.executable, "-m", "emu.cli"]
FAST = ["--period", "2ms", "--warmup", "1"]  # short emulated samples keep tests quick
GONE_WITHIN_S = 60.0  # processes on their way out get this long: only a hang exceeds it
# Only a hang takes this long (a run that stops progressing fails by itself after
# EMU_HANG_TIMEOUT); a run of the default length takes over 80 s on a 2-core host that two
# `emu run -t 96` share.
HANG_S = 600


def emu(*args: str, timeout: float = HANG_S, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*EMU, *args], capture_output=True, text=True, timeout=timeout,
                          **kwargs)


def _helper(p: psutil.Process) -> bool:
    """multiprocessing's resource tracker: started once by a test using shared_memory, it
    outlives the test by design and holds nothing of a run."""
    try:
        return any("resource_tracker" in part for part in p.cmdline())
    except psutil.Error:
        return True


def _running(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def descendants() -> set[int]:
    """The test process's live descendants (zombies are dead: their parent reaps them)."""
    return {p.pid for p in psutil.Process().children(recursive=True)
            if _running(p) and not _helper(p)}


def under_root(root: Path) -> set[int]:
    """Live processes of this user started with EMU_RUNDIR=root: they and their forked
    children, even those orphaned (reparented away from the test) when a supervisor is
    killed."""
    want = f"{rundir.ENV}={root}".encode()
    uid, me, found = os.getuid(), os.getpid(), set()
    for p in psutil.process_iter(["uids"]):
        try:
            if p.pid == me or p.info["uids"] is None or p.info["uids"].real != uid:
                continue
            with open(f"/proc/{p.pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except (OSError, psutil.Error):
            continue
        if want in env and _running(p) and not _helper(p):
            found.add(p.pid)
    return found


def shm_of(root: Path) -> set[str]:
    """/dev/shm entries of the runs under `root`: emu names any segment it creates with
    rundir.shm_prefix(), which is unique to the root (today runs create none at all)."""
    prefix = rundir.shm_prefix()
    try:
        return {n for n in os.listdir("/dev/shm") if n.startswith(prefix)}
    except FileNotFoundError:
        return set()


def leftovers(root: Path, before: set[int]) -> tuple[set[int], list[str], set[str]]:
    procs = (descendants() - before) | under_root(root)
    return procs, sorted(p.name for p in root.iterdir()), shm_of(root)


@pytest.fixture(autouse=True)
def no_trace(tmp_path_factory, monkeypatch):
    """This test's run-directory root (short: ipc:// paths are limited to ~107 bytes).
    Fails the test if its runs leave a process, a run directory or a /dev/shm entry."""
    root = tmp_path_factory.mktemp("rd")
    monkeypatch.setenv(rundir.ENV, str(root))
    before = descendants()  # e.g. a forkserver another test started: not this test's
    yield root
    deadline = time.monotonic() + GONE_WITHIN_S
    procs, dirs, shm = leftovers(root, before)
    while (procs or shm or dirs) and time.monotonic() < deadline:
        time.sleep(0.1)  # a child killed with its supervisor may still be exiting
        procs, dirs, shm = leftovers(root, before)
    assert not procs, f"processes survived the test: {sorted(procs)}"
    assert not dirs, f"run directories were left behind in {root}: {dirs}"
    assert not shm, f"shared memory left in /dev/shm: {sorted(shm)}"
