"""Every way a run can end stops every process and leaves nothing behind (the conftest's
`no_trace` checks the processes, run directories and /dev/shm entries of each test's runs).

No test bounds host time: a loaded 2-core host may be slow, so the timeouts only catch hangs."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import psutil
import pytest

from emu.machine import rundir
from tests.conftest import EMU

HANG_S = 120  # only a hung run takes this long


def start(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([*EMU, "run", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, **(env or {})})


def wait_for_lines(p: subprocess.Popen, n: int) -> list[str]:
    """The next `n` lines of the run's stdout (readline blocks; a run that ends early gives
    EOF, and one that hangs is caught by the run's own hang timeout)."""
    lines = []
    while len(lines) < n:
        line = p.stdout.readline()
        if not line:
            break
        lines.append(line)
    assert len(lines) >= n, f"run printed only {lines}"
    return lines


def family(p: subprocess.Popen) -> list[psutil.Process]:
    """The supervisor's children in fork order: the actor, then task 0, 1, ...

    Linux hands out pids in increasing order modulo pid_max, so the distance from the
    supervisor's pid is fork order even when the pids wrap around (creation times are in
    10 ms ticks and cannot break the tie)."""
    try:
        with open("/proc/sys/kernel/pid_max") as f:
            pid_max = int(f.read())
    except OSError:
        pid_max = 1 << 22
    kids = psutil.Process(p.pid).children()
    return sorted(kids, key=lambda k: (k.pid - p.pid) % pid_max)


def assert_all_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + HANG_S
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if psutil.pid_exists(pid)
                 and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes survived: {alive}")


@pytest.mark.parametrize("how", ["supervisor", "group", "sigterm", "timeout", "twice"])
def test_interrupt_forever_run(how, no_trace):
    p = start("mmap1_processes", "-t", "8", "-s", "0", "--period", "2ms")
    wait_for_lines(p, 4)
    pids = [p.pid] + [k.pid for k in family(p)]
    assert len(pids) == 1 + 1 + 8
    if how == "supervisor":
        p.send_signal(signal.SIGINT)
    elif how == "group":  # Ctrl-C in a terminal signals the whole foreground group
        os.killpg(p.pid, signal.SIGINT)
    elif how == "timeout":  # GNU timeout(1): SIGTERM to the command, then to its group
        p.send_signal(signal.SIGTERM)
        os.killpg(p.pid, signal.SIGTERM)
    elif how == "twice":  # an impatient second Ctrl-C while the run cleans up
        p.send_signal(signal.SIGINT)
        time.sleep(0.05)
        p.send_signal(signal.SIGINT)
    else:
        p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=HANG_S)
    assert p.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert_all_gone(pids)


def test_a_background_run_keeps_ignoring_sigint(no_trace):
    """A SIGINT ignored from the start (a non-interactive shell's `emu run ... &`) stays
    ignored, as for any Unix command: the terminal's Ctrl-C is not meant for it."""
    p = subprocess.Popen([*EMU, "run", "mmap1_processes", "-t", "2", "-s", "0", "--period",
                          "2ms"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    wait_for_lines(p, 4)
    p.send_signal(signal.SIGINT)
    wait_for_lines(p, 2)                     # still running: two more samples
    assert p.poll() is None
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=HANG_S)
    assert p.returncode == 130 and "interrupted" in err and "Traceback" not in err


def test_killed_cpu_is_named(no_trace):
    p = start("mmap1_processes", "-t", "4", "-s", "0", "--period", "2ms")
    wait_for_lines(p, 3)
    kids = family(p)
    pids = [p.pid] + [k.pid for k in kids]
    victim = kids[2]  # task 1, which sits on core 1: CPU 2
    victim.kill()
    out, err = p.communicate(timeout=HANG_S)
    assert p.returncode == 1
    line = err.strip().splitlines()[-1]
    assert "CPU 2" in line and "task 1" in line and "SIGKILL" in line
    assert_all_gone(pids)


def test_killed_actor_is_named(no_trace):
    p = start("mmap1_processes", "-t", "3", "-s", "0", "--period", "2ms")
    wait_for_lines(p, 3)
    kids = family(p)
    pids = [p.pid] + [k.pid for k in kids]
    kids[0].kill()
    out, err = p.communicate(timeout=HANG_S)
    assert p.returncode == 1 and "kernel actor" in err.strip().splitlines()[-1]
    assert_all_gone(pids)


def test_hung_cpu_ends_the_run(no_trace, tmp_path):
    p = start("mmap1_processes", "-t", "3", "-s", "0", "--period", "2ms",
              "--json", str(tmp_path / "partial.json"), env={"EMU_HANG_TIMEOUT": "6"})
    wait_for_lines(p, 4)
    kids = family(p)
    pids = [p.pid] + [k.pid for k in kids]
    kids[1].suspend()  # SIGSTOP: alive but silent, so the actor cannot go on
    out, err = p.communicate(timeout=HANG_S)
    assert p.returncode == 1 and "no progress" in err
    assert_all_gone(pids)
    # What was measured before the hang is kept.
    import json

    doc = json.loads((tmp_path / "partial.json").read_text())
    assert doc["error"] and len(doc["warmup"]) >= 1


def test_a_killed_supervisor_leaves_a_stale_directory_the_next_run_sweeps(no_trace):
    """SIGKILL gives the supervisor no chance to clean up: its children die with it
    (PR_SET_PDEATHSIG), `emu top` does not take the directory left for a run, and the next
    run under the same root removes it."""
    root = no_trace
    p = start("mmap1_processes", "-t", "3", "-s", "0", "--period", "2ms")
    wait_for_lines(p, 3)
    pids = [p.pid] + [k.pid for k in family(p)]
    assert len(pids) == 1 + 1 + 3
    (left,) = rundir.candidates(root)
    assert (left / rundir.PID_FILE).read_text().split()[0] == str(p.pid)
    p.kill()
    p.communicate(timeout=HANG_S)
    assert_all_gone(pids)
    assert rundir.candidates(root) == [left] and rundir.is_stale(left)
    assert {"actor.sock", "stats.sock", "run.json"} <= {f.name for f in left.iterdir()}
    top = subprocess.run([*EMU, "top", "--once"], capture_output=True, text=True,
                         timeout=HANG_S)
    assert top.returncode == 1 and "no emu run in progress" in top.stderr  # not attached
    assert left.exists()  # top only looks
    nxt = subprocess.run([*EMU, "run", "mmap1_processes", "-t", "1", "-s", "1", "--period",
                          "2ms", "--warmup", "1"], capture_output=True, text=True,
                         timeout=HANG_S)
    assert nxt.returncode == 0, nxt.stderr
    assert not list(root.iterdir())  # swept, and the new run removed its own


def test_the_rundir_option_is_the_root(tmp_path):
    """`emu --rundir DIR` puts the run directories (and the live-run search) under DIR."""
    p = subprocess.Popen([*EMU, "--rundir", str(tmp_path), "run", "mmap1_processes", "-t",
                          "1", "-s", "0", "--period", "2ms"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for_lines(p, 3)
        (d,) = rundir.candidates(tmp_path)
        assert rundir.supervisor(d) == p.pid
        top = subprocess.run([*EMU, "--rundir", str(tmp_path), "top", "--once", "--json"],
                             capture_output=True, text=True, timeout=HANG_S)
        assert top.returncode == 0, top.stderr
    finally:
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=HANG_S)
    assert p.returncode == 130 and not list(tmp_path.iterdir())


@pytest.mark.parametrize("clock", ["virtual", "wall"])
def test_cpu_processes_yield_to_the_actor_under_the_virtual_clock(clock, no_trace):
    """Virtual clock: every thread of a CPU process runs CPU_NICE above the actor's niceness
    (the actor keeps the supervisor's); the wall clock leaves the host's scheduling as is."""
    from emu.machine.supervisor import CPU_NICE

    p = start("mmap1_processes", "-t", "2", "-s", "0", "--period", "2ms", "--clock", clock)
    wait_for_lines(p, 4)  # the header, then samples: every child is running
    try:
        base = psutil.Process(p.pid).nice()
        actor, *cpus = family(p)
        assert actor.nice() == base
        want = min(base + CPU_NICE, 19) if clock == "virtual" else base
        for cpu in cpus:
            for t in cpu.threads():  # the ZeroMQ I/O thread too: made after the nice(2)
                assert psutil.Process(t.id).nice() == want
    finally:
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=HANG_S)
