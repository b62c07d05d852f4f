"""The run-directory root (emu/machine/rundir.py): where run directories go, which are live, which
stale ones are swept, and what is never touched."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

from emu.machine import rundir

DEAD_PID = 2**22 + 12345  # beyond pid_max: no such process


def fake(root: Path, name: str, pid: str | None, mode: int = 0o700, age: float = 0) -> Path:
    d = root / name
    d.mkdir()
    d.chmod(mode)
    if pid is not None:
        (d / rundir.PID_FILE).write_text(pid)
    (d / "actor.sock").write_text("")
    if age:
        then = time.time() - age
        os.utime(d, (then, then))
    return d


def test_the_root_is_emu_rundir_else_the_temp_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(rundir.ENV, str(tmp_path))
    assert rundir.root() == tmp_path
    monkeypatch.delenv(rundir.ENV)
    assert str(rundir.root()) == __import__("tempfile").gettempdir()


def test_make_is_private_under_the_root_and_records_the_supervisor(no_trace):
    d = Path(rundir.make())
    try:
        assert d.parent == no_trace and d.name.startswith(rundir.PREFIX)
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
        assert int((d / rundir.PID_FILE).read_text().split()[0]) == os.getpid()
        assert rundir.supervisor(d) == os.getpid()
        assert rundir.find_live() == [d]
        assert rundir.sweep_stale() == [] and d.exists()  # a live run is never swept
    finally:
        shutil.rmtree(d)


def test_make_sweeps_the_stale_ones_first(no_trace):
    stale = fake(no_trace, "emu-stale", f"{DEAD_PID}\n")
    d = Path(rundir.make())
    try:
        assert not stale.exists() and rundir.candidates() == [d]
    finally:
        shutil.rmtree(d)


def test_sweep_removes_only_our_stale_directories(tmp_path):
    me = f"{os.getpid()}\n"
    live = fake(tmp_path, "emu-live", me)
    dead = fake(tmp_path, "emu-dead", f"{DEAD_PID}\n")
    shared = fake(tmp_path, "emu-shared", f"{DEAD_PID}\n", mode=0o755)  # not a run dir of ours
    other = fake(tmp_path, "other-dead", f"{DEAD_PID}\n")                # not our prefix
    newborn = fake(tmp_path, "emu-newborn", None)                        # pid not written yet
    orphan = fake(tmp_path, "emu-orphan", None, age=2 * rundir.YOUNG_S)  # never written
    (tmp_path / "emu-link").symlink_to(dead)
    assert sorted(p.name for p in rundir.sweep_stale(tmp_path)) == ["emu-dead", "emu-orphan"]
    assert live.exists() and shared.exists() and other.exists() and newborn.exists()
    assert not dead.exists() and not orphan.exists()
    assert rundir.find_live(tmp_path) == [live]


def test_a_recycled_pid_is_not_the_supervisor(tmp_path):
    """The record holds the supervisor's start time: another process with its pid later
    is not taken for it."""
    start = rundir._starttime(os.getpid())
    assert start is not None
    same = fake(tmp_path, "emu-same", f"{os.getpid()} {start}\n")
    reused = fake(tmp_path, "emu-reused", f"{os.getpid()} {start + 1}\n")
    assert rundir.supervisor(same) == os.getpid()
    assert rundir.supervisor(reused) is None and rundir.is_stale(reused)


def test_a_zombie_supervisor_is_gone(tmp_path):
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    d = fake(tmp_path, "emu-zombie", f"{p.pid}\n")
    try:
        while True:  # exited but not reaped: a zombie (the loop ends when it has exited)
            with open(f"/proc/{p.pid}/stat") as f:
                if f.read().rpartition(")")[2].split()[0] == "Z":
                    break
            time.sleep(0.01)
        assert rundir.supervisor(d) is None and rundir.is_stale(d)
    finally:
        p.wait()


def test_a_run_json_pid_counts_for_directories_made_before_the_pid_file(tmp_path):
    d = fake(tmp_path, "emu-old", None)
    (d / rundir.RUN_FILE).write_text(f'{{"pid": {os.getpid()}}}')
    assert rundir.supervisor(d) == os.getpid()
    (d / rundir.RUN_FILE).write_text(f'{{"pid": {DEAD_PID}}}')
    assert rundir.is_stale(d)


def test_each_root_has_its_own_shm_prefix(monkeypatch, tmp_path):
    monkeypatch.setenv(rundir.ENV, str(tmp_path / "a"))
    a = rundir.shm_prefix()
    monkeypatch.setenv(rundir.ENV, str(tmp_path / "b"))
    b = rundir.shm_prefix()
    assert a != b and a.startswith(rundir.PREFIX) and b.startswith(rundir.PREFIX)
