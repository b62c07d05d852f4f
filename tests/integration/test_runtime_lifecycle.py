"""Every way a run can end stops every process and leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import psutil
import pytest

from tests.conftest import EMU, run_dirs, shm_entries


def start(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([*EMU, "run", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, **(env or {})})


def wait_for_lines(p: subprocess.Popen, n: int, timeout: float = 60) -> list[str]:
    lines, deadline = [], time.monotonic() + timeout
    while len(lines) < n and time.monotonic() < deadline:
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
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if psutil.pid_exists(pid)
                 and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes survived: {alive}")


@pytest.fixture
def clean_slate():
    shm, dirs = shm_entries(), run_dirs()
    yield
    assert shm_entries() - shm == set()
    assert run_dirs() - dirs == set()


@pytest.mark.parametrize("how", ["supervisor", "group", "sigterm", "timeout", "twice"])
def test_interrupt_forever_run(how, clean_slate):
    p = start("mmap1_processes", "-t", "8", "-s", "0", "--period", "2ms")
    wait_for_lines(p, 4)
    pids = [p.pid] + [k.pid for k in family(p)]
    assert len(pids) == 1 + 1 + 8
    t0 = time.monotonic()
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
    out, err = p.communicate(timeout=10)
    assert time.monotonic() - t0 < 5
    assert p.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert_all_gone(pids)


def test_a_background_run_keeps_ignoring_sigint(clean_slate):
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
    out, err = p.communicate(timeout=10)
    assert p.returncode == 130 and "interrupted" in err and "Traceback" not in err


def test_killed_cpu_is_named(clean_slate):
    p = start("mmap1_processes", "-t", "4", "-s", "0", "--period", "2ms")
    wait_for_lines(p, 3)
    kids = family(p)
    pids = [p.pid] + [k.pid for k in kids]
    victim = kids[2]  # task 1, which sits on core 1: CPU 2
    t0 = time.monotonic()
    victim.kill()
    out, err = p.communicate(timeout=15)
    assert time.monotonic() - t0 < 10
    assert p.returncode == 1
    line = err.strip().splitlines()[-1]
    assert "CPU 2" in line and "task 1" in line and "SIGKILL" in line
    assert_all_gone(pids)


def test_killed_actor_is_named(clean_slate):
    p = start("mmap1_processes", "-t", "3", "-s", "0", "--period", "2ms")
    wait_for_lines(p, 3)
    kids = family(p)
    pids = [p.pid] + [k.pid for k in kids]
    kids[0].kill()
    out, err = p.communicate(timeout=15)
    assert p.returncode == 1 and "kernel actor" in err.strip().splitlines()[-1]
    assert_all_gone(pids)


def test_hung_cpu_ends_the_run(clean_slate, tmp_path):
    p = start("mmap1_processes", "-t", "3", "-s", "0", "--period", "2ms",
              "--json", str(tmp_path / "partial.json"), env={"EMU_HANG_TIMEOUT": "3"})
    wait_for_lines(p, 4)
    kids = family(p)
    pids = [p.pid] + [k.pid for k in kids]
    kids[1].suspend()  # SIGSTOP: alive but silent, so the actor cannot go on
    out, err = p.communicate(timeout=30)
    assert p.returncode == 1 and "no progress" in err
    assert_all_gone(pids)
    # What was measured before the hang is kept.
    import json

    doc = json.loads((tmp_path / "partial.json").read_text())
    assert doc["error"] and len(doc["warmup"]) >= 1
