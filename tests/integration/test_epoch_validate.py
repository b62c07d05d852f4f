"""`emu validate epoch`: the multi-process validator passes, fails with the injected
bug, rejects bad input, and leaves no process or shared-memory segment behind."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time

import psutil
import pytest

from emu.epoch.validate import run_validate


def _shm() -> set[str]:
    return set(os.listdir("/dev/shm"))


def _kids() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


@pytest.fixture(autouse=True)
def leaves_nothing_behind():
    """No new /dev/shm entry and no new child process (long-lived helpers such as
    multiprocessing's resource tracker, started by other tests, may exist already)."""
    shm, kids = _shm(), _kids()
    yield
    assert _shm() == shm
    assert _kids() <= kids


def _run(procs: int, seconds: float, inject: str | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = run_validate(procs=procs, seconds=seconds, inject=inject, out=out, err=err)
    return rc, out.getvalue(), err.getvalue()


def _violations(text: str) -> int:
    m = re.search(r"^violations: (\d+)$", text, re.M)
    assert m, text
    return int(m.group(1))


@pytest.mark.parametrize("procs", [1, 2, 4])
def test_validator_passes(procs: int) -> None:
    rc, out, err = _run(procs, 0.6)
    assert (rc, err) == (0, ""), out + err
    assert _violations(out) == 0
    sections = int(re.search(r"readers: (\d+) sections", out).group(1))
    freed = int(re.search(r"(\d+) freed after a grace period", out).group(1))
    assert sections > 0 and freed > 0  # it did real work, including reclamation


def test_validator_fails_when_grace_periods_are_skipped() -> None:
    rc, out, err = _run(2, 1.0, "skip-grace")
    assert rc == 1
    assert _violations(out) > 0
    assert "freed at once (inject skip-grace)" in out


@pytest.mark.parametrize(
    ("procs", "seconds", "inject", "message"),
    [
        (0, 1.0, None, "--procs must be at least 1"),
        (1, 0.0, None, "--seconds must be a positive number"),
        (1, float("inf"), None, "--seconds must be a positive number"),
        (1, 1.0, "skip-everything", "unknown --inject 'skip-everything'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(procs, seconds, inject, message) -> None:
    rc, out, err = _run(procs, seconds, inject)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("emu: ") and message in err


def _cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "emu.cli", "validate", "epoch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_cli_exit_codes() -> None:
    ok = _cli("--procs", "2", "--seconds", "0.5")
    bad = _cli("--procs", "1", "--seconds", "0.5", "--inject", "skip-grace")
    out, err = ok.communicate(timeout=120)
    assert ok.returncode == 0 and "violations: 0" in out, out + err
    out, err = bad.communicate(timeout=120)
    assert bad.returncode == 1 and _violations(out) > 0, out + err
    usage = _cli("--procs", "0")
    out, err = usage.communicate(timeout=120)
    assert usage.returncode == 2 and err.strip().count("\n") == 0 and "Traceback" not in err


def _wait_for_children(proc: subprocess.Popen, n: int) -> list[psutil.Process]:
    deadline = time.monotonic() + 60
    while True:
        kids = psutil.Process(proc.pid).children()
        if len(kids) >= n:
            return kids
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)


def _gone(pids: list[int]) -> bool:
    return not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in pids)


def test_ctrl_c_stops_every_process() -> None:
    proc = _cli("--procs", "2", "--seconds", "60", start_new_session=True)
    kids = _wait_for_children(proc, 4)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert _gone([k.pid for k in kids])


def test_a_killed_child_ends_the_run_with_a_clear_message() -> None:
    proc = _cli("--procs", "2", "--seconds", "60", start_new_session=True)
    kids = _wait_for_children(proc, 4)
    kids[0].kill()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "died early" in err and "Traceback" not in err
    assert _gone([k.pid for k in kids])
