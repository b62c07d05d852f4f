"""`emu validate epoch`: the multi-process validator passes, fails with the injected
bug, rejects bad input, and leaves no process or shared-memory segment behind (the
conftest's `no_trace` checks that).  Runs are bounded by work (min_ops), not host seconds:
a loaded host does less in a second, never less in 20000 sections."""

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

HANG_S = 120  # only a hang takes this long
WORK = 20_000  # sections and retirements each run does, however slow the host


def _run(procs: int, seconds: float, inject: str | None = None,
         min_ops: int = 0) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = run_validate(procs=procs, seconds=seconds, inject=inject, out=out, err=err,
                      min_ops=min_ops)
    return rc, out.getvalue(), err.getvalue()


def _violations(text: str) -> int:
    m = re.search(r"^violations: (\d+)$", text, re.M)
    assert m, text
    return int(m.group(1))


@pytest.mark.parametrize("procs", [1, 2, 4])
def test_validator_passes(procs: int) -> None:
    rc, out, err = _run(procs, 0.1, min_ops=WORK)
    assert (rc, err) == (0, ""), out + err
    assert _violations(out) == 0
    sections = int(re.search(r"readers: (\d+) sections", out).group(1))
    retired = int(re.search(r"writers: (\d+) retired", out).group(1))
    freed = int(re.search(r"(\d+) freed after a grace period", out).group(1))
    assert sections >= WORK and retired >= WORK and freed > 0  # real work, and reclamation


def test_validator_fails_when_grace_periods_are_skipped() -> None:
    rc, out, err = _run(2, 0.1, "skip-grace", min_ops=WORK)
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
        (1, 1.0, None, "--min-ops must not be negative"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(procs, seconds, inject, message) -> None:
    rc, out, err = _run(procs, seconds, inject, -1 if "min-ops" in message else 0)
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
    work = ("--seconds", "0.1", "--min-ops", str(WORK))
    ok = _cli("--procs", "2", *work)
    bad = _cli("--procs", "1", *work, "--inject", "skip-grace")
    out, err = ok.communicate(timeout=HANG_S)
    assert ok.returncode == 0 and "violations: 0" in out, out + err
    out, err = bad.communicate(timeout=HANG_S)
    assert bad.returncode == 1 and _violations(out) > 0, out + err
    usage = _cli("--procs", "0")
    out, err = usage.communicate(timeout=HANG_S)
    assert usage.returncode == 2 and err.strip().count("\n") == 0 and "Traceback" not in err


def _wait_for_children(proc: subprocess.Popen, n: int) -> list[psutil.Process]:
    deadline = time.monotonic() + HANG_S
    while True:
        kids = psutil.Process(proc.pid).children()
        if len(kids) >= n:
            return kids
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)


def _gone(pids: list[int]) -> bool:
    return not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in pids)


def test_ctrl_c_stops_every_process() -> None:
    proc = _cli("--procs", "2", "--seconds", "600", start_new_session=True)
    kids = _wait_for_children(proc, 4)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    out, err = proc.communicate(timeout=HANG_S)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert _gone([k.pid for k in kids])


def test_a_killed_child_ends_the_run_with_a_clear_message() -> None:
    proc = _cli("--procs", "2", "--seconds", "600", start_new_session=True)
    kids = _wait_for_children(proc, 4)
    kids[0].kill()
    out, err = proc.communicate(timeout=HANG_S)
    assert proc.returncode == 1 and "died early" in err and "Traceback" not in err
    assert _gone([k.pid for k in kids])
